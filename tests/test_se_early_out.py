"""The paper's SE early-out rule: stop when the moving mean of episode returns stops moving."""
from agents.training import plateaued


def test_needs_more_than_window_returns():
    assert not plateaued([5.0, 5.0, 5.0], window=3, rel_diff=0.5)
    assert plateaued([5.0, 5.0, 5.0, 5.0], window=3, rel_diff=0.5)


def test_constant_returns_have_plateaued():
    assert plateaued([10.0] * 11, window=10, rel_diff=0.01)


def test_compares_the_last_window_with_the_window_one_episode_earlier():
    # now = mean(10, 10, 20) = 40/3, before = mean(10, 10, 10) = 10: a change of 1/3.
    returns = [10.0, 10.0, 10.0, 20.0]
    assert not plateaued(returns, window=3, rel_diff=0.3)
    assert plateaued(returns, window=3, rel_diff=0.34)


def test_only_the_last_window_plus_one_returns_matter():
    assert plateaued([1000.0, -50.0, 10.0, 10.0, 10.0, 10.0], window=3, rel_diff=0.01)
    assert not plateaued([10.0, 10.0, 10.0, 10.0, 10.0, 13.0], window=3, rel_diff=0.05)


def test_change_is_relative_to_the_magnitude_of_the_earlier_mean():
    # before = -10, now = -30.05 / 3: |now - before| / |before| = 0.05 / 3 / 10 = 0.00167.
    returns = [-10.0, -10.0, -10.0, -10.05]
    assert plateaued(returns, window=3, rel_diff=0.002)
    assert not plateaued(returns, window=3, rel_diff=0.0016)


def test_zero_mean_before_does_not_divide_by_zero():
    assert plateaued([0.0, 0.0, 0.0], window=2, rel_diff=0.01)
    assert not plateaued([0.0, 0.0, 1.0], window=2, rel_diff=0.01)
