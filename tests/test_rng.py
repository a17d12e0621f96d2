"""MemberStreams and derive_seed: per-member random streams independent of the population."""
import itertools

import numpy as np
import torch

from common.rng import MemberStreams, derive_seed

SEEDS = [11, 12, 13]


def draw_sequence(streams: MemberStreams, high: list[int]) -> list[torch.Tensor]:
    return [streams.uniform(4), streams.integers(torch.tensor(high), 6), streams.normal(5), streams.uniform(2)]


def test_a_member_draws_the_same_numbers_alone_as_in_a_population():
    together = draw_sequence(MemberStreams(SEEDS), [3, 5, 7])
    alone = draw_sequence(MemberStreams([12]), [5])
    for in_population, by_itself in zip(together, alone):
        assert torch.equal(in_population[1], by_itself[0])


def test_inactive_members_do_not_advance():
    streams = MemberStreams(SEEDS)
    streams.uniform(3, active=torch.tensor([True, False, True]))
    assert streams.counters.tolist() == [1, 0, 1]
    next_draw = streams.uniform(3)
    assert torch.equal(next_draw[1], MemberStreams([12]).uniform(3)[0])
    assert not torch.equal(next_draw[0], MemberStreams([11]).uniform(3)[0])


def test_each_draw_advances_the_counter_by_one():
    streams = MemberStreams(SEEDS)
    first, second = streams.uniform(8), streams.uniform(8)
    assert streams.counters.tolist() == [2, 2, 2]
    assert not torch.equal(first, second)


def test_uniform_lies_in_the_half_open_unit_interval():
    u = MemberStreams(list(range(8))).uniform(5000)
    assert u.dtype == torch.float32 and u.shape == (8, 5000)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01


def test_different_seeds_give_different_streams():
    u = MemberStreams([1, 2]).uniform(16)
    assert not torch.equal(u[0], u[1])


def test_integers_respect_each_members_upper_bound():
    high = torch.tensor([1, 2, 1000])
    values = MemberStreams(SEEDS).integers(high, 4000)
    assert values.dtype == torch.int64
    assert values[0].unique().tolist() == [0]
    assert values[1].unique().tolist() == [0, 1]
    assert int(values[2].min()) >= 0 and int(values[2].max()) <= 999
    assert int(values[2].max()) > 990 and int(values[2].min()) < 10


def test_normal_has_zero_mean_and_unit_variance():
    z = MemberStreams([5]).normal(20000)[0]
    assert torch.isfinite(z).all()
    assert abs(float(z.mean())) < 0.03 and abs(float(z.std()) - 1.0) < 0.03



def test_derive_seed_is_deterministic_and_32_bit():
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    assert 0 <= derive_seed(1, 2, 3) < 2**32


def test_derive_seed_differs_for_permuted_or_changed_parts():
    seeds = {derive_seed(*parts) for parts in [(1, 2, 3), (3, 2, 1), (1, 2, 4), (2, 1, 3)]}
    assert len(seeds) == 4


def test_derive_seed_is_distinct_over_a_grid_of_run_iteration_member_tuples():
    tuples = list(itertools.product(range(4), range(10), range(16)))
    assert len({derive_seed(*t) for t in tuples}) == len(tuples)


def test_derive_seed_distinguishes_tuples_that_differ_by_trailing_zeros():
    # (run seed 5) and (run seed 5, iteration 0) are different tuples and must not share a seed.
    assert derive_seed(5) != derive_seed(5, 0)
    assert derive_seed(5, 1) != derive_seed(5, 1, 0)


def test_the_streams_give_their_recorded_numbers():
    """Values drawn by the first (torch int64) implementation: every recorded result depends on them."""
    streams = MemberStreams([11, 2**33 + 5])
    assert streams.uniform(3).tolist() == [[0.745255708694458, 0.7386685609817505, 0.5417008399963379],
                                           [0.5172162652015686, 0.01139974594116211, 0.29149752855300903]]
    assert streams.integers(torch.tensor([7, 1000]), 3, torch.tensor([True, False])).tolist() == [
        [1, 3, 6], [850, 815, 876]]
    assert streams.uniform(2).tolist() == [[0.2039879560470581, 0.6899780631065369],
                                           [0.8503766059875488, 0.8157139420509338]]
    assert streams.counters.tolist() == [3, 2]



def test_a_few_members_draw_what_a_large_population_draws():
    """Small populations and draws hash on Python ints, large ones in numpy: the same numbers,
    counters past 2**32 included."""
    seeds = [derive_seed(7, member) for member in range(9)]
    counters = np.array([0, 1, 2, 3, 1000, 2**32 - 1, 2**32, 2**32 + 5, 3 * 2**32 + 11], dtype=np.int64)
    for n in (1, 2, 4, 5, 199):
        large = MemberStreams(seeds)
        large.counters[:] = counters
        together = large._bits(n, None)
        for member, seed in enumerate(seeds):
            alone = MemberStreams([seed])
            alone.counters[:] = counters[member]
            assert np.array_equal(alone._bits(n, None)[0], together[member]), (n, member)
