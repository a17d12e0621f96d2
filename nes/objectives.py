"""How an agent's training in a learned env becomes its NES score (``nes.objective``).

- ``test_reward``: the mean real-env test return after training (the paper's SE objective,
  calc_score in agents/GTN_worker.py @ 3216697, which always runs a fresh test after training;
  here a member tested after its last episode keeps that test unless
  ``protocol.score_with_fresh_test``);
- ``steps_to_threshold``: -(training steps until a test reached the threshold) minus
  ``unsolved_weight`` x the shortfall of the final test return below the threshold (the paper's RN
  score @ d63949e; it became the AUC in 2d6b36a and the test return in 3b5ab3d); with the
  protocol's stop-when-solved rule, a member's training steps are exactly its steps to threshold
  (with ``solved_window`` k > 1 and ``score_with_fresh_test``: the paper's form, steps until the
  mean of k tests passes, shortfall of a fresh test);
- ``auc``: the area under the real training-return curve, the sum of the member's real episode
  returns while it trained (reward networks only: on an SE the training returns are not real).
A member that failed (NaN or inf) scores -inf whatever the objective.
"""
import math

import torch

OBJECTIVES = ("test_reward", "steps_to_threshold", "auc")


def objective_scores(objective: str, result, train_env, threshold: float, unsolved_weight: float) -> torch.Tensor:
    """(P,) float64 scores of one population training (``result`` from ``train_population``)."""
    test_return = result.test_return.double()
    if objective == "test_reward":
        scores = test_return
    elif objective == "steps_to_threshold":
        shortfall = (threshold - test_return).clamp(min=0.0)
        scores = -result.train_steps.double() - unsolved_weight * shortfall
    elif objective == "auc":
        scores = torch.tensor([float(sum(returns)) for returns in train_env.real_returns], dtype=torch.float64)
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return torch.where(result.failed, torch.full_like(scores, -math.inf), scores)
