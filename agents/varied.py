"""Varied-hyperparameter mode (``vary_hp: true``): every member trains with its own sample of
the fields named in ``vary_fields``. The default is the paper's robustness experiments
(vary_hyperparameters in agents/DDQN_vary.py @ 3216697): lr, batch size, width and depth, with
the same ranges.

An agent may hold some fields per member (its ``MEMBER_FIELDS``: learning rates, discounts,
exploration schedules, as (P,) tensors). Members whose samples differ only there share one batched
sub-agent. Members whose samples differ in a field that shapes tensors (batch size, width, depth)
cannot share stacked weights, so ``VariedAgent`` runs one sub-agent per such group and slices the
population dimension for each call: with the paper's continuous draws nearly every member is a
group of its own, and that mode buys robustness, not speed. A member's sample depends only on its
own seed, so it trains the same inside any population.
"""
import dataclasses
import math

import numpy as np
import torch

from common.errors import UserError
from common.rng import derive_seed

# How each field is drawn around its configured value x. "log" is log-uniform in [x / 3, 3 x] (an
# int rounded, at least 1); "log, at most 1" caps it at 1 (a tabular step size above 1 overshoots its
# target; an epsilon is a probability); "complement" draws 1 - x that way, for factors near 1 (a
# discount, a decay); "depth" is x - 1, x or x + 1, at least 1. ``alpha`` is the tabular agents'
# learning rate. The order is the order of the draws: the paper's fields come first, so their
# draws stay the same whatever else varies.
_RULES = {"lr": "log", "alpha": "log, at most 1", "batch_size": "log", "hidden_size": "log",
          "hidden_layer": "depth", "gamma": "complement", "tau": "log, at most 1",
          "eps_init": "log, at most 1", "eps_min": "log, at most 1", "eps_decay": "complement"}
PAPER_FIELDS = "lr,alpha,batch_size,hidden_size,hidden_layer"
_SPREAD = 3.0
_VARY_ROLE = 7  # keeps the sampling stream apart from the member's training streams


def vary_fields_option(value, key: str) -> str:
    """The config value of ``vary_fields``: a comma-separated string or a list of field names,
    returned comma-separated in the order of the draws."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise UserError(f"config key '{key}' must be field names, comma-separated or a list, got {value!r}")
    names = {name.strip() for name in names} - {""}
    unknown = sorted(names - set(_RULES))
    if unknown:
        raise UserError(f"config key '{key}' names '{unknown[0]}', which cannot vary; "
                        f"choose from {', '.join(_RULES)}")
    if not names:
        raise UserError(f"config key '{key}' names no field")
    return ",".join(name for name in _RULES if name in names)


def _log_uniform(rng: np.random.Generator, value: float) -> float:
    return math.exp(rng.uniform(math.log(value / _SPREAD), math.log(value * _SPREAD)))


def _draw(rule: str, value, rng: np.random.Generator):
    if rule == "depth":
        return max(1, value + int(rng.integers(-1, 2)))
    if rule == "complement":
        return value if value == 1 else 1 - min(_log_uniform(rng, 1 - value), 1.0)
    if value == 0:   # nothing to scale (an epsilon of zero stays zero)
        return value
    drawn = _log_uniform(rng, value)
    if isinstance(value, int):
        return max(1, round(drawn))
    return min(drawn, 1.0) if rule == "log, at most 1" else drawn


def sample_member_config(config, seed: int):
    """``config`` with its ``vary_fields`` redrawn for the member of ``seed``; fields the agent
    does not have (a tabular agent has no width) are left out."""
    rng = np.random.default_rng(derive_seed(seed, _VARY_ROLE))
    varied = config.vary_fields.split(",")
    changes = {name: _draw(rule, getattr(config, name), rng)
               for name, rule in _RULES.items() if name in varied and hasattr(config, name)}
    sample = dataclasses.replace(config, **changes)
    if hasattr(sample, "eps_min") and sample.eps_min > sample.eps_init:   # a schedule that never rises
        sample = dataclasses.replace(sample, eps_min=sample.eps_init)
    return sample


class VariedAgent:
    """A population whose members have their own hyperparameters: one sub-agent per distinct sample."""

    def __init__(self, agent_class, config, spec, seeds: list[int]):
        self.name, self.title = agent_class.name, agent_class.title
        self.population = len(seeds)
        samples = [sample_member_config(config, seed) for seed in seeds]
        # Members whose samples differ only in fields the agent holds per member share a sub-agent.
        shared = {name: getattr(config, name) for name in agent_class.MEMBER_FIELDS}
        groups: dict[str, list[int]] = {}
        for member, sample in enumerate(samples):
            groups.setdefault(repr(dataclasses.replace(sample, **shared)), []).append(member)
        self.groups = [(torch.tensor(members), agent_class(samples[members[0]], spec, [seeds[m] for m in members],
                                                           member_configs=[samples[m] for m in members]))
                       for members in groups.values()]
        self.member_configs = samples
        self.nonfinite_loss = torch.zeros(self.population, dtype=torch.bool)

    def _gather(self, call, active: torch.Tensor | None) -> torch.Tensor:
        """Run ``call(sub_agent, index)`` per group with any active member and place the results."""
        out = None
        for index, agent in self.groups:
            if active is not None and not active[index].any():
                continue
            part = call(agent, index)
            if out is None:
                out = torch.zeros((self.population,) + tuple(part.shape[1:]), dtype=part.dtype)
            out[index] = part
        if out is None:
            raise ValueError("no member is active")
        return out

    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        return self._gather(lambda agent, index: agent.act(obs[index], active[index]), active)

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        return self._gather(lambda agent, index: agent.greedy(obs[index]), None)

    def observe(self, active, states, actions, rewards, next_states, terminated, done_values=None) -> None:
        for index, agent in self.groups:
            if active[index].any():
                raw = {} if done_values is None else {"done_values": done_values[index]}
                agent.observe(active[index], states[index], actions[index], rewards[index], next_states[index],
                              terminated[index], **raw)

    def learn(self, active: torch.Tensor) -> torch.Tensor:
        nonfinite = torch.zeros_like(active)
        for index, agent in self.groups:
            if active[index].any():
                nonfinite[index] = agent.learn(active[index])
        return nonfinite

    def updates_due(self, ended: torch.Tensor) -> torch.Tensor:
        due = torch.zeros_like(ended)
        for index, agent in self.groups:
            if hasattr(agent, "updates_due"):
                due[index] = agent.updates_due(ended[index])
        return due

    def end_episode(self, active: torch.Tensor) -> None:
        for index, agent in self.groups:
            if active[index].any():
                agent.end_episode(active[index])

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        for index, agent in self.groups:
            position = (index == member).nonzero().flatten()
            if len(position):
                return agent.member_state_dict(int(position[0]))
        raise IndexError(member)
