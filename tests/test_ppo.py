"""PPO: exact GAE, the ICM option, and real learning on CartPole-v0 and Pendulum-v1 with small
budgets (the contract every agent keeps is in test_agent_contract.py)."""
import dataclasses
import statistics

import pytest
import torch

from agents.ppo import PPO, gae
from agents.training import train_population
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config

SEEDS = [5, 6, 7]


def ppo_config(env_id: str, *sets: str):
    yaml = {"CartPole-v0": "default_config/cartpole_ppo.yaml", "Pendulum-v1": "default_config/pendulum_ppo.yaml"}
    return load_config(yaml[env_id], sets)


def test_gae_matches_a_hand_computed_rollout():
    # Member 0: an episode that terminates after three steps, then one cut by the time limit
    # (bootstrapped from V(s') = 3). Member 1: one terminated step, then NaN padding that must
    # not leak backwards over the episode end.
    nan = float("nan")
    rewards = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, nan, nan, nan]])
    values = torch.tensor([[0.5, 1.0, 1.5, 2.0], [1.0, nan, nan, nan]])
    next_values = torch.tensor([[1.0, 1.5, 9.0, 3.0], [7.0, nan, nan, nan]])
    terminated = torch.tensor([[False, False, True, False], [True, False, False, False]])
    episode_end = torch.tensor([[False, False, True, True], [True, False, False, False]])
    advantages = gae(rewards, values, next_values, terminated, episode_end, gamma=0.9, gamma_lambda=0.9 * 0.8)
    # deltas: 1 + 0.9 - 0.5 = 1.4, 2 + 1.35 - 1 = 2.35, 3 - 1.5 = 1.5, 4 + 2.7 - 2 = 4.7
    # A3 = 4.7; A2 = 1.5; A1 = 2.35 + 0.72 * 1.5 = 3.43; A0 = 1.4 + 0.72 * 3.43 = 3.8696
    assert advantages[0].tolist() == pytest.approx([3.8696, 3.43, 1.5, 4.7], rel=1e-6)
    assert advantages[1, 0].item() == pytest.approx(4.0)  # 5 - 1, nothing bootstrapped


# --- the ICM option ------------------------------------------------------------------------------
CARTPOLE_SETS = ("agents.ppo.train_episodes=9", "agents.ppo.test_episodes=2", "agents.ppo.update_episodes=2",
                 "agents.ppo.ppo_epochs=2", "agents.ppo.batch_size=16")


def train_cartpole(seeds: list[int], *sets: str):
    """Real CartPole; members hit the step cap after different episodes, so later updates run
    on a sub-population."""
    config = ppo_config("CartPole-v0", *CARTPOLE_SETS, *sets)
    agent_config = config.agents.ppo
    agent = PPO(agent_config, real_env_spec("CartPole-v0"), seeds)
    train_env = RealVecEnv("CartPole-v0", [s + 100 for s in seeds])
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in seeds], agent_config.test_episodes)
    protocol = dataclasses.replace(config.protocol, se_early_out=False, max_train_steps=120)
    return agent, train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=False)


def test_the_icm_learns_and_its_curiosity_changes_the_critic():
    together = train_cartpole(SEEDS, "agents.ppo.icm=true")
    untrained = PPO(together[0].config, real_env_spec("CartPole-v0"), SEEDS).icm
    for trained, initial in zip(together[0].icm.parameters(), untrained.parameters()):
        assert not torch.equal(trained, initial), "the ICM should have learned"
    without_icm = train_cartpole(SEEDS)
    assert not torch.equal(together[0].critic.weights[0], without_icm[0].critic.weights[0]), "curiosity adds reward"


# --- learning on the real envs ---------------------------------------------------------------------
def train_real(env_id: str, seeds: list[int], *sets: str):
    config = ppo_config(env_id, *sets)
    agent_config = config.agents.ppo
    agent = PPO(agent_config, real_env_spec(env_id), seeds)
    train_env = RealVecEnv(env_id, [s + 100 for s in seeds])
    test_env = RealVecEnv(env_id, [s + 200 for s in seeds], agent_config.test_episodes)
    protocol = dataclasses.replace(config.protocol, test_every=0, se_early_out=False)
    return train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=False)


@pytest.mark.slow  # learning until solved
def test_ppo_learns_cartpole_on_a_small_budget():
    # A random policy scores about 22; after 80 episodes (2k to 5k steps) pairs of members
    # score 178 to 200 on average.
    result = train_real("CartPole-v0", [1, 2], "agents.ppo.train_episodes=80")
    assert statistics.mean(result.test_return.tolist()) >= 150, result.test_return.tolist()


@pytest.mark.slow  # learning until solved
def test_ppo_learns_pendulum_on_a_small_budget():
    # Untrained, this member scores -1459 (others -1250 to -1550). With short rollouts and a high
    # learning rate (a faster schedule than the YAML's, which aims at the best score after 200k
    # steps) members score -210 to -860 after 60 to 100 episodes; this one -348 after 60 (12k steps).
    result = train_real("Pendulum-v1", [2], "agents.ppo.train_episodes=60", "agents.ppo.update_episodes=2",
                        "agents.ppo.batch_size=64", "agents.ppo.lr=0.003", "agents.ppo.anneal_lr=false")
    assert result.test_return.item() >= -1000, result.test_return.tolist()
