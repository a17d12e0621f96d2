"""``LearnedEnv``: what every learned env shares as a gymnasium.Env, standing in for a real env."""
import dataclasses

import gymnasium as gym
import numpy as np
import torch

from envs.real import make_real_env, real_env_spec
from envs.state_bounds import observation_space


class LearnedEnv(gym.Env):
    """Base of the gymnasium envs of learned SEs (``SyntheticEnv``, ``BanditEnv``).

    It declares the real env's spaces (actions as the real env takes them; observations as a
    float32 Box with the real env's bounds, inside which the SE's states are clipped), and its
    ``spec``, whenever one is set (``gymnasium.make`` sets it after building the env, from the
    registered id), carries the real env's step limit and solved threshold: Stable-Baselines3 and
    other libraries read those two from ``env.spec`` and should treat the SE like the real env.
    """

    metadata = {"render_modes": []}

    def __init__(self, env_id: str, render_mode: str | None = None):
        super().__init__()
        if render_mode is not None:
            raise ValueError(f"a synthetic env cannot render: render_mode must be None, got {render_mode!r}")
        self.spec_real = real_env_spec(env_id)
        self._spec = None
        real = make_real_env(env_id)
        self.action_space = real.action_space
        real.close()
        self.observation_space = observation_space(self.spec_real)

    @property
    def spec(self):
        return self._spec

    @spec.setter
    def spec(self, spec) -> None:
        self._spec = None if spec is None else dataclasses.replace(
            spec, max_episode_steps=self.spec_real.max_steps, reward_threshold=self.spec_real.solved_reward)

    def _action_tensor(self, action) -> torch.Tensor:
        """``action`` checked and shaped (1, 1[, A]) for the SE's networks; a continuous action in
        float32, as agents hand it to the batched SEs (a float64 one would compute the SE in float64)."""
        self._check_action(action)
        discrete = isinstance(self.action_space, gym.spaces.Discrete)
        values = np.asarray(action) if discrete else np.asarray(action, dtype=np.float32)
        return torch.as_tensor(values).reshape(1, 1, *np.shape(action))

    def _check_action(self, action) -> None:
        """The real env's action space decides what is an action (a float is no discrete action);
        a continuous action needs its shape and finite values (out-of-bound values are the SE's to
        judge, as the real envs clip them)."""
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            valid = space.contains(action)
        else:
            values = np.asarray(action)
            valid = (values.shape == space.shape and np.issubdtype(values.dtype, np.number)
                     and bool(np.isfinite(values).all()))
        if not valid:
            raise ValueError(f"action {action!r} is outside the action space {space}")
