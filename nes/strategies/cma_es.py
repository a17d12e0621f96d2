"""CMA-ES (Hansen 2016, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772, Fig. 6 / eqs.
39-47 with positive weights, eq. 49) and, where full covariance costs too much, sep-CMA-ES (Ros &
Hansen 2008, "A Simple Modification in CMA-ES Achieving Linear Time and Space Complexity": C kept
diagonal, with its own, faster learning rates). The strategy parameters are pycma 4.5.0's
(``CMAParameters.set`` and ``CMAAdaptSigmaCSA.compute_cs``, with ``CMA_active`` off), which refine
the tutorial's Table 1 (e.g. c_s = (mu_eff + 2) / (d + mu_eff + 3), a 1/4 offset in c_mu).

    y_k = B D z_k, member k scores m + sigma y_k (no mirroring); the best mu = lam/2 are recombined
    m <- m + sigma <y>_w;  p_s <- (1 - c_s) p_s + sqrt(c_s (2 - c_s) mu_eff) C^-1/2 <y>_w
    p_c <- (1 - c_c) p_c + h_s sqrt(c_c (2 - c_c) mu_eff) <y>_w
    C <- (1 - c1 - cmu + (1 - h_s) c1 c_c (2 - c_c)) C + c1 p_c p_c^T + cmu sum_i w_i y_i y_i^T
    sigma <- sigma exp(c_s / d_s (||p_s|| / E||N(0, I)|| - 1))            (cumulative step-size adaptation)

Not pycma (the reference, ``cma`` on PyPI): it draws its samples from numpy's global generator
inside ``ask`` and keeps its state in objects that only pickle can save, while the contract here is
draws from (seed, iteration, member) and a latest.pt of plain tensors that ``torch.load(
weights_only=True)`` reads; so ~100 lines of ours whose constants ``test_strategies.py`` compares with
pycma's. Left out from pycma: active (negative) weights, restarts, boundary handling, pycma's
refinements of the hsig test and of d_s for large populations (equal to ours for lam << d).
"""
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from common.schema import option
from nes.strategies.base import SearchState, Strategy, standard_normal
from nes.strategies.shaping import cma_weights


@dataclass
class CMAESConfig:
    sigma_init: float = option(0.05, "initial step size sigma (pycma's sigma0, which has no default: a quarter "
                               "of the weights' initial range)", low=0.0, low_open=True)
    covariance: str = option("auto", "full, diagonal (sep-CMA-ES) or auto: full up to full_max_dim parameters",
                             choices=("auto", "full", "diagonal"))
    full_max_dim: int = option(100, "auto: the largest psi that gets a full covariance (its eigendecomposition "
                               "costs d^3 per iteration and it learns in ~d^2 / lam iterations)", low=1)


@dataclass(frozen=True)
class CMAState(SearchState):
    sigma: float           # global step size
    cov: torch.Tensor      # (D, D) covariance, or (D,) its diagonal (sep-CMA-ES); float64
    path_sigma: torch.Tensor   # (D,) float64 conjugate evolution path p_s
    path_c: torch.Tensor       # (D,) float64 evolution path p_c
    generation: int


@dataclass(frozen=True)
class CMAConstants:
    """pycma's default strategy parameters for dimension d and population lam (no active CMA)."""

    weights: np.ndarray
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi_n: float

    @classmethod
    def of(cls, d: int, lam: int, diagonal: bool) -> "CMAConstants":
        w = cma_weights(lam)
        mu_eff = 1.0 / float((w * w).sum())
        c_sigma = (mu_eff + 2) / (d + mu_eff + 3)
        d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (d + 1)) - 1) + c_sigma
        rank_mu = 0.25 + mu_eff + 1 / mu_eff - 2
        if diagonal:   # a diagonal C has d, not d^2 / 2, entries to learn: pycma's *_sep rates
            c_c = (1 + 1 / d + mu_eff / d) / (math.sqrt(d) + 1 / d + 2 * mu_eff / d)
            c_1 = 1 / (d + 2 * math.sqrt(d) + mu_eff / d)
            c_mu = min(1 - c_1, rank_mu / (d + 4 * math.sqrt(d) + mu_eff / 2))
        else:
            c_c = (4 + mu_eff / d) / (d + 4 + 2 * mu_eff / d)
            c_1 = min(1.0, lam / 6) * 2 / ((d + 1.3) ** 2 + mu_eff)
            c_mu = min(1 - c_1, 2 * rank_mu / ((d + 2) ** 2 + mu_eff))
        chi_n = math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (21 * d * d))
        return cls(w, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n)


