"""Fitness shaping shared by the strategies: scores become rank-based weights, so a strategy's step
does not depend on the scale of the scores (an SE's returns, an RN's step counts) nor on outliers.

Ties rank by member index (a stable sort), so equal scores always give the same weights.
"""
import math

import numpy as np


def ranks(values: np.ndarray) -> np.ndarray:
    """0 for the lowest value up to n - 1 for the highest, as float64."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.size, dtype=np.float64)
    out[np.argsort(values, kind="stable")] = np.arange(values.size)
    return out


def centered_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [-0.5, 0.5] (``compute_centered_ranks`` of OpenAI's evolution-strategies-starter,
    es.py; pgpelib's ``solution_ranking``)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        return np.zeros(1)
    return ranks(values) / (values.size - 1) - 0.5


def nes_utilities(population: int) -> np.ndarray:
    """Utilities of ranks 1 (best) .. population, zero-mean (Wierstra et al. 2014, JMLR, eq. in Sec.
    3.1; SNES, Schaul et al. 2011): u_k = max(0, ln(lam/2 + 1) - ln k) / sum_j max(...) - 1/lam."""
    k = np.arange(1, population + 1, dtype=np.float64)
    raw = np.maximum(0.0, math.log(population / 2 + 1) - np.log(k))
    return raw / raw.sum() - 1.0 / population


def cma_weights(population: int) -> np.ndarray:
    """Positive recombination weights of the best mu = floor(lam/2) samples, best first, summing to 1
    (Hansen 2016, "The CMA Evolution Strategy: A Tutorial", eq. 49 without the negative weights):
    w_i proportional to ln((lam + 1) / 2) - ln i."""
    mu = population // 2
    raw = math.log((population + 1) / 2) - np.log(np.arange(1, mu + 1, dtype=np.float64))
    return raw / raw.sum()


def by_rank(weights_best_first: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each member's weight: the weight of its rank (best score first) in ``scores``."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    out = np.zeros(len(order), dtype=np.float64)
    out[order[:len(weights_best_first)]] = weights_best_first
    return out
