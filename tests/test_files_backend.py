"""The files backend end to end: real learn_env masters and real worker processes over a sync dir."""
import os
import signal
import subprocess
import sys
import time

import torch

from tests.helpers import (REFERENCE_RUN_SETS, REPO_ROOT, entry_point_env, metrics_without_wall_clock,
                           set_flags)

FILES = ("--evaluator", "files")


def start(module: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT, env=entry_point_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out, err


def assert_same_run(run, reference) -> None:
    assert metrics_without_wall_clock(run / "metrics.csv") == metrics_without_wall_clock(reference / "metrics.csv")
    mine, theirs = (torch.load(d / "latest.pt", weights_only=False) for d in (run, reference))
    assert mine["iteration"] == theirs["iteration"] == 4
    assert torch.equal(mine["psi"], theirs["psi"])
    assert (run / "best.pt").exists() == (reference / "best.pt").exists()
    if (reference / "best.pt").exists():
        best = [torch.load(d / "best.pt", weights_only=False) for d in (run, reference)]
        assert best[0].keys() == best[1].keys()


def checkpoint_iteration(path) -> int:
    try:
        return torch.load(path, weights_only=False)["iteration"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0


def wait_for(condition, what: str, timeout: float = 120, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert process is None or process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def claimed_but_unanswered(sync_dir):
    """(worker name, claim path) of a claim whose member has no result yet, or None."""
    for claims in sync_dir.glob("runs/*/claims"):
        for claim in claims.iterdir():
            if not claim.name.startswith(".") and not (claims.parent / "results" / claim.name).exists():
                owner = claim.read_text()
                if owner and (sync_dir / "workers" / owner).exists():
                    return owner, claim
    return None


def test_two_local_workers_give_the_batched_run_and_survive_a_killed_worker(reference_run, tmp_path):
    """The single-PC debug mode equals the batched backend, even when a worker is killed mid-iteration."""
    reference, _ = reference_run
    out, sync = tmp_path / "run", tmp_path / "sync"
    master = start("experiments.learn_env", *set_flags(REFERENCE_RUN_SETS), *FILES, "--workers", 2,
                   "--sync-dir", sync, "--set", "evaluator.lease_seconds=1", "--out", out)
    try:
        wait_for(lambda: checkpoint_iteration(out / "latest.pt") >= 1, "first iteration", process=master)
        owner, claim = wait_for(lambda: claimed_but_unanswered(sync), "claimed task", process=master)
        os.kill(int((sync / "workers" / owner).read_text()), signal.SIGKILL)
        _, err = finish(master)
    finally:
        master.kill()
    assert f"the claim of worker {owner} ended with it; issued again" in err
    assert "lost its lease" not in err, "a computing worker's heartbeat must keep its lease"
    assert_same_run(out, reference)
    assert not list((sync / "runs").iterdir()), "a finished run leaves nothing in the sync dir"
    assert not list((sync / "workers").iterdir()), "the master's local workers were told to stop"


def test_a_killed_master_resumes_and_hand_started_workers_keep_serving(reference_run, tmp_path, run_module):
    reference, _ = reference_run
    out, sync = tmp_path / "run", tmp_path / "sync"
    sync.mkdir()
    workers = [start("experiments.worker", "--sync-dir", sync, "--idle-exit", 120) for _ in range(2)]
    try:
        master = start("experiments.learn_env", *set_flags(REFERENCE_RUN_SETS), *FILES, "--workers", 0,
                       "--sync-dir", sync, "--out", out)
        try:
            wait_for(lambda: checkpoint_iteration(out / "latest.pt") >= 1, "first iteration", process=master)
            master.send_signal(signal.SIGKILL)
        finally:
            master.kill()
            master.wait()
        killed_at = checkpoint_iteration(out / "latest.pt")
        assert 1 <= killed_at < 4
        completed = run_module("experiments.learn_env", "--resume", out, timeout=240)
        assert completed.returncode == 0, completed.stderr
        assert_same_run(out, reference)
        assert all(worker.poll() is None for worker in workers), "the workers serve the resumed master"
        stop = run_module("experiments.worker", "--sync-dir", sync, "--stop")
        assert stop.returncode == 0, stop.stderr
        logs = [finish(worker, timeout=60)[1] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert all("exits: told to stop (all workers)" in log for log in logs)
    answered = sum(int(log.rsplit("answered ", 1)[1].split()[0]) for log in logs)
    assert answered >= 2 * (4 - killed_at), "the hand-started workers answered the resumed iterations"


def test_two_masters_share_one_sync_dir(reference_run, tmp_path):
    reference, _ = reference_run
    sync = tmp_path / "sync"
    sync.mkdir()
    other_sets = [*REFERENCE_RUN_SETS, "seed=4"]
    workers, masters = [], []
    try:
        masters = [start("experiments.learn_env", *set_flags(REFERENCE_RUN_SETS), *FILES, "--workers", 0,
                         "--sync-dir", sync, "--out", tmp_path / "a"),
                   start("experiments.learn_env", *set_flags(other_sets), *FILES, "--workers", 0,
                         "--sync-dir", sync, "--out", tmp_path / "b"),
                   start("experiments.learn_env", *set_flags(other_sets), "--out", tmp_path / "b_batched")]
        # Started once both runs have tasks out, so that a short idle time cannot end them early.
        wait_for(lambda: len(list(sync.glob("runs/*/tasks/0-*"))) >= 4, "tasks of both masters")
        workers = [start("experiments.worker", "--sync-dir", sync, "--idle-exit", 4) for _ in range(2)]
        for master in masters:
            finish(master)
        logs = [finish(worker, timeout=60)[1] for worker in workers]
    finally:
        for process in workers + masters:
            process.kill()
    assert_same_run(tmp_path / "a", reference)
    assert_same_run(tmp_path / "b", tmp_path / "b_batched")
    assert all("exits: idle for 4 s" in log for log in logs)
