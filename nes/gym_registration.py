"""Learned environments as registered gymnasium envs, so any gymnasium library can train on them.

``import nes`` registers two ids (both take the model file, ours or the paper's, as ``model``):

- ``SynthEnv/Synthetic-v0``: a saved synthetic environment of either kind (``SyntheticEnv`` for an
  MDP SE, which truncates at the real env's step limit; ``BanditEnv`` for a bandit SE, whose
  episodes are one step): observation and action spaces of the real env it imitates, and a
  ``spec`` with that env's ``max_episode_steps`` and ``reward_threshold``;
- ``SynthEnv/Reward-v0``: the real env with a saved reward network's reward (``RewardEnv``;
  ``gamma``, the discount of potential-based types, defaults to the model's inner agent's).

    import gymnasium as gym, nes  # noqa: F401  (registers the ids)
    env = gym.make("SynthEnv/Synthetic-v0", model="zoo/CartPole-v0/cartpole_se_seed0.pt")
"""
from pathlib import Path

import gymnasium as gym

NAMESPACE = "SynthEnv"
SYNTHETIC_ID = f"{NAMESPACE}/Synthetic-v0"
REWARD_ID = f"{NAMESPACE}/Reward-v0"


def make_synthetic_env(model: str | Path, render_mode: str | None = None) -> gym.Env:
    from common.errors import UserError
    from envs.bandit import BanditEnv
    from envs.synthetic import SyntheticEnv
    from nes.model_files import RN_KIND, load_synthetic_env, read_model_file

    if render_mode is not None:  # before the model is read: the answer does not depend on it
        raise ValueError(f"{SYNTHETIC_ID} cannot render: render_mode must be None, got {render_mode!r}")
    if read_model_file(Path(model)).get("kind") == RN_KIND:
        raise UserError(f"{model} holds a reward network; make it with gymnasium.make('{REWARD_ID}', model=...)")
    nets, config = load_synthetic_env(Path(model))
    env_class = BanditEnv if config.synthetic_env.kind == "bandit" else SyntheticEnv
    return env_class(nets, config.env)


def make_reward_env(model: str | Path, gamma: float | None = None, render_mode: str | None = None) -> gym.Env:
    from common.errors import UserError
    from envs.real import make_real_env
    from envs.reward_env import RewardEnv
    from nes.model_files import RN_KIND, load_reward_env, read_model_file

    if read_model_file(Path(model)).get("kind") != RN_KIND:
        raise UserError(f"{model} holds a synthetic env; make it with gymnasium.make('{SYNTHETIC_ID}', model=...)")
    nets, config = load_reward_env(Path(model))
    gamma = getattr(config.agent_config(), "gamma", 0.99) if gamma is None else gamma
    # The real env draws itself: its own render modes, checked by gymnasium as for any env.
    return RewardEnv(make_real_env(config.env, render_mode), nets, gamma=gamma)


def register_envs() -> None:
    """Register both ids (again-safe: gymnasium keeps the last registration)."""
    if SYNTHETIC_ID not in gym.registry:
        gym.register(SYNTHETIC_ID, entry_point=make_synthetic_env)
    if REWARD_ID not in gym.registry:
        gym.register(REWARD_ID, entry_point=make_reward_env)
