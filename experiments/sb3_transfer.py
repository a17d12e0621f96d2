"""Stable-Baselines3 agents trained on learned SEs through gymnasium, tested on the real env.

Another library's agents see an SE only as ``gymnasium.make("SynthEnv/Synthetic-v0", model=...)``,
so this is the test that an SE is an environment and not a fit to our own agents' code. Each run
trains for a fixed number of SE steps (at most 20k in benchmark_learning), then plays 10 real-env
episodes with the deterministic policy. Training stops at the last whole rollout within the
budget (256 steps for CartPole's DQN and PPO). Runs are separate processes (SB3 trains one agent at a
time), ``jobs`` at a time, each with one torch thread.

Stable-Baselines3 is optional: ``available()`` says whether it is installed.
"""
import importlib.util
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from common.rng import derive_seed
from envs.real import make_real_env
from nes.model_files import load_model, model_label

TEST_EPISODES = 10


def _linear(start: float):
    """rl-baselines3-zoo's ``lin_<start>``: decays linearly to 0 over the training."""
    return lambda progress_remaining: progress_remaining * start


# rl-baselines3-zoo's hyperparameters (hyperparams/dqn.yml and ppo.yml @ 22e3ff2, 2026-04), for
# CartPole-v1 (CartPole-v0 is the same task with 200 steps instead of 500) and Acrobot-v1. Their
# n_timesteps (50k DQN, 100k PPO) is replaced by the caller's budget, so DQN's exploration_fraction
# is a share of that budget. The zoo's Acrobot-v1 PPO normalises observations (VecNormalize),
# whose statistics would have to follow the policy to the real env: left out.
HYPERPARAMETERS = {
    ("CartPole-v0", "dqn"): dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
                                 gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
                                 exploration_fraction=0.16, exploration_final_eps=0.04,
                                 policy_kwargs=dict(net_arch=[256, 256])),
    ("CartPole-v0", "ppo"): dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                                 ent_coef=0.0, learning_rate=_linear(1e-3), clip_range=_linear(0.2)),
    ("Acrobot-v1", "dqn"): dict(learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0,
                                gamma=0.99, target_update_interval=250, train_freq=4, gradient_steps=-1,
                                exploration_fraction=0.12, exploration_final_eps=0.1,
                                policy_kwargs=dict(net_arch=[256, 256])),
}


def available() -> bool:
    return importlib.util.find_spec("stable_baselines3") is not None


def algorithms_for(env: str) -> list[str]:
    return [algorithm for (known, algorithm) in HYPERPARAMETERS if known == env]


def train_on_ses(paths: list[Path], algorithm: str, runs: int, seed: int, steps: int, jobs: int) -> list[dict]:
    """``runs`` trainings of ``algorithm`` on each SE (the same seeds on every SE); rows shaped like
    ``experiments.evaluation``'s (agent ``sb3_<algorithm>``, hp_mode ``zoo``)."""
    seeds = [derive_seed(seed, run, 0x5B3) for run in range(runs)]
    planned = [(str(path), algorithm, run, run_seed, steps) for path in paths for run, run_seed in enumerate(seeds)]
    # spawn: a forked child would inherit the parent's torch thread pool state and locks.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        return list(pool.map(_train_and_test, planned))


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _train_and_test(job: tuple) -> dict:
    """Train one agent on the SE in ``path`` for ``steps`` steps; test it on the real env."""
    import gymnasium as gym
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    from nes.gym_registration import SYNTHETIC_ID, register_envs

    path, algorithm, run, seed, steps = job
    register_envs()
    env_id = load_model(Path(path))[2].env
    hyperparameters = dict(HYPERPARAMETERS[(env_id, algorithm)])
    n_envs = hyperparameters.pop("n_envs", 1)
    # Both learn in whole rollouts (PPO's n_steps per env, DQN's train_freq) and would run past
    # ``steps`` to finish one: stop at the last whole one.
    rollout = n_envs * hyperparameters.get("n_steps", hyperparameters.get("train_freq", 1))
    start = time.monotonic()
    se = make_vec_env(lambda: gym.make(SYNTHETIC_ID, model=path), n_envs=n_envs, seed=seed)
    agent = {"dqn": DQN, "ppo": PPO}[algorithm]("MlpPolicy", se, seed=seed, device="cpu", verbose=0, **hyperparameters)
    # Without a logger of its own, learn() makes SB3's default one, which leaves an empty
    # <tmp>/SB3-<time> folder behind on every training.
    agent.set_logger(Logger(folder=None, output_formats=[]))
    agent.learn(total_timesteps=max(rollout, steps // rollout * rollout))
    episodes = sum(len(rewards) for rewards in se.env_method("get_episode_rewards"))
    test_return = real_env_return(agent, env_id, seed)
    return {"model": model_label(Path(path)), "env": env_id, "agent": f"sb3_{algorithm}", "hp_mode": "zoo",
            "run": run, "seed": seed, "test_return": test_return, "train_steps": int(agent.num_timesteps),
            "train_episodes": episodes, "wall_seconds": round(time.monotonic() - start, 3)}


def real_env_return(agent, env_id: str, seed: int) -> float:
    """Mean return of ``TEST_EPISODES`` real-env episodes with the deterministic policy."""
    env = make_real_env(env_id)
    returns = []
    for episode in range(TEST_EPISODES):
        observation, _ = env.reset(seed=derive_seed(seed, episode, 0x7E57))
        total, done = 0.0, False
        while not done:
            action, _ = agent.predict(observation, deterministic=True)
            observation, reward, terminated, truncated, _ = env.step(int(action))  # discrete envs only
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))
