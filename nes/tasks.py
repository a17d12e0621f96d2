"""What the NES master hands to an evaluator, and what it gets back."""
from dataclasses import dataclass

import torch


@dataclass
class MemberTask:
    """Score one population member: train agents with psi, psi + eps and (mirrored) psi - eps."""

    run_id: str
    iteration: int
    member: int
    seed: int                 # fixed by (run seed, iteration, member): any backend gives the same result
    psi: torch.Tensor         # (D,) the current SE or RN parameters
    eps: torch.Tensor         # (D,) this member's perturbation


@dataclass
class MemberResult:
    run_id: str
    iteration: int
    member: int
    score: float              # the better direction's score (-inf if its SE turned NaN)
    score_orig: float         # score of the agent trained on psi itself
    test_return_orig: float   # that agent's mean real-env test return (decides "solved")
    flipped: bool             # psi - eps won, so the master uses -eps
    seconds: float            # wall seconds spent on this member
    timed_out: bool
    failed: bool
    real_env_steps: int       # real-env steps: tests, plus training with a reward network
    synthetic_steps: int      # SE steps its agents trained for
