"""What is handed to an evaluator, and what it gets back: two kinds of task, each with its result.

- ``MemberTask`` -> ``MemberResult``: the NES master scores a population member (psi and psi +- eps).
- ``FixedEnvTask`` -> ``FixedEnvResult``: an evaluation trains one fresh agent in a fixed env (a
  learned SE, or the real env) and tests it on the real env.

Every backend carries both kinds; ``nes/work.py`` runs either.
"""
from dataclasses import dataclass

import torch

from common.rng import derive_seed


def member_seed(run_seed: int, iteration: int, member: int) -> int:
    """The seed a member's agents derive from: a function of (run seed, iteration, member) alone."""
    return derive_seed(run_seed, iteration, member, 7)


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
    # Each side's own score (strategies that weigh both sides, e.g. openai_es, read them); None in
    # results written before these fields existed, and score_minus None when not mirrored.
    score_plus: float | None = None
    score_minus: float | None = None


@dataclass
class FixedEnvTask:
    """Train one fresh agent in the SE psi (no real-env steps while training) or, with psi None, on
    the real env; then test it on the real env."""

    run_id: str
    iteration: int            # the batch this task was submitted in
    member: int               # its row within the batch
    seed: int                 # the agent's seed: any backend gives the same result
    psi: torch.Tensor | None  # (D,) a learned SE's parameters; None: the real env


@dataclass
class FixedEnvResult:
    run_id: str
    iteration: int
    member: int
    test_return: float        # mean real-env test return after training
    train_steps: int          # env steps trained for (SE steps, or real-env steps on the real env)
    train_episodes: int
    seconds: float            # wall seconds of the training it ran in (batched: the whole batch)
    timed_out: bool
    failed: bool              # NaN or inf from the SE or the loss


RESULT_OF = {MemberTask: MemberResult, FixedEnvTask: FixedEnvResult}
