"""InitialStateSampler: a member's k-th start state depends only on its seed and k."""
import numpy as np

from envs.initial_states import InitialStateSampler


def test_a_member_draws_the_same_starts_alone_as_in_a_population():
    together = InitialStateSampler("CartPole-v0", [5, 6, 7])
    alone = InitialStateSampler("CartPole-v0", [6])
    together.sample([0, 2], 3)
    first_together, second_together = together.sample([1], 2), together.sample([1, 2], 1)
    first_alone, second_alone = alone.sample([0], 2), alone.sample([0], 1)
    assert np.array_equal(first_together[0], first_alone[0])
    assert np.array_equal(second_together[0], second_alone[0])


def test_draws_have_the_requested_shape_and_differ_between_members():
    states = InitialStateSampler("Acrobot-v1", [1, 2]).sample([0, 1], 4)
    assert states.shape == (2, 4, 6) and states.dtype == np.float32
    assert not np.array_equal(states[0], states[1])
    assert len({tuple(s) for s in states[0]}) == 4
