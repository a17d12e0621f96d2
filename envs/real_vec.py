"""The real env for a population: P members x B episodes, stepped together.

Every episode is reset with a seed drawn from its member's own generator, so what a member sees
never depends on which other members share the batch. CartPole and Acrobot step all P x B
episodes in one numpy call (``_BATCHED``); other envs step a list of single envs.
"""
from functools import partial

import numpy as np
import torch

from envs.acrobot_vec import AcrobotVecEnv
from envs.cartpole_vec import CartPoleVecEnv
from envs.real import env_info_keys, make_real_env, real_env_spec


# Envs stepped as one numpy batch of P x B episodes rather than one single env each. Each is made
# from (num_envs, max_episode_steps) and offers ``restart(index, single, obs)`` (start episode
# ``index`` where the single env just reset to ``obs``), ``step(actions, keep, obs)`` (advance the
# ``keep`` episodes only; ``obs`` are the current observations) and ``close()``.
_BATCHED = {
    "CartPole-v0": partial(CartPoleVecEnv, "CartPole-v0"),
    "CartPole-v1": partial(CartPoleVecEnv, "CartPole-v1"),
    "Acrobot-v1": AcrobotVecEnv,
}


class RealVecEnv:
    """Same stepping interface as ``SyntheticVecEnv`` (without autoreset), on the real env."""

    def __init__(self, env_id: str, seeds: list[int], episodes_per_member: int = 1):
        self.spec = real_env_spec(env_id)
        self.population, self.episodes = len(seeds), episodes_per_member
        self.generators = [np.random.default_rng(seed) for seed in seeds]
        total = self.population * self.episodes
        # A batched env still resets through one single env: that is each episode's seeded start.
        self.batch = _BATCHED[env_id](total, self.spec.max_steps) if env_id in _BATCHED else None
        self.singles = [make_real_env(env_id) for _ in range(1 if self.batch else total)]
        self.obs = np.zeros((self.population, self.episodes, self.spec.state_dim), dtype=np.float32)
        self.steps_used = np.zeros(self.population, dtype=np.int64)   # real-env steps per member
        # The last step's info vector per episode (reward networks read it); zeros where none stepped.
        self.info_keys = env_info_keys(env_id)
        self.last_info = torch.zeros(self.population, self.episodes, len(self.info_keys))

    def reset(self, members: torch.Tensor | None = None) -> torch.Tensor:
        """Restart all episodes of the ``members`` mask (default all) from their own seeds."""
        mask = np.ones(self.population, dtype=bool) if members is None else members.numpy()
        for m in np.flatnonzero(mask):
            for b, seed in enumerate(self.generators[m].integers(2**31, size=self.episodes)):
                index = m * self.episodes + b
                env = self.singles[0] if self.batch else self.singles[index]
                self.obs[m, b], _ = env.reset(seed=int(seed))
                if self.batch:
                    self.batch.restart(index, env, self.obs[m, b])
        return torch.from_numpy(self.obs.copy())

    def step(self, actions: torch.Tensor, active: torch.Tensor | None = None):
        """Advance the episodes of ``active`` members (P,) or slots (P, B).

        Returns (obs, reward, terminated, truncated, final_obs), each with leading dims (P, B).
        """
        keep = np.ones((self.population, self.episodes), dtype=bool)
        if active is not None:
            keep &= active.numpy()[:, None] if active.dim() == 1 else active.numpy()
        flat_actions = actions.numpy().reshape(self.population * self.episodes, *actions.shape[2:])
        shape = keep.shape
        if self.batch:
            obs, reward, terminated, truncated = self.batch.step(
                flat_actions, keep.reshape(-1), self.obs.reshape(-1, self.spec.state_dim))
            obs = np.where(keep[..., None], obs.reshape(*shape, -1), self.obs)
            reward, terminated, truncated = (x.reshape(shape) for x in (reward, terminated, truncated))
        else:
            obs = self.obs.copy()
            reward = np.zeros(shape)
            terminated = np.zeros(shape, dtype=bool)
            truncated = np.zeros(shape, dtype=bool)
            info_vector = np.zeros((*shape, len(self.info_keys)), dtype=np.float32)
            for i in np.flatnonzero(keep.reshape(-1)):
                m, b = divmod(i, self.episodes)
                obs[m, b], reward[m, b], terminated[m, b], truncated[m, b], info = self.singles[i].step(flat_actions[i])
                if self.info_keys:
                    info_vector[m, b] = [info[key] for key in self.info_keys]
            self.last_info = torch.from_numpy(info_vector)
        reward, terminated, truncated = reward * keep, terminated & keep, truncated & keep
        self.steps_used += keep.sum(axis=1)
        self.obs = obs.astype(np.float32)
        final = torch.from_numpy(self.obs.copy())
        return (final, torch.from_numpy(reward).float(), torch.from_numpy(terminated),
                torch.from_numpy(truncated), final)

    @torch.no_grad()
    def test(self, policy, active: torch.Tensor) -> torch.Tensor:
        """Mean return of one episode in each of the B slots per active member (NaN elsewhere).

        ``policy`` maps observations (P, B, state_dim) to actions (P, B[, action_dim]).
        """
        running = active[:, None].repeat(1, self.episodes)
        obs = self.reset(active)
        returns = torch.zeros(self.population, self.episodes, dtype=torch.float64)
        for _ in range(self.spec.max_steps):
            obs, reward, terminated, truncated, _ = self.step(policy(obs), running)
            returns += torch.where(running, reward.double(), 0.0)
            running &= ~(terminated | truncated)
            if not running.any():
                break
        means = returns.mean(dim=1)
        return torch.where(active, means, torch.full_like(means, float("nan")))

    def close(self) -> None:
        if self.batch:
            self.batch.close()
        for env in self.singles:
            env.close()
