"""``SyntheticEnv``: one learned synthetic environment as a gymnasium.Env.

Spec:
- observation: the real env's state vector (float32, unbounded Box);
- action: the real env's action space;
- transition: next state, reward and done come from three MLPs on concat(action, state), action
  one-hot and first; done is ``done_net(x) > 0.5`` (``terminated``);
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

    def __init__(self, nets: SyntheticEnvNets, env_id: str, member: int = 0):
        super().__init__()
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
        actions = torch.as_tensor(np.asarray(action)).reshape(1, 1, *np.shape(action))
        next_state, reward, done = self.nets(actions, torch.from_numpy(self._state).reshape(1, 1, -1))
        self._state = next_state.reshape(-1).numpy().astype(np.float32)
        self._elapsed += 1
        terminated = bool(done.item())
        truncated = not terminated and self._elapsed >= self.spec_real.max_steps
        return self._state.copy(), float(reward.item()), terminated, truncated, {}

    def close(self):
        self.real.close()
