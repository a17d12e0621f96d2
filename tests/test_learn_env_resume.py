"""A learn_env run killed midway and resumed ends exactly where an uninterrupted run ends."""
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import (REFERENCE_RUN_SETS, REPO_ROOT, entry_point_env, last_stdout_line, mdp_se_flags,
                           metrics_without_wall_clock)

pytestmark = pytest.mark.slow  # learn_env subprocesses, one of them killed


def checkpoint_iteration(path) -> int:
    try:
        return torch.load(path, weights_only=False)["iteration"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0


def start_and_kill_after_first_checkpoint(out) -> int:
    """Start the reference run in ``out``, SIGKILL it once latest.pt holds iteration >= 1."""
    process = subprocess.Popen([sys.executable, "-m", "experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS),
                                "--out", str(out)], cwd=REPO_ROOT, env=entry_point_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while checkpoint_iteration(out / "latest.pt") < 1:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    return checkpoint_iteration(out / "latest.pt")


def test_resume_after_kill_matches_the_uninterrupted_run(reference_run, tmp_path, run_module):
    reference, _ = reference_run
    out = tmp_path / "killed"
    killed_at = start_and_kill_after_first_checkpoint(out)
    assert 1 <= killed_at < 4
    completed = run_module("experiments.learn_env", "--resume", out)
    assert completed.returncode == 0, completed.stderr
    assert last_stdout_line(completed) == str(out)
    assert metrics_without_wall_clock(out / "metrics.csv") == metrics_without_wall_clock(reference / "metrics.csv")
    resumed = torch.load(out / "latest.pt", weights_only=False)
    assert resumed["iteration"] == 4
    assert torch.equal(resumed["psi"], torch.load(reference / "latest.pt", weights_only=False)["psi"])


def test_resume_refuses_to_change_what_the_run_is(reference_run, tmp_path, run_module):
    run = tmp_path / "run"
    shutil.copytree(reference_run[0], run)
    before = (run / "latest.pt").read_bytes()
    completed = run_module("experiments.learn_env", "--resume", run, "--set", "nes.population=3")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "error: cannot change 'nes.population' when resuming; only evaluator.*, nes.max_iterations "
        "and nes.quit_when_solved may change"]
    assert (run / "latest.pt").read_bytes() == before


def test_resume_may_extend_max_iterations(reference_run, tmp_path, run_module):
    run = tmp_path / "run"
    shutil.copytree(reference_run[0], run)
    completed = run_module("experiments.learn_env", "--resume", run, "--set", "nes.max_iterations=5")
    assert completed.returncode == 0, completed.stderr
    rows = metrics_without_wall_clock(run / "metrics.csv")
    assert rows[:4] == metrics_without_wall_clock(reference_run[0] / "metrics.csv")
    assert [row["iteration"] for row in rows] == ["0", "1", "2", "3", "4"]
