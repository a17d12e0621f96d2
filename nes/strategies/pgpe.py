"""PGPE with ClipUp (Sehnke et al. 2010, "Parameter-exploring policy gradients", symmetric sampling,
Sec. 2.3-2.4; Toklu et al. 2020, "ClipUp", Algorithm 1), as pgpelib (nnaisense/pgpelib, pgpe.py and
optimizers.py) computes it:

    eps_i = sigma * z_i, members score mu + eps_i and mu - eps_i     (symmetric sampling)
    f = centred ranks of all 2n scores (``ranking``) or the scores
    g_mu    = sum_i (f_i+ - f_i-) / 2 * eps_i / n
    g_sigma = sum_i ((f_i+ + f_i-) / 2 - b) * (eps_i^2 - sigma^2) / sigma / n,  b = mean of the pair means
    ClipUp: v <- momentum v + lr * g_mu / ||g_mu||;  v <- v * min(1, max_speed / ||v||);  mu <- mu + v
    sigma <- clip(sigma + sigma_lr * g_sigma, sigma (1 -+ max_change)), then within [sigma_min, sigma_max]

Our own ~70 lines: pgpelib is not on PyPI (git install only) and EvoTorch, its successor, pulls in
Ray. Defaults: pgpelib's ``PGPE.__init__`` (center_learning_rate 0.15, stdev_init 0.1,
stdev_learning_rate 0.1, stdev_max_change 0.2, solution_ranking true; its gradient formulas are
``compute_reinforce_update``), ClipUp's momentum 0.9 and max_speed 0.3 = 2 x the step size (the
ClipUp paper's rule, and evosax's ClipUp defaults; pgpelib's ``ClipUp`` class defaults to 0.15).
pgpelib's PGPE defaults to plain gradient ascent; the issue asks for ClipUp, so it is always on.
``nes.population`` counts samples (pgpelib's even ``popsize``).
"""
from dataclasses import dataclass, replace

import numpy as np
import torch

from common.schema import option
from nes.strategies.base import MemberScores, SearchState, Strategy, standard_normal
from nes.strategies.shaping import centered_ranks


@dataclass
class PGPEConfig:
    sigma_init: float = option(0.1, "initial per-parameter std (pgpelib: stdev_init)", low=0.0, low_open=True)
    center_learning_rate: float = option(0.15, "ClipUp step size of the centre", low=0.0, low_open=True)
    max_speed: float = option(0.3, "ClipUp's speed limit: the centre moves at most this far (L2) per iteration",
                              low=0.0, low_open=True)
    momentum: float = option(0.9, "ClipUp momentum", low=0.0, high=1.0)
    sigma_learning_rate: float = option(0.1, "step size of the sigma update (pgpelib: stdev_learning_rate)", low=0.0)
    sigma_max_change: float = option(0.2, "sigma changes by at most this fraction per iteration", low=0.0)
    sigma_min: float = option(0.0, "lower bound on each sigma (0: none)", low=0.0)
    sigma_max: float = option(0.0, "upper bound on each sigma (0: none)", low=0.0)
    ranking: bool = option(True, "centred ranks instead of raw scores (pgpelib: solution_ranking)")


@dataclass(frozen=True)
class PGPEState(SearchState):
    sigma: torch.Tensor      # (D,) per-parameter std
    velocity: torch.Tensor   # (D,) ClipUp's velocity


def pgpe_gradients(eps: torch.Tensor, scores: MemberScores, sigma: torch.Tensor, ranking: bool):
    """pgpelib's symmetric-sampling gradients (g_mu, g_sigma), each (D,)."""
    n = len(eps)
    both = np.concatenate([scores.scores_plus, scores.scores_minus])
    fitness = centered_ranks(both) if ranking else both
    plus, minus = torch.from_numpy(fitness[:n]).float(), torch.from_numpy(fitness[n:]).float()
    grad_mu = ((plus - minus) / 2) @ eps / n
    pair_means = (plus + minus) / 2
    grad_sigma = (pair_means - pair_means.mean()) @ ((eps * eps - sigma * sigma) / sigma) / n
    return grad_mu, grad_sigma


def clipup(gradient: torch.Tensor, velocity: torch.Tensor, settings: PGPEConfig) -> torch.Tensor:
    """ClipUp's next velocity (Toklu et al. 2020, Alg. 1): normalised gradient, momentum, speed cap."""
    norm = gradient.norm()
    direction = gradient / norm if norm > 0 else gradient
    velocity = settings.momentum * velocity + settings.center_learning_rate * direction
    speed = velocity.norm()
    return velocity * (settings.max_speed / speed) if speed > settings.max_speed else velocity


def bounded_sigma(sigma: torch.Tensor, proposed: torch.Tensor, settings: PGPEConfig) -> torch.Tensor:
    """pgpelib's stdev_max_change clip, then the absolute bounds."""
    allowed = sigma.abs() * settings.sigma_max_change
    new = torch.minimum(torch.maximum(proposed, sigma - allowed), sigma + allowed)
    if settings.sigma_min > 0:
        new = new.clamp_min(settings.sigma_min)
    return new.clamp_max(settings.sigma_max) if settings.sigma_max > 0 else new


class PGPE(Strategy):
    name = "pgpe"
    title = "pgpe: PGPE with ClipUp (symmetric sampling, per-parameter sigma)"
    Config, State = PGPEConfig, PGPEState
    always_mirrored, min_population = True, 2
    health_names = ("sigma_mean", "sigma_max", "step_norm")

    def __init__(self, config):
        self.seed, self.settings = config.seed, config.nes.pgpe
        self.pairs = self.members(config.nes.population)

    def initial_state(self, psi):
        return PGPEState(psi=psi, sigma=torch.full_like(psi, self.settings.sigma_init), velocity=torch.zeros_like(psi))

    def ask(self, state, iteration):
        size = state.psi.numel()
        return torch.stack([standard_normal(self.seed, iteration, i, size) for i in range(self.pairs)]) * state.sigma

    def tell(self, state, eps, scores):
        if not scores.any_finite:
            return state, self.health(state, torch.zeros_like(state.psi))
        grad_mu, grad_sigma = pgpe_gradients(eps, scores, state.sigma, self.settings.ranking)
        velocity = clipup(grad_mu, state.velocity, self.settings)
        sigma = bounded_sigma(state.sigma, state.sigma + self.settings.sigma_learning_rate * grad_sigma, self.settings)
        new = replace(state, psi=state.psi + velocity, sigma=sigma, velocity=velocity)
        return new, self.health(new, velocity)

    @staticmethod
    def health(state: PGPEState, step: torch.Tensor) -> dict[str, float]:
        return {"sigma_mean": float(state.sigma.mean()), "sigma_max": float(state.sigma.max()),
                "step_norm": float(step.norm())}
