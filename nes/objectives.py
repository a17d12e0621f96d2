"""How an agent's training in a learned env becomes its NES score (``nes.objective``).

- ``test_reward``: the mean real-env test return after training (the paper's SE objective);
- ``steps_to_threshold``: -(training steps until a test reached the threshold) minus
  ``unsolved_weight`` x the shortfall of the final test return below the threshold; with the
  protocol's stop-when-solved rule, a member's training steps are exactly its steps to threshold;
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
