"""What a search strategy is to the NES master: it draws the members' perturbations (ask) and turns
their scores into the next search state (tell).

The split follows evosax (Lange 2022, "evosax: JAX-based Evolution Strategies"): a strategy object
holds only settings fixed for the run; all that changes between iterations lives in a
``SearchState`` that ``tell`` replaces, never modifies. So the master checkpoints the state whole,
a resumed run continues from exactly the state it saved, and a strategy plugs in without the
master knowing which one runs.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import torch

from common.errors import UserError
from common.rng import derive_seed
from nes.score_transforms import worst_to_floor
from nes.tasks import MemberResult


@dataclass(frozen=True)
class SearchState:
    """psi, the parameters the members perturb; a strategy's subclass adds its own fields (e.g. a
    per-parameter sigma). Fields are tensors or Python scalars, so ``to_dict`` is a plain dict that
    ``torch.load(weights_only=True)`` reads back."""

    psi: torch.Tensor

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "SearchState":
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class MemberScores:
    """What a population's results tell a strategy, one entry per member in member order."""

    scores: np.ndarray        # (P,) the better direction's score; NaN and -inf floored to the worst finite one
    scores_orig: np.ndarray   # (P,) scores of the agents trained on psi itself, floored the same way
    flipped: np.ndarray       # (P,) bool: psi - eps_i scored better than psi + eps_i (mirrored sampling)
    any_finite: bool          # False: every member's SE blew up, so the scores say nothing to follow
    # Each side's own score, floored together (a sample that blew up ranks below every other sample):
    scores_plus: np.ndarray | None = None    # (P,) psi + eps_i
    scores_minus: np.ndarray | None = None   # (P,) psi - eps_i; None unless the strategy samples mirrored

    @classmethod
    def from_results(cls, results: list[MemberResult]) -> "MemberScores":
        """``results`` sorted by member."""
        raw = np.array([r.score for r in results])
        # Results without per-side scores (written before they existed) carry the better side only.
        plus = np.array([r.score if r.score_plus is None else r.score_plus for r in results], dtype=float)
        mirrored = all(r.score_minus is not None for r in results)
        minus = np.array([r.score_minus for r in results], dtype=float) if mirrored else None
        sides = worst_to_floor(np.concatenate([plus, minus]) if mirrored else plus)
        return cls(scores=worst_to_floor(raw), scores_orig=worst_to_floor(np.array([r.score_orig for r in results])),
                   flipped=np.array([r.flipped for r in results], dtype=bool), any_finite=bool(np.isfinite(raw).any()),
                   scores_plus=sides[:len(plus)], scores_minus=sides[len(plus):] if mirrored else None)


def standard_normal(seed: int, iteration: int, member: int, size: int) -> torch.Tensor:
    """(size,) float32 N(0, 1) draws of one member: a function of (run seed, iteration, member) alone."""
    generator = torch.Generator().manual_seed(derive_seed(seed, iteration, member))
    return torch.randn(size, generator=generator)


class Strategy(ABC):
    """A search strategy, built once per run from the run's config.

    Every random draw derives from (run seed, iteration, member), so ``ask`` is a function of its
    arguments: a resumed run asks for exactly the perturbations the killed one would have.
    """

    name: ClassVar[str]
    State: ClassVar[type[SearchState]] = SearchState
    # The dataclass of its ``nes.<name>`` config section (None: no section of its own).
    Config: ClassVar[type | None] = None
    title: ClassVar[str] = ""
    # Mirrored strategies score psi + eps_i and psi - eps_i per member, and ``nes.population``
    # counts samples (two per member), as in the sources (pgpelib's symmetric ``popsize``).
    always_mirrored: ClassVar[bool] = False
    min_population: ClassVar[int] = 1
    health_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def mirrored(cls, config) -> bool:
        """Whether each member is scored on psi - eps_i too."""
        return cls.always_mirrored

    @classmethod
    def members(cls, population: int) -> int:
        """Member tasks per iteration for ``nes.population``."""
        return population // 2 if cls.always_mirrored else population

    @classmethod
    def check_population(cls, population: int) -> None:
        """A one-line UserError for a population this strategy cannot rank."""
        if population < cls.min_population:
            raise UserError(f"nes.population {population} is too small for nes.strategy {cls.name}: "
                            f"its rank weights need at least {cls.min_population}")
        if cls.always_mirrored and population % 2:
            raise UserError(f"nes.population {population} is odd; nes.strategy {cls.name} samples mirrored "
                            f"pairs, so the population (its samples) must be even")

    def initial_state(self, psi: torch.Tensor) -> SearchState:
        """The state a fresh run starts from, around the starting parameters ``psi`` (D,)."""
        return self.State(psi=psi)

    @abstractmethod
    def ask(self, state: SearchState, iteration: int) -> torch.Tensor:
        """(members, D) float32: member i is scored on psi + eps_i (and psi - eps_i when mirrored);
        members is ``nes.population``, or half of it for strategies that count mirrored samples."""

    @abstractmethod
    def tell(self, state: SearchState, eps: torch.Tensor,
             scores: MemberScores) -> tuple[SearchState, dict[str, float]]:
        """The next state after members ``eps`` (P, D) scored ``scores``, and the strategy's own
        health figures (name -> Python float, one metrics column each; the same names every
        iteration). ``state`` and its tensors are left as they were."""
