"""One NES step moves psi by alpha * sum_i w_i * (+-eps_i), with w from the score transform."""
import dataclasses
import math

import numpy as np
import torch

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from nes.member_evaluation import evaluate_members
from nes.score_transforms import score_transform, worst_to_floor
from tests.helpers import TINY_OVERRIDES


def expected_psi(psi, tasks, results, config) -> torch.Tensor:
    """The paper's update (nes/strategies/paper_nes.py), written out member by member in float64."""
    nes = config.nes
    scores = worst_to_floor(np.array([r.score for r in results]))
    scores_orig = worst_to_floor(np.array([r.score_orig for r in results]))
    weights = score_transform(scores, scores_orig, nes.score_transform_type)
    alpha = nes.step_size / nes.population if nes.nes_step_size else nes.step_size
    new = psi.double() * (1 - nes.weight_decay)
    for weight, task, result in zip(weights, tasks, results):
        sign = -1.0 if result.flipped else 1.0
        new += alpha * weight * sign * task.eps.double()
    return new


def test_one_step_applies_the_nes_update(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, "nes.population=3", "nes.weight_decay=0.1",
                                "nes.nes_step_size=true", "nes.score_transform_type=0"])
    master = NESMaster(config, BatchedEvaluator(config), tmp_path, "run")
    psi, tasks = master.state.psi.clone(), master.tasks()
    results = evaluate_members(tasks, config, math.inf)
    master.step()
    torch.testing.assert_close(master.state.psi.double(), expected_psi(psi, tasks, results, config),
                               rtol=0, atol=1e-6)
    row = master.state.metrics[0]
    assert row["mean_score_orig"] == float(np.mean([r.score_orig for r in results]))
    assert row["max_score"] == max(r.score for r in results)


def test_worst_to_floor_replaces_nan_and_minus_inf_by_the_worst_finite_value():
    out = worst_to_floor(np.array([3.0, float("nan"), float("-inf"), 1.0]))
    assert out.tolist() == [3.0, 1.0, 1.0, 1.0]
    assert worst_to_floor(np.array([float("nan"), float("-inf")])).tolist() == [0.0, 0.0]


class EvaluatorWithOneBrokenMember(BatchedEvaluator):
    """The real batched evaluator, but member 1's perturbation is NaN, so its SEs blow up."""

    def evaluate(self, tasks, time_budget):
        tasks = list(tasks)
        tasks[1] = dataclasses.replace(tasks[1], eps=torch.full_like(tasks[1].eps, float("nan")))
        return super().evaluate(tasks, time_budget)


def test_a_member_whose_se_is_nan_scores_worst_and_the_step_completes(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, "nes.population=3"])
    evaluator = EvaluatorWithOneBrokenMember(config)
    master = NESMaster(config, evaluator, tmp_path, "run")
    psi, tasks = master.state.psi.clone(), master.tasks()
    results = evaluator.evaluate(tasks, math.inf)
    assert [r.failed for r in results] == [False, True, False] and results[1].score == -math.inf
    row = master.step()
    assert row["failed_members"] == 1
    assert row["mean_score"] == float(np.mean(worst_to_floor(np.array([r.score for r in results]))))
    assert torch.isfinite(master.state.psi).all()
    torch.testing.assert_close(master.state.psi.double(), expected_psi(psi, tasks, results, config),
                               rtol=0, atol=1e-6)
    assert torch.load(tmp_path / "latest.pt", weights_only=False)["iteration"] == 1
