"""A files-backend master in this process against a real worker process: planted files, abandoned
claims, idle exit, and the bad inputs of both ends."""
import dataclasses
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future

import pytest

from common.errors import UserError
from common.schema import to_dict
from experiments.cli import PLAIN_NAME_RULE
from nes.config import load_config
from nes.evaluators.files import FilesEvaluator
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from nes import file_worker
from nes.file_worker import FileWorker
from nes.sync_dir import RunPaths, try_claim, visible_names, write_config, write_results, write_tasks
from tests.helpers import REPO_ROOT, TINY_OVERRIDES, entry_point_env

FILES_SETS = [*TINY_OVERRIDES, "nes.population=3", "evaluator.backend=files", "evaluator.workers=0",
              "evaluator.lease_seconds=0.5"]


def comparable(results):
    return [(r.run_id, r.iteration, r.member, r.score, r.score_orig, r.flipped, r.synthetic_steps) for r in results]


@pytest.fixture(scope="module")
def sync_dir(tmp_path_factory):
    """A sync dir served by one hand-started worker for the whole module."""
    sync = tmp_path_factory.mktemp("sync")
    worker = subprocess.Popen([sys.executable, "-m", "experiments.worker", "--sync-dir", str(sync),
                               "--idle-exit", "60"], cwd=REPO_ROOT, env=entry_point_env(), stderr=subprocess.DEVNULL)
    yield sync
    subprocess.run([sys.executable, "-m", "experiments.worker", "--sync-dir", str(sync), "--stop"], cwd=REPO_ROOT,
                   env=entry_point_env(), capture_output=True, timeout=60)
    try:
        worker.wait(timeout=30)
    finally:
        worker.kill()


def files_evaluator(sync_dir):
    config = load_config(None, [*FILES_SETS, f"evaluator.sync_dir={sync_dir}"])
    return config, FilesEvaluator(config)


@pytest.mark.slow  # a worker process
def test_truncated_and_foreign_result_files_are_ignored(sync_dir, tmp_path, caplog):
    config, evaluator = files_evaluator(sync_dir)
    tasks = NESMaster(config, None, tmp_path, "planted").tasks()
    paths = RunPaths(sync_dir, "planted")
    paths.make()
    honest = BatchedEvaluator(config).evaluate(tasks, math.inf)
    lie = dataclasses.replace(honest[0], score=1e9)
    write_results(paths, [lie], "liar")
    truncated = paths.results / "0-0-liar"
    truncated.write_bytes(truncated.read_bytes()[:-5])
    write_results(paths, [dataclasses.replace(lie, member=1)], "tamperer")
    tampered = paths.results / "0-1-tamperer"
    tampered.write_bytes(tampered.read_bytes().replace(b"1000000000.0", b"2000000000.0"))
    elsewhere = RunPaths(tmp_path, "another-run")
    elsewhere.make()
    write_results(elsewhere, [dataclasses.replace(lie, run_id="another-run", member=2)], "stranger")
    (elsewhere.results / "0-2-stranger").rename(paths.results / "0-2-stranger")        # another run's file
    (paths.results / "notes.txt").write_text("not ours")
    try:
        with caplog.at_level(logging.WARNING):
            results = evaluator.evaluate(tasks, math.inf)
    finally:
        evaluator.close()
    assert comparable(results) == comparable(honest)
    assert "0-0-liar: truncated" in caplog.text
    assert "0-1-tamperer: checksum mismatch" in caplog.text
    assert "0-2-stranger: foreign file: run_id is 'another-run', expected 'planted'" in caplog.text
    assert "notes.txt in the sync dir: not a results file of this iteration" in caplog.text


