"""Acrobot-v1 stepped as one numpy batch gives exactly what one gymnasium env per episode gives."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from envs.real_vec import RealVecEnv


class SingleEnvs:
    """The reference: one ``gym.make("Acrobot-v1")`` per episode, seeded as RealVecEnv seeds it."""

    def __init__(self, seeds: list[int], episodes: int):
        self.generators = [np.random.default_rng(seed) for seed in seeds]
        self.episodes = episodes
        self.envs = [[gym.make("Acrobot-v1") for _ in range(episodes)] for _ in seeds]
        self.obs = np.zeros((len(seeds), episodes, 6), dtype=np.float32)

    def reset(self, members: np.ndarray) -> np.ndarray:
        for m in np.flatnonzero(members):
            for b, seed in enumerate(self.generators[m].integers(2**31, size=self.episodes)):
                self.obs[m, b], _ = self.envs[m][b].reset(seed=int(seed))
        return self.obs.copy()

    def step(self, actions: np.ndarray, keep: np.ndarray):
        """Frozen episodes are not stepped: their observation stays, reward 0, no flags."""
        reward = np.zeros(keep.shape)
        terminated, truncated = np.zeros(keep.shape, dtype=bool), np.zeros(keep.shape, dtype=bool)
        for m, b in zip(*np.nonzero(keep)):
            self.obs[m, b], reward[m, b], terminated[m, b], truncated[m, b], _ = self.envs[m][b].step(actions[m, b])
        return self.obs.copy(), reward, terminated, truncated

    def states(self) -> np.ndarray:
        """The float64 physics state behind the float32 observations, (P * B, 4)."""
        return np.array([env.unwrapped.state for member in self.envs for env in member], dtype=np.float64)


def swinging_actions(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Torque along the elbow's velocity (reaches the goal in ~100 steps), a third of them random."""
    swing = np.where(obs[..., 5] > 0, 2, 0)
    return np.where(rng.random(obs.shape[:-1]) < 0.3, rng.integers(0, 3, obs.shape[:-1]), swing)


def assert_same_step(batched, reference):
    obs, reward, terminated, truncated, final = batched
    ref_obs, ref_reward, ref_terminated, ref_truncated = reference
    assert np.array_equal(obs.numpy(), ref_obs) and np.array_equal(final.numpy(), ref_obs)
    assert np.array_equal(reward.numpy(), ref_reward.astype(np.float32))
    assert np.array_equal(terminated.numpy(), ref_terminated)
    assert np.array_equal(truncated.numpy(), ref_truncated)


@pytest.mark.parametrize("seeds", [[5, 6, 7], [123, 9]])
def test_batched_acrobot_equals_single_envs_with_frozen_slots_and_restarts(seeds):
    episodes, rng = 3, np.random.default_rng(seeds[0])
    batched, reference = RealVecEnv("Acrobot-v1", seeds, episodes), SingleEnvs(seeds, episodes)
    all_members = np.ones(len(seeds), dtype=bool)
    assert np.array_equal(batched.reset().numpy(), reference.reset(all_members))
    terminations = 0
    for step in range(250):
        if step == 120:   # restart some members mid-run; the others carry on
            restart = rng.random(len(seeds)) < 0.5
            assert np.array_equal(batched.reset(torch.from_numpy(restart)).numpy(), reference.reset(restart))
        actions = swinging_actions(reference.obs, rng)
        # Finished episodes keep stepping where kept: a single env does that too.
        keep = rng.random((len(seeds), episodes)) < 0.8
        step_result = batched.step(torch.from_numpy(actions), torch.from_numpy(keep))
        expected = reference.step(actions, keep)
        assert_same_step(step_result, expected)
        # A last-bit difference hides in the float32 observations for many steps; the state shows it.
        assert np.array_equal(batched.batch.state, reference.states())
        terminations += expected[2].sum()
    assert terminations > 0
    assert batched.last_info.shape == (len(seeds), episodes, 0)
    batched.close()


def test_batched_acrobot_truncates_at_500_steps_like_a_single_env():
    seeds, rng = [31, 32], np.random.default_rng(0)
    batched, reference = RealVecEnv("Acrobot-v1", seeds, 2), SingleEnvs(seeds, 2)
    batched.reset()
    reference.reset(np.ones(2, dtype=bool))
    members = torch.tensor([True, False])   # member 1 stays frozen throughout
    keep = np.array([[True, True], [False, False]])
    for step in range(500):
        actions = rng.integers(0, 3, (2, 2))   # random torques seldom reach the goal
        step_result = batched.step(torch.from_numpy(actions), members)
        expected = reference.step(actions, keep)
        assert_same_step(step_result, expected)
        assert step_result[3].any().item() == (step == 499)
    assert step_result[3].tolist() == [[True, True], [False, False]]
    assert batched.steps_used.tolist() == [2 * 500, 0]
    batched.close()
