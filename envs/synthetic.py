"""``SyntheticEnv``: one learned synthetic environment as a gymnasium.Env.

Spec:
- observation: the real env's state vector (float32, unbounded Box);
- action: the real env's action space;
- transition: next state, reward and done come from three MLPs on concat(action, state), action
  one-hot and first; done is ``done_net(x) > 0.5`` (``terminated``), and ``info["done_value"]`` is
  the raw output (what the paper's agents put in their TD target);
- start state: drawn from the real env's own reset, seeded from this env's ``np_random``;
- episode end: terminated as above, truncated at the real env's step limit.
"""
import gymnasium as gym
import numpy as np
import torch

from envs.real import make_real_env, real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets


class SyntheticEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, nets: SyntheticEnvNets, env_id: str, member: int = 0, render_mode: str | None = None):
        super().__init__()
        if render_mode is not None:
            raise ValueError(f"a synthetic env cannot render: render_mode must be None, got {render_mode!r}")
        self.spec_real = real_env_spec(env_id)
        self.nets = nets.with_flat(nets.to_flat()[member:member + 1])
        self.real = make_real_env(env_id)
        self.action_space = self.real.action_space
        shape = (self.spec_real.state_dim,)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)
        self._state = np.zeros(shape, dtype=np.float32)
        self._elapsed = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state, _ = self.real.reset(seed=int(self.np_random.integers(2**31)))
        self._state = np.asarray(self._state, dtype=np.float32)
        self._elapsed = 0
        return self._state.copy(), {}

    def step(self, action):
        self._check_action(action)
        actions = torch.as_tensor(np.asarray(action)).reshape(1, 1, *np.shape(action))
        next_state, reward, done = self.nets.raw_outputs(actions, torch.from_numpy(self._state).reshape(1, 1, -1))
        self._state = next_state.reshape(-1).numpy().astype(np.float32)
        self._elapsed += 1
        terminated = bool(done.item() > 0.5)
        truncated = not terminated and self._elapsed >= self.spec_real.max_steps
        return self._state.copy(), float(reward.item()), terminated, truncated, {"done_value": float(done.item())}

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

    def close(self):
        self.real.close()
