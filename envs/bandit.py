"""``BanditEnv``: one learned contextual-bandit SE as a gymnasium.Env.

Spec (``models/bandit_env_nets.py`` has the networks; ``envs/bandit_vec.py`` the batched form
agents train on, which pays the same rewards for the same states and actions):
- observation: the real env's state vector (a float32 Box with the real env's bounds);
- action: the real env's action space;
- start state: the start-state network's output for a standard-normal latent drawn from this env's
  ``np_random``, clipped into the real env's bounds where they are finite;
- step: the reward network's reward for concat(action, state), action one-hot and first; every
  episode is this one step (``terminated`` True, ``truncated`` False), and the returned observation
  is the state itself;
- ``spec`` (once ``gymnasium.make`` sets it): the real env's ``max_episode_steps`` and ``reward_threshold``.
"""
import numpy as np
import torch

from envs.learned_env import LearnedEnv
from models.bandit_env_nets import BanditEnvNets


class BanditEnv(LearnedEnv):
    def __init__(self, nets: BanditEnvNets, env_id: str, member: int = 0, render_mode: str | None = None):
        super().__init__(env_id, render_mode)
        self.nets = nets.with_flat(nets.to_flat()[member:member + 1])
        self._state = np.zeros(self.observation_space.shape, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        latent = self.np_random.standard_normal(self.nets.latent_dim).astype(np.float32)
        state = self.nets.start_states(torch.from_numpy(latent).reshape(1, 1, -1))
        self._state = state.reshape(-1).numpy().astype(np.float32)
        return self._state.copy(), {}

    def step(self, action):
        reward = self.nets.rewards(self._action_tensor(action), torch.from_numpy(self._state).reshape(1, 1, -1))
        return self._state.copy(), float(reward.item()), True, False, {}
