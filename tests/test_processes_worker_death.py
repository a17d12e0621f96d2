"""A worker process killed mid-iteration has its members redone, with the same scores."""
import logging
import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.evaluators.processes import ProcessEvaluator
from nes.master import NESMaster
from tests.helpers import TINY_OVERRIDES

pytestmark = pytest.mark.slow  # worker processes, one of them killed

# Long enough trainings (a few seconds per chunk) that the kill lands while members are running.
CONFIG = load_config(None, [*TINY_OVERRIDES, "nes.population=3", "evaluator.workers=2",
                            "agents.ddqn.train_episodes=25"])


def scores(results):
    return [(r.member, r.score, r.score_orig, r.flipped) for r in sorted(results, key=lambda r: r.member)]


def kill_a_worker_when_busy(evaluator: ProcessEvaluator, after_seconds: float) -> None:
    deadline = time.monotonic() + 60
    while not evaluator.pool._processes and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(after_seconds)
    pid = next(iter(evaluator.pool._processes))
    os.kill(pid, signal.SIGKILL)


def test_killed_worker_is_replaced_and_its_members_redone(tmp_path, caplog):
    tasks = NESMaster(CONFIG, None, tmp_path, "run").tasks()
    expected = BatchedEvaluator(CONFIG).evaluate(tasks, math.inf)
    evaluator = ProcessEvaluator(CONFIG)
    try:
        with caplog.at_level(logging.WARNING), ThreadPoolExecutor(1) as runner:
            pending = runner.submit(evaluator.evaluate, tasks, math.inf)
            kill_a_worker_when_busy(evaluator, after_seconds=4.0)
            results = pending.result(timeout=600)
    finally:
        evaluator.close()
    assert "a worker process died" in caplog.text
    assert scores(results) == scores(expected)
