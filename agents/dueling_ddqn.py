"""Dueling Double DQN (Wang et al. 2016) for a population of P independent agents.

Double DQN (agents/ddqn.py: epsilon-greedy, replay, soft target updates, the double-DQN target,
optional ICM) with a dueling Q-network: a shared trunk maps the state to ``feature_dim`` features,
then a value stream V(s) and an advantage stream A(s, .) combine into
``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')``. Subtracting the mean makes V and A identifiable.

The layout is the paper's (Critic_DuelingDQN in models/actor_critic.py @ 3216697 of their code):
the trunk is an MLP whose output layer is linear, each stream an MLP with one hidden layer of ``feature_dim``
units. The paper's code subtracts the mean advantage over the whole batch; we subtract it per state
as Wang et al. do. Gradients come from autograd; everything else is DDQN's.
"""
import dataclasses
from dataclasses import dataclass

import torch

from agents.ddqn import DDQN, DDQNConfig
from common.rng import derive_seed
from common.schema import option
from envs.real import RealEnvSpec
from models.mlp import PopulationMLP

_VALUE, _ADVANTAGE = 1, 2  # seed roles of the two streams (the trunk uses the member seed)


def _paper_value(name: str, default):
    """DDQN's field ``name`` (its help and range) with the paper's Dueling DDQN default."""
    return dataclasses.field(default=default, metadata=DDQNConfig.__dataclass_fields__[name].metadata)


@dataclass
class DuelingDDQNConfig(DDQNConfig):
    """The paper's real-env CartPole values (default_config_cartpole.yaml @ 3216697 of their code,
    section duelingddqn)."""

    init_episodes: int = _paper_value("init_episodes", 10)
    batch_size: int = _paper_value("batch_size", 128)
    gamma: float = _paper_value("gamma", 0.99)
    lr: float = _paper_value("lr", 1e-3)
    tau: float = _paper_value("tau", 0.01)
    eps_init: float = _paper_value("eps_init", 1.0)
    eps_min: float = _paper_value("eps_min", 0.01)
    eps_decay: float = _paper_value("eps_decay", 0.9)
    activation: str = _paper_value("activation", "relu")
    hidden_size: int = option(128, "trunk hidden units", low=1)
    hidden_layer: int = option(2, "trunk hidden layers", low=1)
    feature_dim: int = option(128, "trunk output size, and hidden units of the value and advantage streams", low=1)


class PopulationDuelingQ:
    """P dueling Q-networks: trunk, value stream and advantage stream as ``PopulationMLP``s."""

    def __init__(self, trunk: PopulationMLP, value: PopulationMLP, advantage: PopulationMLP):
        self.trunk, self.value, self.advantage = trunk, value, advantage
        self.parts = {"trunk": trunk, "value": value, "advantage": advantage}

    @classmethod
    def initialise(cls, config: DuelingDDQNConfig, spec: RealEnvSpec, seeds: list[int]) -> "PopulationDuelingQ":
        features = config.feature_dim
        stream = lambda role, out: PopulationMLP.initialise(  # noqa: E731
            [derive_seed(s, role) for s in seeds], features, out, features, 1, config.activation)
        trunk = PopulationMLP.initialise(seeds, spec.state_dim, features, config.hidden_size, config.hidden_layer,
                                         config.activation)
        return cls(trunk, stream(_VALUE, 1), stream(_ADVANTAGE, spec.action_dim))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N, S) -> (P, N, actions)."""
        features = self.trunk(x)
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)

    def parameters(self) -> list[torch.Tensor]:
        return [p for part in self.parts.values() for p in part.parameters()]

    def requires_grad_(self) -> "PopulationDuelingQ":
        for part in self.parts.values():
            part.requires_grad_()
        return self

    def detached_copy(self) -> "PopulationDuelingQ":
        return PopulationDuelingQ(*(part.detached_copy() for part in self.parts.values()))

    def select(self, members) -> "PopulationDuelingQ":
        return PopulationDuelingQ(*(part.select(members) for part in self.parts.values()))

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": value for name, part in self.parts.items()
                for key, value in part.member_module(member).state_dict().items()}


class DuelingDDQN(DDQN):
    name, title = "dueling_ddqn", "Dueling Double DQN"
    Config = DuelingDDQNConfig

    @staticmethod
    def _make_q_network(config: DuelingDDQNConfig, spec: RealEnvSpec, seeds: list[int]) -> PopulationDuelingQ:
        return PopulationDuelingQ.initialise(config, spec, seeds)

    def _td_gradients(self, q, q_target, gamma, states, taken, rewards, next_states, dones, out=None):
        """The double-DQN loss of DDQN, differentiated by autograd (gradients copied into ``out``
        where given)."""
        if not (1 - dones).any():
            # Every sampled transition ends its episode (always so on a bandit SE), as in DDQN.
            target = rewards
        else:
            # The target needs no gradient; a forward apart from the graph keeps the backward pass
            # off the next-state rows.
            best_next = q(next_states).argmax(dim=-1, keepdim=True)
            target = rewards + gamma * q_target(next_states).gather(-1, best_next).squeeze(-1) * (1 - dones)
        q.requires_grad_()  # sub-population copies come detached
        with torch.enable_grad():
            q_now = q(states)
            loss = ((q_now.gather(-1, taken).squeeze(-1) - target) ** 2).mean(dim=1)
            # Members share no parameters, so the gradient of the sum is each member's own gradient.
            grads = torch.autograd.grad(loss.sum(), q.parameters())
        for buffer, grad in zip(out or (), grads):
            buffer.copy_(grad)
        return list(grads), loss.detach()

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        return {f"q.{k}": v for k, v in self.q.member_state_dict(member).items()}