@pytest.mark.slow  # a worker process
def test_an_abandoned_claim_is_issued_again_when_its_lease_expires(sync_dir, tmp_path, caplog):
    config, evaluator = files_evaluator(sync_dir)
    tasks = NESMaster(config, None, tmp_path, "abandoned").tasks()
    paths = RunPaths(sync_dir, "abandoned")
    paths.make()
    assert try_claim(paths.claims / "0-2", "a-worker-that-died") is not None   # never renewed
    try:
        with caplog.at_level(logging.WARNING):
            results = evaluator.evaluate(tasks, math.inf)
    finally:
        evaluator.close()
    assert comparable(results) == comparable(BatchedEvaluator(config).evaluate(tasks, math.inf))
    assert "member 2 of iteration 0: the claim of worker a-worker-that-died lost its lease; issued again" in caplog.text
    assert not paths.root.exists(), "a finished run removes its files from the sync dir"


@pytest.mark.slow  # a worker process
def test_a_sync_dir_holding_the_run_id_with_another_config_is_refused_untouched(sync_dir, tmp_path):
    config, evaluator = files_evaluator(sync_dir)
    tasks = NESMaster(config, None, tmp_path, "taken").tasks()
    other = load_config(None, [*FILES_SETS, f"evaluator.sync_dir={sync_dir}", "nes.noise_std=0.5"])
    FilesEvaluator(other).publish_config(RunPaths(sync_dir, "taken"), "taken")
    before = (sync_dir / "runs" / "taken" / "config").read_bytes()
    with pytest.raises(UserError, match=f"sync dir {sync_dir} already holds a run 'taken' with another config"):
        evaluator.evaluate(tasks, math.inf)
    evaluator.close()
    assert (sync_dir / "runs" / "taken" / "config").read_bytes() == before


@pytest.mark.slow  # a worker subprocess
def test_a_worker_exits_after_its_idle_time(tmp_path, run_module):
    completed = run_module("experiments.worker", "--sync-dir", tmp_path, "--idle-exit", 0.2, "--name", "w")
    assert completed.returncode == 0, completed.stderr
    assert "worker w exits: idle for 0.2 s; answered 0 tasks" in completed.stderr
    assert not (tmp_path / "workers" / "w").exists()


@pytest.mark.slow  # a worker subprocess per case
@pytest.mark.parametrize("args, message", [
    (["--sync-dir", "{missing}"], "sync dir {missing} does not exist (start the master first, or create it)"),
    (["--sync-dir", "{file}"], "sync dir {file} is not a directory"),
    (["--sync-dir", "{dir}", "--threads", "0"], "--idle-exit and --batch must be >= 0, --threads >= 1"),
    (["--sync-dir", "{dir}", "--name", "a/b"], f"--name 'a/b' is not a usable file name ({PLAIN_NAME_RULE})"),
    ([], "the following arguments are required: --sync-dir"),
])
def test_worker_bad_input_is_one_line_and_exit_2(tmp_path, run_module, args, message):
    places = {"missing": tmp_path / "missing", "file": tmp_path / "file", "dir": tmp_path}
    places["file"].write_text("")
    completed = run_module("experiments.worker", *[arg.format(**places) for arg in args])
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [f"error: {message.format(**places)}"]


@pytest.mark.slow  # a learn_env subprocess per case
@pytest.mark.parametrize("args, message", [
    (["--evaluator", "files", "--sync-dir", "/sys/synthenv-sync"],
     "sync dir /sys/synthenv-sync is not writable: Operation not permitted"),
    (["--evaluator", "files", "--sync-dir", "{file}"], "sync dir {file} is not a directory"),
    (["--evaluator", "files", "--workers", "-1"], "config key 'evaluator.workers' is -1; it must be >= 0"),
    (["--evaluator", "processes", "--workers", "0"], "evaluator.workers must be >= 1 for the processes backend"),
    (["--evaluator", "files", "--set", "evaluator.lease_seconds=0"],
     "config key 'evaluator.lease_seconds' is 0.0; it must be > 0.0"),
])
def test_learn_env_bad_files_backend_input_is_one_line_and_exit_2(tmp_path, run_module, args, message):
    places = {"file": tmp_path / "file"}
    places["file"].write_text("kept")
    completed = run_module("experiments.learn_env", *[arg.format(**places) for arg in args], "--out", tmp_path / "run")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [f"error: {message.format(**places)}"]
    assert places["file"].read_text() == "kept"


