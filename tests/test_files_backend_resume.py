"""The files backend: a master killed midway resumes, and the workers started by hand serve it on."""
import signal

import pytest

from tests.files_helpers import FILES, assert_same_run, checkpoint_iteration, finish, start, wait_for
from tests.helpers import REFERENCE_RUN_SETS, mdp_se_flags

pytestmark = pytest.mark.slow  # learn_env masters and worker processes


def test_a_killed_master_resumes_and_hand_started_workers_keep_serving(reference_run, tmp_path, run_module):
    reference, _ = reference_run
    out, sync = tmp_path / "run", tmp_path / "sync"
    sync.mkdir()
    workers = [start("experiments.worker", "--sync-dir", sync, "--idle-exit", 120) for _ in range(2)]
    try:
        master = start("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), *FILES, "--workers", 0,
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
