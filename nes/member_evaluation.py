"""Turn member tasks into scores: the computation every evaluator backend runs.

All agents of all given members (orig, +eps and -eps, ``num_grad_evals`` each, one of every
agent of ``nes.member_agents``) train as one population per agent kind (and per hyperparameter
draw, ``nes.hp_draws``), so the cost of a NES iteration is one batched training per kind and draw. ``batched=False`` trains them one at a time instead
(the serial baseline); both give the same numbers, because every agent's randomness comes from its
own seed.
"""
import dataclasses
import math
import statistics
import time
from dataclasses import dataclass

import torch

from agents.population import SeedRoles, train_fresh_population
from agents.varied import sample_member_config
from common.rng import derive_seed
from envs.real import real_env_spec
from nes.config import Config
from nes.learned_envs import all_parameters, training_env
from nes.limit_policy import limit_policy_returns
from nes.objectives import objective_scores
from nes.strategies import mirrored_sampling
from nes.tasks import MemberResult, MemberTask, member_seed

ORIG, PLUS, MINUS = 0, 1, 2
TIMED_OUT_SCORE = -1e9  # nes.worst_score_on_timeout


@dataclass(frozen=True)
class AgentJob:
    """One inner-loop training: which member, which SE (role), which repeat and which agent (its
    index in ``Config.member_agents()``)."""

    task_index: int
    role: int
    repeat: int
    kind: int = 0


def agent_jobs(tasks: list[MemberTask], config: Config) -> list[AgentJob]:
    roles = [PLUS, MINUS] if mirrored_sampling(config) else [PLUS]
    kinds = range(len(config.member_agents()))
    jobs = []
    for index in range(len(tasks)):
        jobs += [AgentJob(index, ORIG, 0, k) for k in kinds]
        jobs += [AgentJob(index, role, g, k) for role in roles for g in range(config.nes.num_grad_evals) for k in kinds]
    return jobs


def job_seed(task: MemberTask, job: AgentJob, config: Config) -> int:
    """The seed of a job's agent; the first agent kind's is the one a single-agent run uses."""
    base = _agent_seed(task, job.role, config)
    if job.kind == 0:
        return derive_seed(base, job.role, job.repeat)
    return derive_seed(base, job.role, job.repeat, job.kind)


# How a member's agents' return and its limit policy's combine (synthetic_env.limit_policy_combine).
LIMIT_POLICY_COMBINE = {"min": torch.minimum, "mean": lambda agents, limit: (agents + limit) / 2}


_HP_DRAW_ROLE = 11  # keeps the draws' stream apart from the members' seeds


def hp_draw_seed(task: MemberTask, job: AgentJob, config: Config) -> int | None:
    """The seed of the hyperparameter sample the job's agent trains with (``nes.hp_draws``): one of
    the iteration's K draws, the same for every member; None without draws."""
    if not config.nes.hp_draws:
        return None
    return derive_seed(config.seed, task.iteration, job.repeat % config.nes.hp_draws, job.kind, _HP_DRAW_ROLE)


def agent_run_config(config: Config, kind: int, draw_seed: int | None = None) -> Config:
    """``config`` with the run's agent set to the job's kind, its hyperparameters drawn from
    ``draw_seed`` when one is given."""
    name = config.member_agents()[kind]
    config = dataclasses.replace(config, agent=name)
    if draw_seed is None:
        return config
    # The draw is the agents' whole sample: vary_hp would redraw it per agent.
    drawn = dataclasses.replace(sample_member_config(getattr(config.agents, name), draw_seed), vary_hp=False)
    return dataclasses.replace(config, agents=dataclasses.replace(config.agents, **{name: drawn}))


def member_parameters(task: MemberTask, role: int) -> torch.Tensor:
    return {ORIG: task.psi, PLUS: task.psi + task.eps, MINUS: task.psi - task.eps}[role]


@dataclass
class AgentOutcomes:
    """Per-agent results of one population training (lists of length P)."""

    scores: list[float]          # the NES objective
    test_returns: list[float]    # mean real-env test return after training
    timed_out: list[bool]
    real_env_steps: list[int]    # real-env steps: tests, plus training on a reward network
    synthetic_steps: list[int]   # steps trained on an SE


def train_agents_in_learned_envs(config: Config, psis: torch.Tensor, seeds: list[int], deadline: float) -> AgentOutcomes:
    """Train one agent per row of ``psis`` (P, D) in that SE or with that RN; test it on the real env."""
    spec = real_env_spec(config.env)
    synthetic = config.learn == "synthetic_env"
    roles = SeedRoles.of(seeds)
    train_env = training_env(config, spec, all_parameters(config, psis), roles.train_env)
    result = train_fresh_population(config.agent, config.agent_config(), config.env, roles, train_env,
                                    config.protocol, on_synthetic=synthetic, deadline=deadline).result
    # The objective reads the train env's records (an RN's real returns), which outlive its close.
    scores = objective_scores(config.nes.objective, result, train_env, spec.solved_reward, config.nes.unsolved_weight)
    test_returns = result.test_return
    if synthetic and config.synthetic_env.limit_policy_score:
        limit = limit_policy_returns(train_env.nets, config.env, seeds, config.agent_config().test_episodes)
        combine = LIMIT_POLICY_COMBINE[config.synthetic_env.limit_policy_combine]
        scores, test_returns = combine(scores, limit.to(scores.dtype)), combine(test_returns, limit)
    if config.nes.worst_score_on_timeout:
        scores, test_returns = _timed_out_worst(result, scores), _timed_out_worst(result, test_returns)
    no_steps = torch.zeros_like(result.train_steps)
    real_steps = result.real_test_steps + (no_steps if synthetic else result.train_steps)
    synthetic_steps = result.train_steps if synthetic else no_steps
    return AgentOutcomes(scores=scores.tolist(), test_returns=test_returns.tolist(),
                         timed_out=result.timed_out.tolist(), real_env_steps=real_steps.tolist(),
                         synthetic_steps=synthetic_steps.tolist())