def test_files_evaluator_needs_a_sync_dir():
    with pytest.raises(UserError, match="the files backend needs evaluator.sync_dir"):
        FilesEvaluator(load_config(None, FILES_SETS))


@pytest.mark.slow  # a benchmark_files subprocess
def test_benchmark_files_smoke_reports_identical_scores_and_the_overhead(run_module):
    benchmarks = REPO_ROOT / "BENCHMARKS.md"
    before = benchmarks.read_bytes()
    completed = run_module("experiments.benchmark_files", "--population", 2, "--iterations", 2, "--train-episodes", 1)
    assert completed.returncode == 0, completed.stderr
    assert "| identical scores from both backends | yes |" in completed.stdout
    assert "| **files: seconds per iteration beyond the members' compute, mean (max)** |" in completed.stdout
    assert benchmarks.read_bytes() == before, "without --record the benchmark must not write BENCHMARKS.md"


def in_background(call, *args) -> Future:
    """``call(*args)`` in a daemon thread: a test that fails while it runs does not wait for it."""
    future = Future()

    def run():
        try:
            future.set_result(call(*args))
        except BaseException as error:  # noqa: BLE001 - handed to the test through the future
            future.set_exception(error)
    threading.Thread(target=run, daemon=True).start()
    return future


def test_a_sigterm_just_after_a_claim_is_made_still_gives_it_back(tmp_path, monkeypatch):
    """The claim file exists before the worker records it as held; a SIGTERM in between must not
    leave it behind (its task would wait out the whole lease)."""
    config = load_config(None, [*FILES_SETS, f"evaluator.sync_dir={tmp_path}", "evaluator.lease_seconds=600"])
    tasks = NESMaster(config, None, tmp_path, "claiming").tasks()
    paths = RunPaths(tmp_path, "claiming")
    paths.make()
    write_config(paths, "claiming", to_dict(config))
    write_tasks(paths, tasks, math.inf)

    def claim_then_sigterm(path, owner):
        fd = try_claim(path, owner)
        os.kill(os.getpid(), signal.SIGTERM)
        return fd
    monkeypatch.setattr(file_worker, "try_claim", claim_then_sigterm)
    with pytest.raises(SystemExit):
        FileWorker(tmp_path, "w", idle_exit=30).run()
    assert visible_names(paths.claims) == []


@pytest.mark.slow  # worker processes
def test_a_worker_stopped_by_sigterm_gives_its_claims_back_at_once(tmp_path, caplog):
    """What ``scancel`` does: the claims come free without waiting for a (here 10-minute) lease."""
    config = load_config(None, [*FILES_SETS, f"evaluator.sync_dir={tmp_path}", "evaluator.lease_seconds=600"])
    evaluator = FilesEvaluator(config)
    tasks = NESMaster(config, None, tmp_path, "terminated").tasks()
    claims = RunPaths(tmp_path, "terminated").claims

    def worker(name):
        return subprocess.Popen([sys.executable, "-m", "experiments.worker", "--sync-dir", str(tmp_path),
                                 "--name", name, "--idle-exit", "60"], cwd=REPO_ROOT, env=entry_point_env(),
                                stderr=subprocess.DEVNULL)

    first, second = worker("first"), None
    try:
        pending = in_background(evaluator.evaluate, tasks, math.inf)
        deadline = time.monotonic() + 120
        while not (claims.is_dir() and any(c.read_text() == "first" for c in claims.iterdir())):
            assert time.monotonic() < deadline, "the first worker claimed nothing"
            time.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 128 + signal.SIGTERM
        assert not any(c.read_text() == "first" for c in claims.iterdir() if not c.name.startswith("."))
        second = worker("second")
        results = pending.result(timeout=300)
    finally:
        evaluator.close()
        for process in (first, second):
            if process is not None:
                process.kill()
    assert comparable(results) == comparable(BatchedEvaluator(config).evaluate(tasks, math.inf))
