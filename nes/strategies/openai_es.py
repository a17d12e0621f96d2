"""OpenAI-ES (Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to Reinforcement
Learning", Algorithm 2 with the tricks of Sec. 2.1-2.2), as OpenAI's evolution-strategies-starter
(es_distributed/es.py and optimizers.py) runs it:

    z_i ~ N(0, I), members score theta + sigma z_i and theta - sigma z_i   (mirrored pairs)
    F = centered_ranks(all 2n scores) in [-0.5, 0.5]
    g = sum_i (F_i+ - F_i-) z_i / (2n)                                     (the gradient estimate)
    theta <- theta + Adam(-g + l2coeff * theta)                            (Adam minimises; L2 decay)

Our own ~60 lines instead of a library: the starter is not a package, evosax is JAX and EvoTorch pulls
in Ray (which must not start here); the equations are few and ``test_strategies.py`` checks them.
Defaults: the starter's configs (noise_stdev 0.02, stepsize 0.01, l2coeff 0.005) and Adam's
(beta1 0.9, beta2 0.999, epsilon 1e-8). ``nes.population`` counts samples: n = population / 2 pairs.
"""
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from common.schema import option
from nes.strategies.base import MemberScores, SearchState, Strategy, standard_normal
from nes.strategies.shaping import centered_ranks


@dataclass
class OpenAIESConfig:
    sigma: float = option(0.02, "noise std: members score psi +- sigma z (starter: noise_stdev)",
                          low=0.0, low_open=True)
    learning_rate: float = option(0.01, "Adam step size (starter: stepsize)", low=0.0, low_open=True)
    l2coeff: float = option(0.005, "weight decay: l2coeff x psi is added to the (negated) gradient", low=0.0)
    beta1: float = option(0.9, "Adam's first-moment decay", low=0.0, high=1.0)
    beta2: float = option(0.999, "Adam's second-moment decay", low=0.0, high=1.0)
    adam_epsilon: float = option(1e-8, "Adam's denominator epsilon", low=0.0, low_open=True)


@dataclass(frozen=True)
class OpenAIESState(SearchState):
    adam_m: torch.Tensor   # (D,) Adam's first moment
    adam_v: torch.Tensor   # (D,) Adam's second moment
    adam_t: int            # Adam steps taken


def openai_es_gradient(eps: torch.Tensor, scores: MemberScores, sigma: float) -> torch.Tensor:
    """The starter's g (D,): centred ranks over both sides of all n pairs, (F+ - F-) @ z / (2n)."""
    n = len(eps)
    shaped = centered_ranks(np.concatenate([scores.scores_plus, scores.scores_minus]))
    weights = torch.from_numpy(shaped[:n] - shaped[n:]).float()
    return (weights @ eps) / (sigma * 2 * n)


def adam_step(gradient: torch.Tensor, m: torch.Tensor, v: torch.Tensor, t: int, settings: OpenAIESConfig):
    """The starter's Adam._compute_step on ``gradient`` (to be minimised): (step, m, v, t)."""
    t += 1
    # Python floats: ``beta ** t`` in ATen rounds differently in its scalar and vector kernels.
    a = settings.learning_rate * math.sqrt(1 - settings.beta2 ** t) / (1 - settings.beta1 ** t)
    m = settings.beta1 * m + (1 - settings.beta1) * gradient
    v = settings.beta2 * v + (1 - settings.beta2) * gradient * gradient
    return -a * m / (v.sqrt() + settings.adam_epsilon), m, v, t


class OpenAIES(Strategy):
    name = "openai_es"
    title = "openai_es: OpenAI-ES (mirrored pairs, centred ranks, Adam, weight decay)"
    Config, State = OpenAIESConfig, OpenAIESState
    always_mirrored, min_population = True, 2
    health_names = ("grad_norm", "step_norm", "update_ratio")

    def __init__(self, config):
        self.seed, self.settings = config.seed, config.nes.openai_es
        self.pairs = self.members(config.nes.population)

    def initial_state(self, psi):
        return OpenAIESState(psi=psi, adam_m=torch.zeros_like(psi), adam_v=torch.zeros_like(psi), adam_t=0)

    def ask(self, state, iteration):
        size = state.psi.numel()
        z = torch.stack([standard_normal(self.seed, iteration, i, size) for i in range(self.pairs)])
        return z * self.settings.sigma

    def tell(self, state, eps, scores):
        if not scores.any_finite:   # nothing to rank: keep theta and the optimiser as they are
            return state, {"grad_norm": 0.0, "step_norm": 0.0, "update_ratio": 0.0}
        gradient = openai_es_gradient(eps, scores, self.settings.sigma)
        step, m, v, t = adam_step(-gradient + self.settings.l2coeff * state.psi, state.adam_m, state.adam_v,
                                  state.adam_t, self.settings)
        psi = state.psi + step
        health = {"grad_norm": float(gradient.norm()), "step_norm": float(step.norm()),
                  "update_ratio": float(step.norm() / state.psi.norm().clamp_min(1e-12))}
        return replace(state, psi=psi, adam_m=m, adam_v=v, adam_t=t), health