def _timed_out_worst(result, values: torch.Tensor) -> torch.Tensor:
    """``values`` with each timed-out agent's replaced by TIMED_OUT_SCORE (a failed agent keeps -inf).

    The paper's time_is_up (base_agent.py:30-47 @ 3216697): an agent out of its member's time has
    no test, and its score is -1e9, finite, so the score transforms rank it last like any score.
    """
    timed_out = result.timed_out & ~result.failed
    return torch.where(timed_out, torch.full_like(values, TIMED_OUT_SCORE), values)


def evaluate_members(tasks: list[MemberTask], config: Config, time_budget: float, batched: bool = True) -> list[MemberResult]:
    """Score ``tasks``; with ``batched`` all their agents of one kind and draw train as one population."""
    jobs = agent_jobs(tasks, config)
    psis = torch.stack([member_parameters(tasks[j.task_index], j.role) for j in jobs])
    seeds = [job_seed(tasks[j.task_index], j, config) for j in jobs]
    draws = [hp_draw_seed(tasks[j.task_index], j, config) for j in jobs]
    start = time.monotonic()
    outcomes = AgentOutcomes(*[[None] * len(jobs) for _ in OUTCOME_FIELDS])
    if batched:
        groups: dict[tuple[int, int | None], list[int]] = {}
        for k, job in enumerate(jobs):
            groups.setdefault((job.kind, draws[k]), []).append(k)
        for (kind, draw), rows in groups.items():
            part = train_agents_in_learned_envs(agent_run_config(config, kind, draw), psis[rows],
                                                [seeds[k] for k in rows], start + time_budget)
            _place(outcomes, rows, part)
        seconds = {i: time.monotonic() - start for i in range(len(tasks))}
    else:
        seconds, member_start = {}, start
        for k, job in enumerate(jobs):
            if k == 0 or jobs[k - 1].task_index != job.task_index:
                member_start = time.monotonic()
            one = train_agents_in_learned_envs(agent_run_config(config, job.kind, draws[k]), psis[k:k + 1],
                                               seeds[k:k + 1], member_start + time_budget)
            _place(outcomes, [k], one)
            seconds[job.task_index] = time.monotonic() - member_start
    return [_member_result(task, i, jobs, outcomes, seconds[i], config) for i, task in enumerate(tasks)]


OUTCOME_FIELDS = tuple(f.name for f in dataclasses.fields(AgentOutcomes))


def _place(outcomes: AgentOutcomes, rows: list[int], part: AgentOutcomes) -> None:
    """Put ``part``'s per-agent values at the job positions ``rows`` of ``outcomes``."""
    for name in OUTCOME_FIELDS:
        for row, value in zip(rows, getattr(part, name)):
            getattr(outcomes, name)[row] = value


def _agent_seed(task: MemberTask, role: int, config: Config) -> int:
    """The seed a member's agents derive from: its own, or with ``common_agent_seeds`` the
    iteration's member 0's for the perturbed SEs."""
    if config.nes.common_agent_seeds and role != ORIG:
        return member_seed(config.seed, task.iteration, 0)
    return task.seed


def _combine(scores: list[float], grad_eval_type: str) -> float:
    if any(math.isnan(s) or s == -math.inf for s in scores):
        return -math.inf
    return statistics.mean(scores) if grad_eval_type == "mean" else min(scores)


def _member_result(task, index, jobs, outcomes: AgentOutcomes, seconds, config) -> MemberResult:
    mine = [k for k, j in enumerate(jobs) if j.task_index == index]
    by_role = {role: [outcomes.scores[k] for k in mine if jobs[k].role == role] for role in (ORIG, PLUS, MINUS)}
    score_plus = _combine(by_role[PLUS], config.nes.grad_eval_type)
    mirrored = bool(by_role[MINUS])
    score_minus = _combine(by_role[MINUS], config.nes.grad_eval_type) if mirrored else -math.inf
    flipped = mirrored and score_minus > score_plus
    origs = [k for k in mine if jobs[k].role == ORIG]
    score_orig = _combine([outcomes.scores[k] for k in origs], "mean")
    test_return_orig = _combine([outcomes.test_returns[k] for k in origs], "mean")
    return MemberResult(run_id=task.run_id, iteration=task.iteration, member=task.member,
                        score=score_minus if flipped else score_plus,
                        score_orig=score_orig if math.isfinite(score_orig) else -math.inf,
                        test_return_orig=test_return_orig if math.isfinite(test_return_orig) else -math.inf,
                        flipped=bool(flipped), seconds=seconds, timed_out=any(outcomes.timed_out[k] for k in mine),
                        failed=not all(math.isfinite(outcomes.scores[k]) for k in mine),
                        real_env_steps=int(sum(outcomes.real_env_steps[k] for k in mine)),
                        synthetic_steps=int(sum(outcomes.synthetic_steps[k] for k in mine)),
                        score_plus=score_plus, score_minus=score_minus if mirrored else None)
