"""The dask backend: a local cluster on 127.0.0.1 only, the batched scores even when a worker dies,
and learn_env on it gives the batched run's metrics."""
import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from nes.config import load_config
from nes.evaluators import make_evaluator
from nes.evaluators.dask_backend import DaskEvaluator
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from tests.helpers import (REFERENCE_RUN_SETS, TINY_OVERRIDES, last_stdout_line, mdp_se_flags,
                           metrics_without_wall_clock, run_entry_point)

pytestmark = pytest.mark.slow  # a live Dask cluster and learn_env subprocesses

# Long enough trainings (seconds per chunk) that a kill lands while members are running.
CONFIG = load_config(None, [*TINY_OVERRIDES, "nes.population=3", "evaluator.backend=dask", "evaluator.workers=2",
                            "agents.ddqn.train_episodes=12"])


def scores(results):
    return [(r.member, r.score, r.score_orig, r.flipped, r.synthetic_steps, r.real_env_steps)
            for r in sorted(results, key=lambda r: r.member)]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    return NESMaster(CONFIG, None, tmp_path_factory.mktemp("tasks"), "run").tasks()


@pytest.fixture(scope="module")
def expected(tasks):
    return scores(BatchedEvaluator(CONFIG).evaluate(tasks, math.inf))


@pytest.fixture(scope="module")
def evaluator():
    evaluator = make_evaluator(CONFIG)
    yield evaluator
    evaluator.close()


def test_local_cluster_listens_on_127_0_0_1_only(evaluator):
    assert type(evaluator) is DaskEvaluator
    assert evaluator.client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert all(address.startswith("tcp://127.0.0.1:") for address in evaluator.client.scheduler_info()["workers"])
    me = psutil.Process()
    processes = [me, *me.children(recursive=True)]
    listening = [c.laddr for p in processes for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 3  # the scheduler, and a nanny and a worker per worker process
    assert {address.ip for address in listening} == {"127.0.0.1"}


def busy_worker_pid(evaluator: DaskEvaluator, timeout: float = 120) -> int:
    """The pid of a worker that the scheduler says is computing a chunk right now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [address for address, keys in evaluator.client.processing().items() if keys]
        if busy:
            return evaluator.client.run(os.getpid, workers=busy[:1])[busy[0]]
        time.sleep(0.05)
    raise TimeoutError("no worker got a chunk")


def test_a_killed_dask_worker_has_its_chunk_redone_with_the_same_scores(evaluator, tasks, expected):
    with ThreadPoolExecutor(1) as runner:
        pending = runner.submit(evaluator.evaluate, tasks, math.inf)
        pid = busy_worker_pid(evaluator)
        os.kill(pid, signal.SIGKILL)
        assert not pending.done()
        results = pending.result(timeout=600)
    assert pid not in evaluator.client.run(os.getpid).values()
    assert scores(results) == expected


def test_learn_env_on_dask_equals_the_batched_reference_run(reference_run, tmp_path):
    reference_dir, _ = reference_run
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), "--evaluator", "dask",
                                "--workers", "2", "--out", tmp_path / "run")
    assert completed.returncode == 0, completed.stderr
    assert last_stdout_line(completed) == str(tmp_path / "run")
    assert (metrics_without_wall_clock(tmp_path / "run" / "metrics.csv")
            == metrics_without_wall_clock(reference_dir / "metrics.csv"))


def test_an_unusable_scheduler_address_is_one_line_and_exit_2(tmp_path):
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(TINY_OVERRIDES), "--evaluator", "dask",
                                "--scheduler", "bogus://nowhere", "--out", tmp_path / "run")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach the Dask scheduler at bogus://nowhere")
    assert "Traceback" not in completed.stderr
