"""The three networks of a synthetic environment, for a population of SEs.

Each network reads concat(action, state), action first (one-hot for discrete actions), exactly as
the paper's code, so its published state dicts (``env.state_net.0.weight`` ...) load as they are.
"""
import torch

from models.mlp import PopulationMLP

NET_NAMES = ("state_net", "reward_net", "done_net")


class SyntheticEnvNets:
    """Next-state, reward and done MLPs with a leading population dimension."""

    def __init__(self, nets: dict[str, PopulationMLP], state_dim: int, action_dim: int, discrete_actions: bool):
        self.nets, self.state_dim, self.action_dim = nets, state_dim, action_dim
        self.discrete_actions = discrete_actions

    @classmethod
    def initialise(cls, seeds, spec, hidden_size: int, hidden_layer: int, activation: str) -> "SyntheticEnvNets":
        input_dim = spec.state_dim + spec.action_dim
        outputs = {"state_net": spec.state_dim, "reward_net": 1, "done_net": 1}
        nets = {name: PopulationMLP.initialise([s * 3 + i for s in seeds], input_dim, outputs[name],
                                               hidden_size, hidden_layer, activation)
                for i, name in enumerate(NET_NAMES)}
        return cls(nets, spec.state_dim, spec.action_dim, spec.discrete_actions)

    @property
    def population(self) -> int:
        return self.nets["state_net"].population

    @property
    def num_params(self) -> int:
        return sum(net.num_params for net in self.nets.values())

    def encode(self, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(P, N[, A]) actions and (P, N, S) states -> (P, N, A + S) network input."""
        if self.discrete_actions:
            actions = torch.nn.functional.one_hot(actions.long(), self.action_dim).to(states.dtype)
        return torch.cat([actions, states], dim=-1)

    @torch.no_grad()
    def __call__(self, actions: torch.Tensor, states: torch.Tensor):
        """Next states (P, N, S), rewards (P, N) and done flags (P, N) (output > 0.5)."""
        next_states, rewards, raw_dones = self.raw_outputs(actions, states)
        return next_states, rewards, raw_dones > 0.5

    @torch.no_grad()
    def raw_outputs(self, actions: torch.Tensor, states: torch.Tensor):
        """Next states (P, N, S), rewards (P, N) and the done net's raw outputs (P, N)."""
        x = self.encode(actions, states)
        next_states = self.nets["state_net"](x)
        rewards = self.nets["reward_net"](x).squeeze(-1)
        return next_states, rewards, self.nets["done_net"](x).squeeze(-1)

    def flat_size(self, include_slopes: bool = True) -> int:
        return sum(net.flat_size(include_slopes) for net in self.nets.values())

    def to_flat(self, include_slopes: bool = True) -> torch.Tensor:
        """(P, D): psi, the vector NES works on (state, reward, then done net); without PReLU
        slopes for ``include_slopes`` False."""
        return torch.cat([self.nets[name].to_flat(include_slopes) for name in NET_NAMES], dim=1)

    def load_flat(self, flat: torch.Tensor, include_slopes: bool = True) -> None:
        offset = 0
        for name in NET_NAMES:
            size = self.nets[name].flat_size(include_slopes)
            self.nets[name].load_flat(flat[:, offset:offset + size], include_slopes)
            offset += size

    def with_flat(self, flat: torch.Tensor, include_slopes: bool = True) -> "SyntheticEnvNets":
        """A new population of this architecture whose members have parameters ``flat`` (P', D)
        (the slopes of this population's member 0 where ``flat`` leaves them out)."""
        nets = {name: net.select([0] * flat.shape[0]) for name, net in self.nets.items()}
        clone = SyntheticEnvNets(nets, self.state_dim, self.action_dim, self.discrete_actions)
        clone.load_flat(flat, include_slopes)
        return clone

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member`` in the paper's key layout (``env.state_net.0.weight`` ...)."""
        state = {}
        for name in NET_NAMES:
            for key, value in self.nets[name].member_module(member).state_dict().items():
                state[f"env.{name}.{key}"] = value.clone()
        return state
