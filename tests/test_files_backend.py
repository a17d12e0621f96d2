"""The files backend end to end: real learn_env masters and real worker processes over a sync dir."""
import os
import signal

import pytest

from tests.files_helpers import (FILES, assert_same_run, checkpoint_iteration, claimed_but_unanswered, finish, start,
                                 wait_for)
from tests.helpers import REFERENCE_RUN_SETS, TINY_OVERRIDES, mdp_se_flags

pytestmark = pytest.mark.slow  # learn_env masters and worker processes


def test_two_local_workers_give_the_batched_run_and_survive_a_killed_worker(reference_run, tmp_path):
    """The single-PC debug mode equals the batched backend, even when a worker is killed mid-iteration."""
    reference, _ = reference_run
    out, sync = tmp_path / "run", tmp_path / "sync"
    master = start("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), *FILES, "--workers", 2,
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


def test_two_masters_share_one_sync_dir(reference_run, tmp_path):
    reference, _ = reference_run
    sync = tmp_path / "sync"
    sync.mkdir()
    other_sets = [*TINY_OVERRIDES, "seed=4"]    # a smaller run with its own batched twin
    workers, masters = [], []
    try:
        masters = [start("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), *FILES, "--workers", 0,
                         "--sync-dir", sync, "--out", tmp_path / "a"),
                   start("experiments.learn_env", *mdp_se_flags(other_sets), *FILES, "--workers", 0,
                         "--sync-dir", sync, "--out", tmp_path / "b"),
                   start("experiments.learn_env", *mdp_se_flags(other_sets), "--out", tmp_path / "b_batched")]
        # Started once both runs have tasks out, so that a short idle time cannot end them early.
        wait_for(lambda: len(list(sync.glob("runs/*/tasks/0"))) >= 2, "tasks of both masters")
        workers = [start("experiments.worker", "--sync-dir", sync, "--idle-exit", 4) for _ in range(2)]
        for master in masters:
            finish(master)
        logs = [finish(worker, timeout=60)[1] for worker in workers]
    finally:
        for process in workers + masters:
            process.kill()
    assert_same_run(tmp_path / "a", reference)
    assert_same_run(tmp_path / "b", tmp_path / "b_batched", iterations=2)
    assert all("exits: idle for 4 s" in log for log in logs)
