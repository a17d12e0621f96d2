"""CartPoleVecEnv steps exactly as gymnasium's own vector CartPole: the same observations, flags
and rewards, bit for bit, with episodes frozen and restarted along the way."""
import gymnasium as gym
import numpy as np

from envs.cartpole_vec import CartPoleVecEnv
from envs.real import old_env_ids_expected

EPISODES = 6


def test_it_matches_gymnasiums_vector_cartpole_step_for_step():
    with old_env_ids_expected():
        reference = gym.make_vec("CartPole-v0", num_envs=EPISODES, vectorization_mode="vector_entry_point",
                                 max_episode_steps=200)
    reference.reset(seed=0)
    core = reference.unwrapped
    ours = CartPoleVecEnv("CartPole-v0", EPISODES, 200)
    rng = np.random.default_rng(0)
    starts = rng.uniform(-0.05, 0.05, (EPISODES, 4)).astype(np.float32)
    for index in range(EPISODES):
        core.state[:, index], core.steps[index], core.prev_done[index] = starts[index], 0, False
        ours.restart(index, None, starts[index])
    compared = 0
    for _ in range(300):
        actions = rng.integers(0, 2, EPISODES)
        obs, reward, terminated, truncated, _ = reference.step(actions)
        got = ours.step(actions, np.ones(EPISODES, dtype=bool), obs)
        for want, have in zip((obs, reward, terminated, truncated), got):
            assert np.array_equal(want, have)
        compared += 1
        for index in np.flatnonzero(terminated | truncated):   # both restart where the episode ended
            start = rng.uniform(-0.05, 0.05, 4).astype(np.float32)
            core.state[:, index], core.steps[index], core.prev_done[index] = start, 0, False
            ours.restart(index, None, start)
    assert compared == 300


def test_a_frozen_episode_keeps_its_state_and_step_count():
    env = CartPoleVecEnv("CartPole-v0", 2, 200)
    for index in range(2):
        env.restart(index, None, np.array([0.01, 0.02, 0.03, 0.04], dtype=np.float32))
    keep = np.array([True, False])
    obs, reward, terminated, truncated = env.step(np.array([1, 1]), keep, np.zeros((2, 4), np.float32))
    assert not np.array_equal(obs[0], obs[1])
    assert np.array_equal(obs[1], np.array([0.01, 0.02, 0.03, 0.04], dtype=np.float32))
    assert env.steps.tolist() == [1, 0]
