"""The paper's SE early-out rule (env_solved in agents/base_agent.py @ 7070963): stop when two
disjoint windows of episode returns agree."""
from agents.training import plateaued


def test_an_empty_earlier_window_never_counts():
    assert not plateaued([5.0, 5.0, 5.0], window=3, rel_diff=0.5)
    assert not plateaued([], window=3, rel_diff=0.5)


def test_a_short_earlier_window_counts_as_in_the_paper():
    # recent = mean(5, 5, 5), earlier = the one return before them.
    assert plateaued([5.0, 5.0, 5.0, 5.0], window=3, rel_diff=0.01)
    assert not plateaued([8.0, 5.0, 5.0, 5.0], window=3, rel_diff=0.3)


def test_constant_returns_have_plateaued():
    assert plateaued([10.0] * 20, window=10, rel_diff=0.01)


def test_compares_the_last_window_with_the_disjoint_window_before_it():
    # recent = mean(20, 20, 20) = 20, earlier = mean(10, 10, 10) = 10: a change of 1.
    returns = [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]
    assert not plateaued(returns, window=3, rel_diff=0.99)
    assert plateaued(returns, window=3, rel_diff=1.01)


def test_only_the_last_two_windows_matter():
    assert plateaued([1000.0, -50.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0], window=3, rel_diff=0.01)
    # A shifted-by-one window would see (10, 10, 13) vs (10, 10, 10); disjoint windows see 11 vs 10.
    assert not plateaued([10.0, 10.0, 10.0, 10.0, 10.0, 13.0], window=3, rel_diff=0.05)


def test_change_is_relative_to_the_magnitude_of_the_earlier_mean():
    # earlier = -10, recent = -10.05: |recent - earlier| / |earlier| = 0.005.
    returns = [-10.0, -10.0, -10.05, -10.05]
    assert plateaued(returns, window=2, rel_diff=0.0051)
    assert not plateaued(returns, window=2, rel_diff=0.0049)


def test_zero_mean_before_does_not_divide_by_zero():
    assert plateaued([0.0, 0.0, 0.0, 0.0], window=2, rel_diff=0.01)
    assert not plateaued([0.0, 0.0, 1.0, 1.0], window=2, rel_diff=0.01)
