"""tests/result_hashes: the same training hashes the same, and a longer one (past its first SE
episode of 200 steps) differently."""
from tests.result_hashes import result_hash


def test_a_training_hashes_the_same_twice_and_differs_from_another():
    once = result_hash("ddqn", "CartPole-v0", 2, 60, True, False)
    assert once == result_hash("ddqn", "CartPole-v0", 2, 60, True, False)
    assert len(once) == 16 and once != result_hash("ddqn", "CartPole-v0", 2, 300, True, False)
