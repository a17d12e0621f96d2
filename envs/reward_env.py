"""The real env with a learned reward: ``RewardEnv`` (one env, a gymnasium wrapper) and
``RewardVecEnv`` (P members x B episodes around a ``RealVecEnv``).

Spec (both forms):
- observation, action, transition, start state and episode end: the real env's, unchanged;
- reward: the reward network's (``models/reward_env_nets.py`` lists the types) computed from the
  previous observation, the next observation, the real reward, the step's info vector and the
  agent's discount gamma; the real reward stays in ``info['env_reward']`` (single form) and in
  the per-member record of real episode returns (vector form).

Agents train on a RewardVecEnv and are tested on a plain ``RealVecEnv``: tests use the real reward.
"""
import gymnasium as gym
import numpy as np
import torch

from envs.real import env_info_keys, real_env_spec
from envs.real_vec import RealVecEnv
from models.reward_env_nets import RewardEnvNets, check_reward_type, uses_info


def _check_fits(nets: RewardEnvNets, spec) -> None:
    check_reward_type(nets.reward_type, spec)
    if nets.state_dim != spec.state_dim or (uses_info(nets.reward_type) and nets.info_dim != spec.info_dim):
        raise ValueError(f"reward networks for state_dim {nets.state_dim} / info_dim {nets.info_dim} do not fit "
                         f"{spec.env_id} (state_dim {spec.state_dim}, info_dim {spec.info_dim})")


def _one_transition(values) -> torch.Tensor:
    """A vector as a (population 1, batch 1, n) float32 tensor."""
    return torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(1, 1, -1)


class RewardEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """One real env (from ``make_real_env``) whose reward comes from member ``member`` of ``nets``."""

    def __init__(self, env: gym.Env, nets: RewardEnvNets, member: int = 0, gamma: float = 0.99):
        gym.utils.RecordConstructorArgs.__init__(self, nets=nets, member=member, gamma=gamma)
        gym.Wrapper.__init__(self, env)
        self.spec_real = real_env_spec(env.spec.id)
        _check_fits(nets, self.spec_real)
        self.nets = nets.with_flat(nets.to_flat()[member:member + 1])
        self.gamma = gamma
        self.info_keys = env_info_keys(env.spec.id)
        self._state = np.zeros(self.spec_real.state_dim, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._state = np.asarray(obs, dtype=np.float32)
        return obs, info

    def step(self, action):
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        infos = _one_transition([info[key] for key in self.info_keys]) if self.info_keys else None
        reward = self.nets.rewards(_one_transition(self._state), _one_transition(obs),
                                   _one_transition(env_reward).reshape(1, 1), infos, self.gamma)
        self._state = np.asarray(obs, dtype=np.float32)
        return obs, float(reward.item()), terminated, truncated, {**info, "env_reward": float(env_reward)}


class RewardVecEnv:
    """P reward networks (one per member) on the members' real episodes: ``SyntheticVecEnv``'s
    stepping interface without autoreset.

    A member whose network produced NaN or inf is flagged in ``nonfinite`` and those rewards
    become 0 so the batch goes on. ``real_returns[m]`` lists member m's finished episodes' real
    returns, ``real_return_steps[m]`` its real-env step count when each ended.
    """

    def __init__(self, real: RealVecEnv, nets: RewardEnvNets, gamma: float | torch.Tensor):
        if nets.population != real.population:
            raise ValueError(f"{nets.population} reward networks for {real.population} members")
        _check_fits(nets, real.spec)
        self.real, self.nets, self.gamma = real, nets, gamma
        self.spec, self.population, self.episodes = real.spec, real.population, real.episodes
        self.nonfinite = torch.zeros(self.population, dtype=torch.bool)
        self.real_returns: list[list[float]] = [[] for _ in range(self.population)]
        self.real_return_steps: list[list[int]] = [[] for _ in range(self.population)]
        self._running = torch.zeros(self.population, self.episodes, dtype=torch.float64)
        self._states = torch.zeros(self.population, self.episodes, self.spec.state_dim)

    @property
    def steps_used(self) -> np.ndarray:
        """Real-env steps per member."""
        return self.real.steps_used

    def reset(self, members: torch.Tensor | None = None) -> torch.Tensor:
        """Restart all episodes of ``members`` (a bool mask, default all); an unfinished episode is dropped."""
        mask = torch.ones(self.population, dtype=torch.bool) if members is None else members
        obs = self.real.reset(mask)
        self._running[mask] = 0.0
        self._states = obs.clone()
        return obs

    def step(self, actions: torch.Tensor, active: torch.Tensor | None = None):
        """Advance the episodes of ``active`` members (P,) or slots (P, B); the others keep their state.

        Returns (obs, reward, terminated, truncated, final_obs), each with leading dims (P, B).
        """
        keep = torch.ones(self.population, self.episodes, dtype=torch.bool)
        if active is not None:
            keep &= active[:, None] if active.dim() == 1 else active
        obs, env_reward, terminated, truncated, final_obs = self.real.step(actions, active)
        infos = self.real.last_info if uses_info(self.nets.reward_type) else None
        reward = self.nets.rewards(self._states, final_obs, env_reward, infos, self.gamma)
        bad_members = (~torch.isfinite(reward) & keep).any(dim=1)
        if bad_members.any():
            self.nonfinite |= bad_members
            reward = torch.nan_to_num(reward, nan=0.0, posinf=0.0, neginf=0.0)
        reward = torch.where(keep, reward, 0.0)
        self._record_real_returns(torch.where(keep, env_reward.double(), 0.0), terminated | truncated)
        self._states = obs.clone()
        return obs, reward, terminated, truncated, final_obs

    def _record_real_returns(self, env_reward: torch.Tensor, ended: torch.Tensor) -> None:
        self._running += env_reward
        for member, slot in torch.nonzero(ended).tolist():
            self.real_returns[member].append(float(self._running[member, slot]))
            self.real_return_steps[member].append(int(self.real.steps_used[member]))
            self._running[member, slot] = 0.0

    def close(self) -> None:
        self.real.close()
