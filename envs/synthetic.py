"""``SyntheticEnv``: one learned synthetic environment as a gymnasium.Env.

Spec:
- observation: the real env's state vector (a float32 Box with the real env's bounds; states are
  clipped into them where they are finite);
- action: the real env's action space;
- transition: next state, reward and done come from three MLPs on concat(action, state), action
  one-hot and first; done is ``done_net(x) > 0.5`` (``terminated``), and ``info["done_value"]`` is
  the raw output (what the paper's agents put in their TD target);
- start state: drawn from the real env's own reset, seeded from this env's ``np_random``;
- episode end: terminated as above, truncated at the real env's step limit;
- ``spec`` (once ``gymnasium.make`` sets it): the real env's ``max_episode_steps`` and ``reward_threshold``.
"""
import numpy as np
import torch

from envs.learned_env import LearnedEnv
from envs.real import make_real_env
from envs.state_bounds import StateClipper
from models.synthetic_env_nets import SyntheticEnvNets


class SyntheticEnv(LearnedEnv):
    def __init__(self, nets: SyntheticEnvNets, env_id: str, member: int = 0, render_mode: str | None = None):
        super().__init__(env_id, render_mode)
        self.nets = nets.with_flat(nets.to_flat()[member:member + 1])
        self.real = make_real_env(env_id)
        self.clip = StateClipper(self.spec_real)
        self._state = np.zeros(self.observation_space.shape, dtype=np.float32)
        self._elapsed = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state, _ = self.real.reset(seed=int(self.np_random.integers(2**31)))
        self._state = np.asarray(self._state, dtype=np.float32)
        self._elapsed = 0
        return self._state.copy(), {}

    def step(self, action):
        state = torch.from_numpy(self._state).reshape(1, 1, -1)
        next_state, reward, done = self.nets.raw_outputs(self._action_tensor(action), state)
        self._state = self.clip(next_state).reshape(-1).numpy().astype(np.float32)
        self._elapsed += 1
        terminated = bool(done.item() > 0.5)
        truncated = not terminated and self._elapsed >= self.spec_real.max_steps
        return self._state.copy(), float(reward.item()), terminated, truncated, {"done_value": float(done.item())}

    def close(self):
        self.real.close()
