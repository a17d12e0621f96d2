"""All evaluator backends give the same member scores, and the same fixed-env results, for the same tasks."""
import dataclasses
import math

import pytest
import torch

from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import BACKENDS, load_config
from nes.evaluators import EVALUATORS, make_evaluator
from nes.evaluators.local import BatchedEvaluator, SerialEvaluator
from nes.evaluators.processes import ProcessEvaluator
from nes.master import NESMaster
from nes.member_evaluation import evaluate_members
from nes.tasks import FixedEnvTask
from nes.work import run_tasks
from tests.helpers import TINY_OVERRIDES

CONFIG = load_config(None, [*TINY_OVERRIDES, "nes.population=3", "evaluator.workers=2"])


def comparable(results) -> list[tuple]:
    """What must not depend on the backend (seconds and the real-step split may)."""
    return [(r.run_id, r.iteration, r.member, r.score, r.score_orig, r.flipped, r.failed, r.timed_out,
             r.synthetic_steps) for r in sorted(results, key=lambda r: r.member)]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    return NESMaster(CONFIG, None, tmp_path_factory.mktemp("tasks"), "run").tasks()


@pytest.fixture(scope="module")
def batched_results(tasks):
    return BatchedEvaluator(CONFIG).evaluate(tasks, math.inf)


def test_batched_results_are_one_per_task_and_scored(tasks, batched_results):
    assert [r.member for r in batched_results] == [0, 1, 2]
    assert all(math.isfinite(r.score) and math.isfinite(r.score_orig) for r in batched_results)
    assert all(r.synthetic_steps > 0 and r.real_env_steps > 0 for r in batched_results)


def test_serial_backend_gives_the_batched_scores(tasks, batched_results):
    assert comparable(SerialEvaluator(CONFIG).evaluate(tasks, math.inf)) == comparable(batched_results)


@pytest.mark.slow  # worker processes
def test_processes_backend_gives_the_batched_scores(tasks, batched_results):
    evaluator = ProcessEvaluator(CONFIG)
    try:
        results = evaluator.evaluate(tasks, math.inf)
    finally:
        evaluator.close()
    assert comparable(results) == comparable(batched_results)


def test_real_env_steps_are_each_members_own_whatever_the_backend(tasks, batched_results):
    # A member's real_env_steps are the real-env test steps of its own agents, so they, and their
    # sum in metrics.csv, must not depend on which backend ran it.
    serial = SerialEvaluator(CONFIG).evaluate(tasks, math.inf)
    assert [r.real_env_steps for r in batched_results] == [r.real_env_steps for r in serial]


def test_backends_agree_without_mirrored_sampling_and_with_repeated_minmax_evaluations(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, "nes.mirrored_sampling=false", "nes.num_grad_evals=2",
                                "nes.grad_eval_type=minmax"])
    tasks = NESMaster(config, None, tmp_path, "run").tasks()
    batched = BatchedEvaluator(config).evaluate(tasks, math.inf)
    assert comparable(SerialEvaluator(config).evaluate(tasks, math.inf)) == comparable(batched)
    assert not any(r.flipped for r in batched)


def test_a_member_scores_the_same_in_a_smaller_population(tasks, batched_results):
    alone = evaluate_members([tasks[2]], CONFIG, math.inf)
    assert comparable(alone) == comparable(batched_results[2:])


def test_a_nan_member_fails_with_minus_inf_and_leaves_the_others_unchanged(tasks, batched_results):
    broken = [dataclasses.replace(t) for t in tasks]
    broken[0].eps = torch.full_like(tasks[0].eps, float("nan"))
    results = evaluate_members(broken, CONFIG, math.inf)
    assert results[0].failed and results[0].score == -math.inf
    assert math.isfinite(results[0].score_orig)
    assert comparable(results[1:]) == comparable(batched_results[1:])


def test_make_evaluator_picks_the_configured_backend():
    assert set(BACKENDS) == {"batched", "serial", "processes", "files", "dask"}
    assert list(EVALUATORS) == list(BACKENDS)
    serial = dataclasses.replace(CONFIG, evaluator=dataclasses.replace(CONFIG.evaluator, backend="serial"))
    assert type(make_evaluator(serial)) is SerialEvaluator
    assert type(make_evaluator(CONFIG)) is BatchedEvaluator


# ---- fixed-env tasks (evaluations): every backend trains the same agents to the same results --------------
def fixed_env_tasks(run_id: str) -> dict[str, list[FixedEnvTask]]:
    """Three agents in two different SEs (one population), and two on the real env (another)."""
    spec = real_env_spec(CONFIG.env)
    se = CONFIG.synthetic_env
    psis = SyntheticEnvNets.initialise([11, 12], spec, se.hidden_size, se.hidden_layer, se.activation).to_flat()
    in_ses = [FixedEnvTask(run_id=f"{run_id}.se", iteration=0, member=m, seed=100 + m, psi=psis[m % 2])
              for m in range(3)]
    on_real = [FixedEnvTask(run_id=f"{run_id}.real", iteration=0, member=m, seed=200 + m, psi=None) for m in range(2)]
    return {"se": in_ses, "real": on_real}


def fixed_env_rows(results) -> list[tuple]:
    """Everything but the wall seconds, in task order."""
    return [(r.run_id.rsplit(".", 1)[1], r.iteration, r.member, r.test_return, r.train_steps, r.train_episodes,
             r.timed_out, r.failed) for r in sorted(results, key=lambda r: r.member)]


@pytest.fixture(scope="module")
def fixed_env_expected():
    evaluator = BatchedEvaluator(CONFIG)
    return {kind: fixed_env_rows(evaluator.evaluate(tasks, math.inf))
            for kind, tasks in fixed_env_tasks("batched").items()}


def test_batched_fixed_env_results_follow_the_evaluation_protocol(fixed_env_expected):
    se, real = fixed_env_expected["se"], fixed_env_expected["real"]
    # In an SE an agent plays its full episodes of up to max_steps (3 episodes, no test stops it).
    assert [row[5] for row in se] == [3, 3, 3] and all(row[4] > 0 for row in se)
    assert se[0][3:6] != se[1][3:6], "two SEs train different agents"
    assert all(1 <= row[5] <= 3 and not row[6] and not row[7] for row in se + real)


@pytest.mark.parametrize("backend", ["serial", *(pytest.param(backend, marks=pytest.mark.slow)  # worker processes
                                                for backend in ("processes", "files", "dask"))])
def test_every_backend_gives_the_batched_fixed_env_results(backend, fixed_env_expected, tmp_path):
    evaluator_config = dataclasses.replace(CONFIG.evaluator, backend=backend, workers=2, sync_dir=str(tmp_path))
    evaluator = make_evaluator(dataclasses.replace(CONFIG, evaluator=evaluator_config))
    try:
        got = {kind: fixed_env_rows(evaluator.evaluate(tasks, math.inf))
               for kind, tasks in fixed_env_tasks(backend).items()}
    finally:
        evaluator.close()
    assert got == fixed_env_expected


def test_run_tasks_takes_one_kind_of_task(tasks):
    with pytest.raises(ValueError, match="one kind"):
        run_tasks([tasks[0], fixed_env_tasks("run")["real"][0]], CONFIG, math.inf)
