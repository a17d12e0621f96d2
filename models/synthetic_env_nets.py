"""The three networks of a synthetic environment, for a population of SEs.

Each network reads concat(action, state), action first (one-hot for discrete actions), exactly as
the paper's code, so its published state dicts (``env.state_net.0.weight`` ...) load as they are.
"""
import torch

from models.mlp import PopulationMLP
from models.net_group import NetGroup

NET_NAMES = ("state_net", "reward_net", "done_net")


class SyntheticEnvNets(NetGroup):
    """Next-state, reward and done MLPs with a leading population dimension."""

    net_names = NET_NAMES

    @classmethod
    def initialise(cls, seeds, spec, hidden_size: int, hidden_layer: int, activation: str) -> "SyntheticEnvNets":
        input_dim = spec.state_dim + spec.action_dim
        outputs = {"state_net": spec.state_dim, "reward_net": 1, "done_net": 1}
        nets = {name: PopulationMLP.initialise([s * 3 + i for s in seeds], input_dim, outputs[name],
                                               hidden_size, hidden_layer, activation)
                for i, name in enumerate(NET_NAMES)}
        return cls(nets, spec.state_dim, spec.action_dim, spec.discrete_actions)

    @torch.no_grad()
    def __call__(self, actions: torch.Tensor, states: torch.Tensor):
        """Next states (P, N, S), rewards (P, N) and done flags (P, N) (output > 0.5)."""
        next_states, rewards, raw_dones = self._outputs(actions, states)
        return next_states, rewards, raw_dones > 0.5

    @torch.no_grad()
    def raw_outputs(self, actions: torch.Tensor, states: torch.Tensor):
        """Next states (P, N, S), rewards (P, N) and the done net's raw outputs (P, N)."""
        return self._outputs(actions, states)

    def _outputs(self, actions: torch.Tensor, states: torch.Tensor):
        x = self.encode(actions, states)
        next_states = self.nets["state_net"](x)
        rewards = self.nets["reward_net"](x).squeeze(-1)
        return next_states, rewards, self.nets["done_net"](x).squeeze(-1)
