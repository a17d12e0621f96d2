"""DDQN with the default hyperparameters actually learns the real CartPole-v0."""
import dataclasses
import statistics

import pytest
import torch

from agents.ddqn import DDQN
from agents.training import train_population
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config

pytestmark = pytest.mark.slow  # learning until solved

SEEDS = [1, 2, 3]
EPISODE_CAP = 300   # the three members solve it after 196 to 214 episodes (about 15 s)


def test_ddqn_solves_real_cartpole_within_the_episode_cap():
    config = load_config(None, [f"agents.ddqn.train_episodes={EPISODE_CAP}"])
    agent_config, spec = config.agents.ddqn, real_env_spec("CartPole-v0")
    agent = DDQN(agent_config, spec, SEEDS)
    train_env = RealVecEnv("CartPole-v0", [s + 100 for s in SEEDS])
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in SEEDS], agent_config.test_episodes)
    protocol = dataclasses.replace(config.protocol, test_every=1, stop_when_solved=True, se_early_out=False)
    result = train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=False)
    returns = result.test_return.tolist()
    assert statistics.median(returns) >= 150, returns
    assert result.solved.any(), returns
    assert torch.equal(result.solved, result.test_return >= spec.solved_reward)
    # Solved members stop at once; none of them needed the whole cap.
    assert (result.train_episodes[result.solved] < EPISODE_CAP).all()
