"""What every population agent shares: its common hyperparameters and the interface the training
protocol (``agents/training.py``) drives.

An agent holds P independent members. Every tensor it takes or returns has the population as its
leading dimension; ``active`` is a (P,) bool mask of the members that take part in a call, and a
member outside it must come out exactly as if the call had not happened (parameters, optimizer
state, buffers, random streams). That is what makes a member trained in a population equal to
the same member trained alone.
"""
import operator
from dataclasses import dataclass
from typing import Protocol

import torch

from agents.varied import PAPER_FIELDS, vary_fields_option
from common.errors import UserError
from common.schema import option
from envs.real import RealEnvSpec


@dataclass
class AgentConfig:
    """Hyperparameters every agent has; each agent's config extends this."""

    train_episodes: int = option(1000, "cap on training episodes", low=1)
    test_episodes: int = option(10, "real-env episodes per test (score = their mean return)", low=1)
    init_episodes: int = option(
        1, "episodes before learning starts: learning from episode > init (base_agent.py @ 7070963; "
        "@ 3216697 >= init)", low=0)
    same_action_num: int = option(1, "env steps each chosen action is repeated", low=1)
    early_out_num: int = option(10, "episodes in the moving mean of the SE early-out rule", low=1)
    early_out_virtual_diff: float = option(
        0.01, "SE early out when that mean changes by less than this fraction", low=0.0)
    vary_hp: bool = option(False, "sample the vary_fields afresh per member (robustness runs)")
    vary_fields: str = option(
        PAPER_FIELDS, "with vary_hp, the fields each member draws (comma-separated; those the agent lacks are "
        "skipped): lr, alpha, batch_size, hidden_size, hidden_layer (the paper's, the default), gamma, tau, "
        "eps_init, eps_min, eps_decay. Members that differ only in fields the agent holds per member "
        "(not sizes) train as one batch", normalise=vary_fields_option)


class PopulationAgent(Protocol):
    """The calls ``train_population`` makes, in this order per env step: ``act``, env step,
    ``observe``, then ``learn`` once the member is past its init episodes; ``end_episode`` after
    each episode; ``greedy`` in real-env tests.

    An agent that learns in ``end_episode`` (PPO) also offers ``updates_due(ended)``: the (P,) mask
    of the ``ended`` members whose ``end_episode`` would update. The training loop lets those wait
    for each other, so one batched update serves them all.
    A class also carries ``name`` (its key in configs), ``title`` (one line for ``--help``),
    ``Config`` (its hyperparameter dataclass), ``MEMBER_FIELDS`` (the config fields it holds per
    member, so members that differ only there train as one batch: ``agents.varied``) and
    ``check_spec(spec)``, which raises a ``UserError`` for an env it cannot act in. Construction:
    ``Agent(config, spec, seeds, member_configs=None)``; ``member_configs`` (one config per member)
    gives each member its own values of ``MEMBER_FIELDS``.
    """

    population: int
    nonfinite_loss: torch.Tensor  # (P,) bool: members whose loss went NaN or inf (they stop)

    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Exploring actions for observations (P, B, S): (P, B) long or (P, B, A) float."""

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic test policy, same shapes as ``act``."""

    def observe(self, active, states, actions, rewards, next_states, terminated, done_values=None) -> None:
        """One transition (leading dims (P, B)) for each active member.

        ``done_values`` (P, B) float, when given, replace ``terminated`` in the agent's bootstrap
        target, r + gamma (1 - done) v(s'): an SE's raw done outputs (``synthetic_env.done_in_target:
        raw``). ``terminated`` still says which episodes ended."""

    def learn(self, active: torch.Tensor) -> torch.Tensor:
        """An update for the active members; returns the (P,) mask of non-finite losses."""

    def end_episode(self, active: torch.Tensor) -> None:
        """Per-episode bookkeeping (epsilon decay, on-policy updates, ...)."""

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """One member's networks in single-agent form, for saving."""


def require_action_space(agent_name: str, spec: RealEnvSpec, *, discrete: bool) -> None:
    """Refuse an agent that cannot act in the env, naming the mismatch."""
    if spec.discrete_actions != discrete:
        wanted, found = ("discrete", "continuous") if discrete else ("continuous", "discrete")
        raise UserError(f"agent '{agent_name}' needs {wanted} actions, but {spec.env_id} has {found} actions")


def per_member(field, config, member_configs, population: int) -> torch.Tensor:
    """(P,) float32 values of ``field`` (a config field's name, or a function of a config): each
    member's own from ``member_configs`` (varied hyperparameters, ``agents.varied``), else
    ``config``'s for all. Arithmetic with these rounds exactly as with the Python number: ATen casts
    a scalar operand to float32 too."""
    value = field if callable(field) else operator.attrgetter(field)
    configs = member_configs if member_configs is not None else [config] * population
    return torch.tensor([value(c) for c in configs], dtype=torch.float32)


@torch.no_grad()
def soft_update(target: torch.Tensor, online: torch.Tensor, tau: torch.Tensor | float,
                active: torch.Tensor | None) -> None:
    """target <- target + tau * (online - target) for the ``active`` rows (None: all) of two
    networks' (P, N) parameter tensors (``models.flat_params``): one lerp for a whole network;
    ``tau`` a number or one per row, (P, 1)."""
    if active is None or active.all():
        target.lerp_(online, tau)
    else:
        target.copy_(torch.where(active[:, None], torch.lerp(target, online, tau), target))
