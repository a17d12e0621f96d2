"""The paper's NES (Ferreira et al., ICLR 2022; ``GTN_Master.score_transform`` and ``update_env`` in
agents/GTN_master.py of automl/learning_environments, commit 9b0e92a):

    eps_i ~ N(0, noise_std^2 I)
    w = score_transform(scores, scores_orig)
    psi <- psi * (1 - weight_decay) + alpha * sum_i w_i s_i eps_i

with s_i = -1 where psi - eps_i scored better (their worker hands back the flipped eps), and
alpha = step_size, or step_size / P with ``nes_step_size``. Its search state is psi alone.
"""
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from common.rng import derive_seed
from nes.score_transforms import score_transform
from nes.strategies.base import MemberScores, SearchState, Strategy

if TYPE_CHECKING:
    from nes.config import Config


def paper_nes_update(psi: torch.Tensor, eps: torch.Tensor, scores: MemberScores, transform_type: int,
                     step_size: float, weight_decay: float) -> torch.Tensor:
    """The next psi (D,) after members ``eps`` (P, D) scored ``scores``; ``step_size`` is alpha."""
    weights = score_transform(scores.scores, scores.scores_orig, transform_type)
    if not scores.any_finite:
        # Every member blew up: the floored scores are all 0 and rank nothing, so no direction
        # is followed (weight decay still applies).
        weights = np.zeros_like(weights)
    directions = torch.where(torch.from_numpy(scores.flipped)[:, None], -eps, eps)
    return psi * (1 - weight_decay) + step_size * weighted_sum(torch.from_numpy(weights).float(), directions)


def weighted_sum(weights: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """sum_i weights_i rows_i, added member by member. A matrix-vector product orders its sums by the
    CPU's vector width (AVX2 and AVX-512 machines disagree in the last bit), which would make psi, and
    a resumed run, depend on the machine; elementwise products and sums round the same everywhere."""
    total = torch.zeros_like(rows[0])
    for weight, row in zip(weights, rows):
        total = total + weight * row
    return total


class PaperNES(Strategy):
    name = "paper_nes"

    @classmethod
    def mirrored(cls, config) -> bool:
        return config.nes.mirrored_sampling

    def __init__(self, config: "Config"):
        nes = config.nes
        self.seed, self.population, self.noise_std = config.seed, nes.population, nes.noise_std
        self.transform_type, self.weight_decay = nes.score_transform_type, nes.weight_decay
        self.step_size = nes.step_size / nes.population if nes.nes_step_size else nes.step_size

    def ask(self, state: SearchState, iteration: int) -> torch.Tensor:
        return torch.stack([self.noise(state.psi.shape, iteration, member) for member in range(self.population)])

    def noise(self, shape: torch.Size, iteration: int, member: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, iteration, member))
        return torch.randn(shape, generator=generator) * self.noise_std

    def tell(self, state: SearchState, eps: torch.Tensor,
             scores: MemberScores) -> tuple[SearchState, dict[str, float]]:
        psi = paper_nes_update(state.psi, eps, scores, self.transform_type, self.step_size, self.weight_decay)
        return replace(state, psi=psi), {}
