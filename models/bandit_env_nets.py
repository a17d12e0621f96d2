"""The two networks of a contextual-bandit synthetic environment, for a population of SEs.

A bandit SE (Liesen et al. 2024, "Discovering Minimal Reinforcement Learning Environments") has
one-step episodes: its start-state network maps a standard-normal latent to a state, so the SE
learns which states an agent sees, and its reward network scores (state, action), read as
concat(action, state) like the MDP SE's networks. There is no transition to learn: an agent trained
on it learns, state by state, which action the reward network prefers.
"""
import torch

from models.mlp import PopulationMLP
from models.net_group import NetGroup

BANDIT_NET_NAMES = ("start_net", "reward_net")


class BanditEnvNets(NetGroup):
    """Start-state and reward MLPs with a leading population dimension.

    ``state_low``/``state_high`` are the real env's observation bounds: start states are clipped
    into them where they are finite, so every state the SE shows is one the real env could.
    ``reward_scale`` multiplies the reward network's output (synthetic_env.reward_scale).
    """

    net_names = BANDIT_NET_NAMES

    def __init__(self, nets, state_dim, action_dim, discrete_actions, state_low=(), state_high=(),
                 reward_scale: float = 1.0):
        super().__init__(nets, state_dim, action_dim, discrete_actions)
        self.reward_scale = reward_scale
        self.state_low = torch.tensor(state_low or [-float("inf")] * state_dim)
        self.state_high = torch.tensor(state_high or [float("inf")] * state_dim)

    @property
    def latent_dim(self) -> int:
        return self.state_dim

    @classmethod
    def initialise(cls, seeds, spec, hidden_size: int, hidden_layer: int, activation: str,
                   reward_scale: float = 1.0) -> "BanditEnvNets":
        inputs = {"start_net": spec.state_dim, "reward_net": spec.state_dim + spec.action_dim}
        outputs = {"start_net": spec.state_dim, "reward_net": 1}
        nets = {name: PopulationMLP.initialise([s * 2 + i for s in seeds], inputs[name], outputs[name],
                                               hidden_size, hidden_layer, activation)
                for i, name in enumerate(BANDIT_NET_NAMES)}
        return cls(nets, spec.state_dim, spec.action_dim, spec.discrete_actions, spec.state_low, spec.state_high,
                   reward_scale)

    @torch.no_grad()
    def start_states(self, latents: torch.Tensor) -> torch.Tensor:
        """(P, N, latent_dim) standard-normal draws -> (P, N, S) states inside the real env's bounds."""
        return torch.clamp(self.nets["start_net"](latents), self.state_low, self.state_high)

    @torch.no_grad()
    def greedy_actions(self, states: torch.Tensor) -> torch.Tensor:
        """(P, N, S) states -> (P, N) discrete actions of the highest reward: the limit policy, where an
        agent that learns action values ends on a bandit (every step is terminal, so Q(s, a) = r(s, a))."""
        shape = states.shape[:2]
        rewards = [self.rewards(torch.full(shape, a, dtype=torch.long), states) for a in range(self.action_dim)]
        return torch.stack(rewards, dim=-1).argmax(dim=-1)

    @torch.no_grad()
    def rewards(self, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(P, N) rewards of (P, N[, A]) actions in (P, N, S) states."""
        return self.nets["reward_net"](self.encode(actions, states)).squeeze(-1) * self.reward_scale
