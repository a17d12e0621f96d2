"""A named group of population MLPs that NES treats as one flat parameter vector per member."""
import copy

import torch

from models.mlp import PopulationMLP


class NetGroup:
    """``nets`` (name -> PopulationMLP) in the order ``net_names`` fixes for psi and for saving.

    Subclasses say what the networks compute; this class owns their common population shape:
    psi (``to_flat`` / ``load_flat``), cloning with other parameters and one member's state dict.
    """

    net_names: tuple[str, ...] = ()

    def __init__(self, nets: dict[str, PopulationMLP], state_dim: int, action_dim: int, discrete_actions: bool):
        self.nets, self.state_dim, self.action_dim = nets, state_dim, action_dim
        self.discrete_actions = discrete_actions
        self._one_hot_rows = torch.eye(action_dim) if discrete_actions else None

    @property
    def population(self) -> int:
        return self.nets[self.net_names[0]].population

    @property
    def num_params(self) -> int:
        return sum(net.num_params for net in self.nets.values())

    def encode(self, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(P, N[, A]) actions and (P, N, S) states -> (P, N, A + S) network input, action first
        (one-hot for discrete actions), as the paper's SE networks read it."""
        if self.discrete_actions:
            # An identity row per action: one_hot's values, without its range check over the
            # batch (a population of one steps its SE through this every step).
            actions = self._one_hot_rows[actions.long()]
        return torch.cat([actions, states], dim=-1)

    def flat_size(self, include_slopes: bool = True) -> int:
        return sum(net.flat_size(include_slopes) for net in self.nets.values())

    def to_flat(self, include_slopes: bool = True) -> torch.Tensor:
        """(P, D): psi, the vector NES works on (the nets in ``net_names`` order); without PReLU
        slopes for ``include_slopes`` False."""
        return torch.cat([self.nets[name].to_flat(include_slopes) for name in self.net_names], dim=1)

    def load_flat(self, flat: torch.Tensor, include_slopes: bool = True) -> None:
        offset = 0
        for name in self.net_names:
            size = self.nets[name].flat_size(include_slopes)
            self.nets[name].load_flat(flat[:, offset:offset + size], include_slopes)
            offset += size

    def with_flat(self, flat: torch.Tensor, include_slopes: bool = True):
        """A new population of this architecture whose members have parameters ``flat`` (P', D)
        (the slopes of this population's member 0 where ``flat`` leaves them out)."""
        clone = copy.copy(self)
        clone.nets = {name: net.select([0] * flat.shape[0]) for name, net in self.nets.items()}
        clone.load_flat(flat, include_slopes)
        return clone

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member`` in the paper's key layout (``env.<net name>.0.weight`` ...)."""
        state = {}
        for name in self.net_names:
            for key, value in self.nets[name].member_module(member).state_dict().items():
                state[f"env.{name}.{key}"] = value.clone()
        return state
