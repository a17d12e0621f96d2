"""Score transforms: turn a NES population's scores into update weights.

Every transform has the signature ``f(scores, scores_orig) -> weights`` where
``scores`` (shape (P,)) are the population members' scores and ``scores_orig``
(shape (P,)) the scores of agents trained on the unperturbed parameters. Inputs
are never modified; outputs are float64 arrays of shape (P,).
``worst_to_floor`` first turns the scores of members whose SE blew up into finite ones.

Types (semantics follow score_transform in agents/GTN_master.py @ 3216697 of Ferreira et al.'s code):
    0  min_max_normalise              (s - min) / (max - min + 1e-9)
    1  linear_rank                    rank / (P - 1), lowest score gets 0
    2  nes_fitness_shaping_zero_mean  NES utilities minus 1/P, divided by max
    3  nes_fitness_shaping            NES utilities, divided by max
    4  single_best                    one-hot at the best score
    5  single_best_above_mean_orig    one-hot at the best score if it beats mean(scores_orig)
    6  all_above_mean_orig_max        excess over mean(scores_orig), divided by max
    7  all_above_mean_orig_sum        excess over mean(scores_orig), divided by sum
"""

from typing import Callable

import numpy as np

# Scores must beat the unperturbed mean by this margin, so that float noise on
# an exact tie does not count as an improvement.
_ABOVE_MEAN_EPS = 1e-6


def min_max_normalise(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    # The epsilon keeps an all-equal population from dividing by zero.
    return (s - s.min()) / (s.max() - s.min() + 1e-9)


def linear_rank(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    if n == 1:
        return np.ones(1, dtype=np.float64)
    ranks = np.empty(n, dtype=np.float64)
    # A stable sort makes ties deterministic: the lower index ranks lower.
    ranks[np.argsort(s, kind="stable")] = np.arange(n)
    return ranks / (n - 1)


def _nes_utilities(scores: np.ndarray) -> np.ndarray:
    """Normalised NES utilities (Wierstra et al. 2014); rank 1 is the best score."""
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    ranks = np.empty(n, dtype=np.float64)
    ranks[np.argsort(-s, kind="stable")] = np.arange(1, n + 1)
    # Only the better half of the population gets a positive utility.
    util = np.maximum(0.0, np.log(n / 2 + 1) - np.log(ranks))
    return util / util.sum()


def nes_fitness_shaping_zero_mean(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    util = _nes_utilities(scores) - 1.0 / np.asarray(scores).size
    top = util.max()
    # With a single member the zero-mean utility is 0: no update rather than NaN.
    return util / top if top > 0 else util


def nes_fitness_shaping(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    util = _nes_utilities(scores)
    return util / util.max()


def single_best(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    weights = np.zeros(np.asarray(scores).size, dtype=np.float64)
    weights[np.argmax(scores)] = 1.0
    return weights


def single_best_above_mean_orig(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if np.any(s > np.mean(scores_orig) + _ABOVE_MEAN_EPS):
        return single_best(s, scores_orig)
    return np.zeros(s.size, dtype=np.float64)


def _excess_over_mean_orig(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    """Excess of each score over mean(scores_orig), zero where it does not beat it."""
    s = np.asarray(scores, dtype=np.float64)
    mean_orig = np.mean(scores_orig)
    return np.where(s > mean_orig + _ABOVE_MEAN_EPS, s - mean_orig, 0.0)


def all_above_mean_orig_max(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    excess = _excess_over_mean_orig(scores, scores_orig)
    # An all-zero excess means no member improved, so no update.
    return excess / excess.max() if excess.any() else excess


def all_above_mean_orig_sum(scores: np.ndarray, scores_orig: np.ndarray) -> np.ndarray:
    excess = _excess_over_mean_orig(scores, scores_orig)
    return excess / excess.sum() if excess.any() else excess


SCORE_TRANSFORMS: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    0: min_max_normalise,
    1: linear_rank,
    2: nes_fitness_shaping_zero_mean,
    3: nes_fitness_shaping,
    4: single_best,
    5: single_best_above_mean_orig,
    6: all_above_mean_orig_max,
    7: all_above_mean_orig_sum,
}


def worst_to_floor(values: np.ndarray) -> np.ndarray:
    """NaN or -inf (an SE that blew up) becomes the population's worst finite value, so that a
    transform ranks such a member last; all of them non-finite become 0."""
    finite = np.isfinite(values)
    floor = values[finite].min() if finite.any() else 0.0
    return np.where(finite, values, floor)


def score_transform(scores: np.ndarray, scores_orig: np.ndarray, transform_type: int) -> np.ndarray:
    """Apply the score transform registered under ``transform_type`` (0-7)."""
    try:
        transform = SCORE_TRANSFORMS[transform_type]
    except KeyError:
        raise ValueError(f"unknown score transform {transform_type}; choose one of 0-7") from None
    return transform(scores, scores_orig)