def eigen(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B and the axis lengths D (sqrt of the eigenvalues) of C; a diagonal C is its own."""
    if cov.dim() == 1:
        return torch.ones(()), cov.clamp_min(1e-300).sqrt()
    values, vectors = torch.linalg.eigh(cov)
    return vectors, values.clamp_min(1e-300).sqrt()


def cma_update(state: CMAState, eps: torch.Tensor, scores: np.ndarray, k: CMAConstants) -> CMAState:
    """The next state after members ``eps`` (P, D) = sigma y scored ``scores`` (P,)."""
    diagonal = state.cov.dim() == 1
    best = np.argsort(-scores, kind="stable")[:len(k.weights)]
    y = eps.double()[torch.from_numpy(best)] / state.sigma          # (mu, D), best first
    w = torch.from_numpy(k.weights)
    y_w = w @ y
    b, axes = eigen(state.cov)
    c_inv_sqrt_y_w = y_w / axes if diagonal else b @ ((b.T @ y_w) / axes)
    path_sigma = ((1 - k.c_sigma) * state.path_sigma
                  + math.sqrt(k.c_sigma * (2 - k.c_sigma) * k.mu_eff) * c_inv_sqrt_y_w)
    norm = float(path_sigma.norm())
    stall = norm / math.sqrt(1 - (1 - k.c_sigma) ** (2 * (state.generation + 1))) >= (1.4 + 2 / (len(y_w) + 1)) * k.chi_n
    h_sigma = 0.0 if stall else 1.0
    path_c = (1 - k.c_c) * state.path_c + h_sigma * math.sqrt(k.c_c * (2 - k.c_c) * k.mu_eff) * y_w
    rank_one = path_c * path_c if diagonal else torch.outer(path_c, path_c)
    rank_mu = w @ (y * y) if diagonal else (y.T * w) @ y
    decay = 1 - k.c_1 - k.c_mu + (1 - h_sigma) * k.c_1 * k.c_c * (2 - k.c_c)
    cov = decay * state.cov + k.c_1 * rank_one + k.c_mu * rank_mu
    if not diagonal:
        cov = (cov + cov.T) / 2   # keep C exactly symmetric against rounding
    sigma = state.sigma * math.exp(k.c_sigma / k.d_sigma * (norm / k.chi_n - 1))
    psi = (state.psi.double() + state.sigma * y_w).to(state.psi.dtype)
    return replace(state, psi=psi, sigma=sigma, cov=cov, path_sigma=path_sigma, path_c=path_c,
                   generation=state.generation + 1)


class CMAES(Strategy):
    name = "cma_es"
    title = "cma_es: CMA-ES (full covariance, or sep-CMA-ES for large psi)"
    Config, State = CMAESConfig, CMAState
    min_population = 4   # mu = lam / 2 >= 2: fewer make the rank-mu update and mu_eff degenerate
    health_names = ("sigma", "axis_ratio", "step_norm")

    def __init__(self, config):
        self.seed, self.population, self.settings = config.seed, config.nes.population, config.nes.cma_es

    def diagonal(self, dimension: int) -> bool:
        mode = self.settings.covariance
        return mode == "diagonal" or (mode == "auto" and dimension > self.settings.full_max_dim)

    def initial_state(self, psi):
        d = psi.numel()
        cov = torch.ones(d, dtype=torch.float64) if self.diagonal(d) else torch.eye(d, dtype=torch.float64)
        zeros = torch.zeros(d, dtype=torch.float64)
        return CMAState(psi=psi, sigma=self.settings.sigma_init, cov=cov, path_sigma=zeros, path_c=zeros.clone(),
                        generation=0)

    def ask(self, state, iteration):
        z = torch.stack([standard_normal(self.seed, iteration, i, state.psi.numel())
                         for i in range(self.population)]).double()
        b, axes = eigen(state.cov)
        y = z * axes if state.cov.dim() == 1 else (z * axes) @ b.T
        return (state.sigma * y).float()

    def tell(self, state, eps, scores):
        new = state
        if scores.any_finite:
            constants = CMAConstants.of(eps.shape[1], len(eps), state.cov.dim() == 1)
            new = cma_update(state, eps, scores.scores_plus, constants)
        _, axes = eigen(new.cov)
        return new, {"sigma": new.sigma, "axis_ratio": float(axes.max() / axes.min()),
                     "step_norm": float((new.psi - state.psi).norm())}
