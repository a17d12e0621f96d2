"""Turn member tasks into scores: the computation every evaluator backend runs.

All agents of all given members (orig, +eps and -eps, ``num_grad_evals`` each) train as one
population, so the cost of a NES iteration is one batched training. ``batched=False`` trains
them one at a time instead (the serial baseline); both give the same numbers, because every
agent's randomness comes from its own seed.
"""
import math
import statistics
import time
from dataclasses import dataclass

import torch

from agents import make_agent
from agents.training import train_population
from common.config import Config
from common.rng import derive_seed
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets
from nes.tasks import MemberResult, MemberTask

ORIG, PLUS, MINUS = 0, 1, 2


@dataclass(frozen=True)
class AgentJob:
    """One inner-loop training: which member, which SE (role) and which repeat."""

    task_index: int
    role: int
    repeat: int


def agent_jobs(tasks: list[MemberTask], config: Config) -> list[AgentJob]:
    roles = [PLUS, MINUS] if config.nes.mirrored_sampling else [PLUS]
    jobs = []
    for index in range(len(tasks)):
        jobs.append(AgentJob(index, ORIG, 0))
        jobs += [AgentJob(index, role, g) for role in roles for g in range(config.nes.num_grad_evals)]
    return jobs


def se_parameters(task: MemberTask, role: int) -> torch.Tensor:
    return {ORIG: task.psi, PLUS: task.psi + task.eps, MINUS: task.psi - task.eps}[role]


def train_agents_on_synthetic_envs(config: Config, psis: torch.Tensor, seeds: list[int], deadline: float):
    """Train one agent per row of ``psis`` (P, D) on that SE and test it on the real env."""
    spec = real_env_spec(config.env)
    se = config.synthetic_env
    template = SyntheticEnvNets.initialise([0], spec, se.hidden_size, se.hidden_layer, se.activation)
    nets = template.with_flat(psis)
    agent_config = config.agent_config()
    agent = make_agent(config.agent, agent_config, spec, [derive_seed(s, 0) for s in seeds])
    sampler = InitialStateSampler(config.env, [derive_seed(s, 1) for s in seeds])
    train_env = SyntheticVecEnv(nets, spec, sampler, episodes_per_member=1, autoreset=False)
    test_env = RealVecEnv(config.env, [derive_seed(s, 2) for s in seeds], agent_config.test_episodes)
    try:
        return train_population(agent, train_env, test_env, agent_config, config.protocol,
                                on_synthetic=True, deadline=deadline)
    finally:
        sampler.close()
        test_env.close()


def evaluate_members(tasks: list[MemberTask], config: Config, time_budget: float, batched: bool = True) -> list[MemberResult]:
    """Score ``tasks``; with ``batched`` all their agents train as one population."""
    jobs = agent_jobs(tasks, config)
    psis = torch.stack([se_parameters(tasks[j.task_index], j.role) for j in jobs])
    seeds = [derive_seed(tasks[j.task_index].seed, j.role, j.repeat) for j in jobs]
    start = time.monotonic()
    if batched:
        outcome = train_agents_on_synthetic_envs(config, psis, seeds, start + time_budget)
        returns, timed_out = outcome.test_return.tolist(), outcome.timed_out.tolist()
        se_steps = outcome.train_steps.tolist()
        real_steps = outcome.real_test_steps.tolist()
        seconds = {i: time.monotonic() - start for i in range(len(tasks))}
    else:
        returns, timed_out, real_steps, se_steps, seconds = [], [], [], [], {}
        member_start = start
        for k, job in enumerate(jobs):
            if k == 0 or jobs[k - 1].task_index != job.task_index:
                member_start = time.monotonic()
            one = train_agents_on_synthetic_envs(config, psis[k:k + 1], seeds[k:k + 1], member_start + time_budget)
            returns.append(float(one.test_return[0]))
            timed_out.append(bool(one.timed_out[0]))
            real_steps.append(int(one.real_test_steps[0]))
            se_steps.append(int(one.train_steps[0]))
            seconds[job.task_index] = time.monotonic() - member_start
    return [_member_result(task, i, jobs, returns, timed_out, real_steps, se_steps, seconds[i], config)
            for i, task in enumerate(tasks)]


def _combine(scores: list[float], grad_eval_type: str) -> float:
    if any(math.isnan(s) or s == -math.inf for s in scores):
        return -math.inf
    return statistics.mean(scores) if grad_eval_type == "mean" else min(scores)


def _member_result(task, index, jobs, returns, timed_out, real_steps, se_steps, seconds, config) -> MemberResult:
    mine = [k for k, j in enumerate(jobs) if j.task_index == index]
    by_role = {role: [returns[k] for k in mine if jobs[k].role == role] for role in (ORIG, PLUS, MINUS)}
    score_plus = _combine(by_role[PLUS], config.nes.grad_eval_type)
    score_minus = _combine(by_role[MINUS], config.nes.grad_eval_type) if by_role[MINUS] else -math.inf
    flipped = config.nes.mirrored_sampling and score_minus > score_plus
    score_orig = by_role[ORIG][0]
    return MemberResult(run_id=task.run_id, iteration=task.iteration, member=task.member,
                        score=score_minus if flipped else score_plus,
                        score_orig=score_orig if math.isfinite(score_orig) else -math.inf,
                        flipped=bool(flipped), seconds=seconds, timed_out=any(timed_out[k] for k in mine),
                        failed=not all(math.isfinite(returns[k]) for k in mine),
                        real_env_steps=int(sum(real_steps[k] for k in mine)),
                        synthetic_steps=int(sum(se_steps[k] for k in mine)))
