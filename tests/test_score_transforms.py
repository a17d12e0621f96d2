import math

import numpy as np
import pytest

from nes.score_transforms import (
    SCORE_TRANSFORMS,
    all_above_mean_orig_max,
    all_above_mean_orig_sum,
    linear_rank,
    min_max_normalise,
    nes_fitness_shaping,
    nes_fitness_shaping_zero_mean,
    score_transform,
    single_best,
    single_best_above_mean_orig,
)

# Scores whose unperturbed mean (3.0) lies between the members' scores.
SCORES_MIXED = np.array([1.0, 4.0, 2.0, 6.0])
SCORES_ORIG_MEAN_3 = np.array([2.0, 4.0, 3.0, 3.0])


def test_registry_maps_codes_to_functions():
    assert SCORE_TRANSFORMS == {
        0: min_max_normalise,
        1: linear_rank,
        2: nes_fitness_shaping_zero_mean,
        3: nes_fitness_shaping,
        4: single_best,
        5: single_best_above_mean_orig,
        6: all_above_mean_orig_max,
        7: all_above_mean_orig_sum,
    }


def test_min_max_normalise():
    out = min_max_normalise(np.array([1.0, 0.0, 5.0]), np.zeros(3))
    np.testing.assert_allclose(out, [0.2, 0.0, 1.0], rtol=0, atol=1e-9)


def test_min_max_normalise_constant_scores_gives_zeros():
    out = min_max_normalise(np.array([3.0, 3.0]), np.zeros(2))
    np.testing.assert_array_equal(out, [0.0, 0.0])


def test_linear_rank():
    out = linear_rank(np.array([1.0, 0.0, 5.0]), np.zeros(3))
    np.testing.assert_allclose(out, [0.5, 0.0, 1.0], rtol=1e-12)


def test_linear_rank_ties_give_lower_index_lower_rank():
    out = linear_rank(np.array([2.0, 2.0, 1.0]), np.zeros(3))
    np.testing.assert_allclose(out, [0.5, 1.0, 0.0], rtol=1e-12)


def _nes_expected_p4():
    # scores [3, 1, 4, 2] rank (1 = best) as [2, 4, 1, 3]; log(P/2 + 1) = log(3).
    util = np.array([
        max(0.0, math.log(3) - math.log(2)),
        max(0.0, math.log(3) - math.log(4)),
        max(0.0, math.log(3) - math.log(1)),
        max(0.0, math.log(3) - math.log(3)),
    ])
    return util / util.sum()


def test_nes_fitness_shaping():
    out = nes_fitness_shaping(np.array([3.0, 1.0, 4.0, 2.0]), np.zeros(4))
    expected = np.array([math.log(1.5) / math.log(3), 0.0, 1.0, 0.0])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)
    util = _nes_expected_p4()
    np.testing.assert_allclose(out, util / util.max(), rtol=1e-12, atol=1e-15)


def test_nes_fitness_shaping_zero_mean():
    out = nes_fitness_shaping_zero_mean(np.array([3.0, 1.0, 4.0, 2.0]), np.zeros(4))
    util = _nes_expected_p4() - 0.25
    top = math.log(3) / math.log(4.5) - 0.25
    expected = np.array([
        (math.log(1.5) / math.log(4.5) - 0.25) / top,
        -0.25 / top,
        1.0,
        -0.25 / top,
    ])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(out, util / util.max(), rtol=1e-12)


def test_nes_fitness_shaping_ties_favour_lower_index():
    np.testing.assert_allclose(nes_fitness_shaping(np.array([1.0, 1.0]), np.zeros(2)), [1.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(
        nes_fitness_shaping_zero_mean(np.array([1.0, 1.0]), np.zeros(2)), [1.0, -1.0], rtol=1e-12
    )


def test_single_best_first_index_on_ties():
    out = single_best(np.array([1.0, 5.0, 5.0, 0.0]), np.zeros(4))
    np.testing.assert_array_equal(out, [0.0, 1.0, 0.0, 0.0])


def test_single_best_above_mean_orig():
    out = single_best_above_mean_orig(SCORES_MIXED, SCORES_ORIG_MEAN_3)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 1.0])


def test_all_above_mean_orig_max():
    out = all_above_mean_orig_max(SCORES_MIXED, SCORES_ORIG_MEAN_3)
    np.testing.assert_allclose(out, [0.0, 1.0 / 3.0, 0.0, 1.0], rtol=1e-12)


def test_all_above_mean_orig_sum():
    out = all_above_mean_orig_sum(SCORES_MIXED, SCORES_ORIG_MEAN_3)
    np.testing.assert_allclose(out, [0.0, 0.25, 0.0, 0.75], rtol=1e-12)


@pytest.mark.parametrize("transform_type", [5, 6, 7])
def test_above_mean_orig_all_below_gives_zeros(transform_type):
    out = score_transform(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]), transform_type)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("transform_type", [5, 6, 7])
def test_above_mean_orig_needs_margin(transform_type):
    out = score_transform(np.array([3.0 + 1e-7, 1.0]), np.array([3.0, 3.0]), transform_type)
    np.testing.assert_array_equal(out, [0.0, 0.0])


@pytest.mark.parametrize("transform_type", sorted(SCORE_TRANSFORMS))
def test_keeps_shape_dtype_and_does_not_mutate(transform_type):
    scores = np.array([0.5, -1.0, 2.0, 2.0, 0.0])
    scores_orig = np.array([0.0, 1.0, 0.5, -0.5, 0.25])
    scores_copy, orig_copy = scores.copy(), scores_orig.copy()
    out = SCORE_TRANSFORMS[transform_type](scores, scores_orig)
    assert out.shape == scores.shape
    assert out.dtype == np.float64
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(scores, scores_copy)
    np.testing.assert_array_equal(scores_orig, orig_copy)


@pytest.mark.parametrize(
    "transform_type, expected",
    [(0, 0.0), (1, 1.0), (2, 0.0), (3, 1.0), (4, 1.0), (5, 1.0), (6, 1.0), (7, 1.0)],
)
def test_single_member_population(transform_type, expected):
    out = score_transform(np.array([2.0]), np.array([1.0]), transform_type)
    np.testing.assert_array_equal(out, [expected])


def test_score_transform_dispatches():
    np.testing.assert_allclose(score_transform(np.array([1.0, 0.0, 5.0]), np.zeros(3), 1), [0.5, 0.0, 1.0])


@pytest.mark.parametrize("transform_type", [-1, 8, 42])
def test_unknown_code_raises(transform_type):
    with pytest.raises(ValueError, match=f"unknown score transform {transform_type}; choose one of 0-7"):
        score_transform(np.zeros(3), np.zeros(3), transform_type)
