"""Real gymnasium environments: which ones we support and the facts the NES needs about them."""
import warnings
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from common.errors import UserError

# CartPole-v0 is the paper's env; gymnasium marks it as old, which is expected here.
warnings.filterwarnings("ignore", message=".*is out of date.*")

SUPPORTED_ENVS = ("CartPole-v0", "Acrobot-v1")


@dataclass(frozen=True)
class RealEnvSpec:
    """What the SE, the agents and the NES need to know about a real env."""

    env_id: str
    state_dim: int
    action_dim: int          # number of actions for discrete envs, action vector size otherwise
    discrete_actions: bool
    max_steps: int           # gymnasium's TimeLimit
    solved_reward: float     # gymnasium's reward_threshold


def check_env_id(env_id: str) -> None:
    if env_id not in SUPPORTED_ENVS:
        raise UserError(f"unknown env '{env_id}'; choose one of {', '.join(SUPPORTED_ENVS)}")


def make_real_env(env_id: str) -> gym.Env:
    check_env_id(env_id)
    return gym.make(env_id)


def real_env_spec(env_id: str) -> RealEnvSpec:
    env = make_real_env(env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    action_dim = int(env.action_space.n) if discrete else int(np.prod(env.action_space.shape))
    spec = RealEnvSpec(env_id=env_id, state_dim=int(np.prod(env.observation_space.shape)), action_dim=action_dim,
                       discrete_actions=discrete, max_steps=int(env.spec.max_episode_steps),
                       solved_reward=float(env.spec.reward_threshold))
    env.close()
    return spec
