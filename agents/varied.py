"""Varied-hyperparameter mode (``vary_hp: true``): every member trains with its own sample of
lr, batch size, width and depth, as in the paper's robustness experiments (vary_hyperparameters in
agents/DDQN_vary.py @ 3216697: the same ranges).

Members whose samples differ cannot share stacked weight tensors, so ``VariedAgent`` groups them
by their sampled config and runs one sub-population per group, slicing the population dimension
for each call. With continuous sampling nearly every group holds one member, so this mode runs
members one after another inside each env step: it buys robustness, not speed. A member's
sample depends only on its own seed, so it trains the same inside any population.
"""
import dataclasses
import math

import numpy as np
import torch

from common.rng import derive_seed

# Which hyperparameters vary, and how: log-uniform in [x / 3, 3 x]; depth x - 1, x or x + 1.
# ``alpha`` is the tabular agents' learning rate.
LOG_UNIFORM = ("lr", "alpha", "batch_size", "hidden_size")
# A tabular step size above 1 overshoots its target, so alpha's draws stop at 1.
_CEILING = {"alpha": 1.0}
DEPTH = "hidden_layer"
_SPREAD = 3.0
_VARY_ROLE = 7  # keeps the sampling stream apart from the member's training streams


def sample_member_config(config, seed: int):
    """``config`` with the varied fields redrawn for the member of ``seed``; fields the agent
    does not have (a tabular agent has no width) are left out."""
    rng = np.random.default_rng(derive_seed(seed, _VARY_ROLE))
    changes = {}
    for name in LOG_UNIFORM:
        if not hasattr(config, name):
            continue
        value = getattr(config, name)
        drawn = math.exp(rng.uniform(math.log(value / _SPREAD), math.log(value * _SPREAD)))
        changes[name] = max(1, round(drawn)) if isinstance(value, int) else min(drawn, _CEILING.get(name, math.inf))
    if hasattr(config, DEPTH):
        changes[DEPTH] = max(1, getattr(config, DEPTH) + int(rng.integers(-1, 2)))
    return dataclasses.replace(config, **changes)


class VariedAgent:
    """A population whose members have their own hyperparameters: one sub-agent per distinct sample."""

    def __init__(self, agent_class, config, spec, seeds: list[int]):
        self.name, self.title = agent_class.name, agent_class.title
        self.population = len(seeds)
        samples = [sample_member_config(config, seed) for seed in seeds]
        groups: dict[str, list[int]] = {}
        for member, sample in enumerate(samples):
            groups.setdefault(repr(sample), []).append(member)
        self.groups = [(torch.tensor(members), agent_class(samples[members[0]], spec, [seeds[m] for m in members]))
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
