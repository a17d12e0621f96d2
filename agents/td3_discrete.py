"""Discrete TD3: TD3 (``agents.td3``) acting in a discrete action space through Gumbel-softmax
samples, the paper's variant for transferring CartPole SEs to a policy-gradient learner.

The actor outputs logits. An action vector is the Gumbel-softmax sample (Jang et al. 2017)

    y = softmax((logits + g) / gumbel_softmax_temp),   g_i = -log(-log u_i),  u_i ~ U(0, 1),

made one-hot in the forward pass with a straight-through gradient when ``gumbel_softmax_hard``.
While training, Gaussian noise of std ``action_std`` is added to it (as in the paper's code, with no
clipping: agents/TD3_discrete_vary.py:163 @ 3216697); the critics read the vector, the replay buffer
stores it, and the env gets its argmax.
Target policy smoothing adds clipped noise to the target actor's sample. The test policy is the
argmax of the logits. Everything else (twin critics, delay, targets) is TD3's.
"""
from dataclasses import dataclass

import torch

from agents.td3 import TD3, TD3Config
from common.schema import ACTIVATIONS, option
from models.mlp import PopulationMLP

# Uniform draws lie on a 2**-24 grid in [0, 1); shifting them by half a step keeps log(u) and
# log(-log(u)) finite at both ends. The shift is done in float64: in float32, 1 - 2**-25 rounds to 1.
_HALF_STEP = 0.5 / (1 << 24)


def gumbel_softmax(logits: torch.Tensor, uniform: torch.Tensor, temperature: float, hard: bool) -> torch.Tensor:
    """A Gumbel-softmax sample along the last dim, from uniforms in [0, 1) of the same shape.

    With ``hard`` the value is the one-hot of the sample's argmax while the gradient is the soft
    sample's (straight-through).
    """
    gumbel = -torch.log(-torch.log(uniform.double() + _HALF_STEP)).to(logits.dtype)
    soft = torch.softmax((logits + gumbel) / temperature, dim=-1)
    if not hard:
        return soft
    one_hot = torch.nn.functional.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
    return one_hot - soft.detach() + soft


@dataclass
class TD3DiscreteConfig(TD3Config):
    """The paper's CartPole values (td3_discrete_vary in default_config_cartpole.yaml @ 3216697 of
    their code)."""

    train_episodes: int = option(1000, "cap on training episodes", low=1)
    init_episodes: int = option(10, "episodes of uniformly random actions that fill the replay buffer", low=0)
    early_out_num: int = option(10, "episodes in the moving mean of the SE early-out rule", low=1)
    early_out_virtual_diff: float = option(
        0.01, "SE early out when that mean changes by less than this fraction", low=0.0)
    batch_size: int = option(128, "replay minibatch size", low=1)
    gamma: float = option(0.99, "discount factor", low=0.0, high=1.0)
    lr: float = option(5e-4, "Adam learning rate of the actor and the critics", low=0.0, low_open=True)
    tau: float = option(0.01, "soft target update rate (0 would never move the target network)",
                        low=0.0, low_open=True, high=1.0)
    policy_delay: int = option(2, "critic updates per actor and target update", low=1)
    hidden_size: int = option(128, "actor and critic hidden units", low=1)
    activation: str = option("relu", "actor and critic activation", choices=ACTIVATIONS)
    action_std: float = option(0.1, "exploration noise std added to the action vector", low=0.0)
    policy_std: float = option(0.2, "target policy smoothing noise std", low=0.0)
    policy_std_clip: float = option(0.5, "clip of the smoothing noise", low=0.0)
    gumbel_softmax_temp: float = option(1.0, "Gumbel-softmax temperature (lower: closer to one-hot)",
                                        low=0.0, low_open=True)
    gumbel_softmax_hard: bool = option(False, "one-hot action vectors with a straight-through gradient")


class TD3Discrete(TD3):
    name, title = "td3_discrete", "discrete TD3 (Gumbel-softmax actions)"
    Config = TD3DiscreteConfig
    discrete = True

    def policy_vectors(self, actor: PopulationMLP, states: torch.Tensor, active: torch.Tensor,
                       members: torch.Tensor | None = None) -> torch.Tensor:
        """Gumbel-softmax samples of the actor's logits (P', N, A); only ``active`` members draw."""
        logits = actor(states)
        uniform = self.rng.uniform(logits.shape[1] * logits.shape[2], active)
        uniform = uniform if members is None else uniform[members]
        return gumbel_softmax(logits, uniform.view_as(logits), self.config.gumbel_softmax_temp,
                              self.config.gumbel_softmax_hard)

    def random_vectors(self, count: int, active: torch.Tensor) -> torch.Tensor:
        """(P, count, A) one-hot vectors of uniformly random actions."""
        index = self.rng.integers(torch.full((self.population,), self.action_size), count, active)
        return torch.nn.functional.one_hot(index, self.action_size).float()

    def clip_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors

    def env_actions(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors.argmax(dim=-1)

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, S) -> (P, B) the most likely action."""
        return self.actor(obs).argmax(dim=-1)
