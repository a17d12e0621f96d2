"""Separable NES (Schaul, Glasmachers & Schmidhuber 2011, "High dimensions and heavy tails for
natural evolution strategies", Algorithm 1; Wierstra et al. 2014, JMLR, Sec. 4.2):

    z_k ~ N(0, I), member k scores mu + sigma * z_k        (no mirroring)
    u = zero-mean NES utilities of the ranks (best first)
    mu    <- mu + eta_mu * sigma * sum_k u_k z_k
    sigma <- sigma * exp(eta_sigma / 2 * sum_k u_k (z_k^2 - 1))   (the natural gradient of log sigma)

Our own ~50 lines: the algorithm is four lines, and the libraries that have it are JAX (evosax) or
pull in Ray (EvoTorch). Defaults: the paper's eta_mu = 1 and eta_sigma = (3 + ln d) / (5 sqrt d)
(``sigma_learning_rate`` 0). The paper starts sigma at 1 on unit-scaled benchmark functions; an SE's
or RN's weights start within +-1/sqrt(fan_in) (0.1-0.45 here), so sigma starts at 0.05.
"""
import math
from dataclasses import dataclass, replace

import torch

from common.schema import option
from nes.strategies.base import SearchState, Strategy, standard_normal
from nes.strategies.shaping import by_rank, nes_utilities


@dataclass
class SNESConfig:
    sigma_init: float = option(0.05, "initial per-parameter std", low=0.0, low_open=True)
    mean_learning_rate: float = option(1.0, "eta_mu, the step size of the mean", low=0.0, low_open=True)
    sigma_learning_rate: float = option(0.0, "eta_sigma (0: the paper's (3 + ln d) / (5 sqrt d))", low=0.0)


@dataclass(frozen=True)
class SNESState(SearchState):
    sigma: torch.Tensor   # (D,) per-parameter std


def snes_update(state: SNESState, eps: torch.Tensor, utilities: torch.Tensor, eta_mu: float,
                eta_sigma: float) -> SNESState:
    """Schaul et al.'s update from the members' ``eps`` (P, D) = sigma * z and their utilities (P,)."""
    z = eps / state.sigma
    psi = state.psi + eta_mu * state.sigma * (utilities @ z)
    sigma = state.sigma * torch.exp(eta_sigma / 2 * (utilities @ (z * z - 1)))
    return replace(state, psi=psi, sigma=sigma)


class SNES(Strategy):
    name = "snes"
    title = "snes: separable NES (rank utilities, natural-gradient sigma)"
    Config, State = SNESConfig, SNESState
    # Below 4 only the best sample has a positive utility: the sigma update then only ever follows one sample.
    min_population = 4
    health_names = ("sigma_mean", "sigma_max", "step_norm")

    def __init__(self, config):
        self.seed, self.population, self.settings = config.seed, config.nes.population, config.nes.snes

    def eta_sigma(self, dimension: int) -> float:
        if self.settings.sigma_learning_rate > 0:
            return self.settings.sigma_learning_rate
        return (3 + math.log(dimension)) / (5 * math.sqrt(dimension))

    def initial_state(self, psi):
        return SNESState(psi=psi, sigma=torch.full_like(psi, self.settings.sigma_init))

    def ask(self, state, iteration):
        size = state.psi.numel()
        z = torch.stack([standard_normal(self.seed, iteration, i, size) for i in range(self.population)])
        return z * state.sigma

    def tell(self, state, eps, scores):
        new = state
        if scores.any_finite:
            utilities = torch.from_numpy(by_rank(nes_utilities(len(eps)), scores.scores_plus)).float()
            new = snes_update(state, eps, utilities, self.settings.mean_learning_rate, self.eta_sigma(eps.shape[1]))
        return new, {"sigma_mean": float(new.sigma.mean()), "sigma_max": float(new.sigma.max()),
                     "step_norm": float((new.psi - state.psi).norm())}
