"""BOHB workers that die or fail: the master neither hangs nor loses the other results.

Both tests run real processes: a tune master, worker processes, a live nameserver on 127.0.0.1.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO_ROOT, entry_point_env, run_entry_point, set_flags

pytestmark = [pytest.mark.slow,  # BOHB with a live nameserver and worker processes
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SE_SPACE = REPO_ROOT / "default_config" / "bohb" / "cartpole_synthetic_env.yaml"
# Jobs of 2-3 tiny NES iterations: long enough to be killed mid-job.
SETS = ("nes.population=2", "nes.time_mult=1000", "agents.ddqn.train_episodes=6", "agents.ddqn.test_episodes=2")
BUDGETS = ("--min-budget", 2, "--max-budget", 4, "--eta", 2, "--ping-interval", 1)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "experiments.tune", *map(str, args)], cwd=REPO_ROOT,
                            env=entry_point_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_results(run_dir):
    return [json.loads(line) for line in (run_dir / "results.json").read_text().splitlines()]


def busy_worker(run_dir, deadline: float) -> tuple[int, str]:
    """(pid, job) of the first worker process seen running a job."""
    while time.monotonic() < deadline:
        for path in (run_dir / "workers").glob("*.json") if (run_dir / "workers").is_dir() else []:
            try:
                status = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if status["job"] is not None:
                return status["pid"], status["job"]
        time.sleep(0.05)
    raise AssertionError("no worker started a job")


def test_worker_killed_mid_job(tmp_path):
    out = tmp_path / "run"
    master = start("--space", SE_SPACE, "--iterations", 1, "--workers", 2, *BUDGETS, *set_flags(SETS), "--out", out)
    try:
        pid, job = busy_worker(out, time.monotonic() + 120)
        assert pid != master.pid
        os.kill(pid, signal.SIGKILL)
        # The dispatcher pings its workers every second: the killed one is found dead, its job is
        # recorded as failed, and a replacement worker process takes the remaining jobs.
        stdout, stderr = master.communicate(timeout=240)
    finally:
        if master.poll() is None:
            master.kill()
    assert master.returncode == 0, stderr
    results = read_results(out)
    failed = [r for r in results if r[3] is None]
    # One bracket: 2 configs at budget 2 (NES iterations), the better one at 4.
    assert len(results) == 3
    assert len(failed) == 1 and failed[0][4] == "Worker died unexpectedly."
    assert "_".join(map(str, failed[0][0])) + f"_b{failed[0][1]:g}" == job
    assert all(isinstance(r[3]["loss"], float) for r in results if r[3] is not None)
    assert "starting a replacement" in stderr


def test_failing_evaluations_are_recorded_with_their_error_and_external_workers(tmp_path):
    """A worker whose every evaluation raises (here: an external worker told to use TD3 on
    CartPole) reports each run as failed with the error kept; the master finishes."""
    out = tmp_path / "run"
    master = start("--space", SE_SPACE, "--iterations", 1, "--workers", 0, "--external-workers", 1, *BUDGETS,
                   *set_flags(SETS), "--out", out)
    try:
        worker = run_entry_point("experiments.tune", "--worker", "--out", out, "--set", "agent=td3", timeout=240)
        stdout, stderr = master.communicate(timeout=120)
    finally:
        if master.poll() is None:
            master.kill()
    assert worker.returncode == 0, worker.stderr
    assert master.returncode == 0, stderr
    results = read_results(out)
    assert len(results) == 3 and all(r[3] is None for r in results)
    assert all("UserError" in r[4] and "td3" in r[4] for r in results)
    assert "no incumbent" in stderr and stdout.strip().splitlines()[-1] == str(out)
