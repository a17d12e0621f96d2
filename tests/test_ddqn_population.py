"""A DDQN member trains bit for bit the same alone as inside a population, and runs repeat exactly."""
import dataclasses

import torch

from agents.ddqn import DDQN
from agents.training import train_population
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config

SPEC = real_env_spec("CartPole-v0")
CONFIG = load_config(None, ["agents.ddqn.train_episodes=8", "agents.ddqn.test_episodes=2",
                            "agents.ddqn.batch_size=32"])
AGENT = CONFIG.agents.ddqn
SEEDS = [5, 6, 7]


def train_on_real_env(seeds: list[int]):
    agent = DDQN(AGENT, SPEC, seeds)
    train_env = RealVecEnv("CartPole-v0", [s + 100 for s in seeds])
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in seeds], AGENT.test_episodes)
    protocol = dataclasses.replace(CONFIG.protocol, se_early_out=False)
    return agent, train_population(agent, train_env, test_env, AGENT, protocol, on_synthetic=False)


def synthetic_envs(se_seeds=(1, 2, 3)) -> SyntheticEnvNets:
    return SyntheticEnvNets.initialise(list(se_seeds), SPEC, 16, 1, "leakyrelu")


def train_on_synthetic_env(nets: SyntheticEnvNets, seeds: list[int]):
    agent = DDQN(AGENT, SPEC, seeds)
    sampler = InitialStateSampler("CartPole-v0", [s + 300 for s in seeds])
    train_env = SyntheticVecEnv(nets, SPEC, sampler, autoreset=False)
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in seeds], AGENT.test_episodes)
    return agent, train_population(agent, train_env, test_env, AGENT, CONFIG.protocol, on_synthetic=True)


def assert_member_equals(together, alone, member: int) -> None:
    (agent_p, result_p), (agent_1, result_1) = together, alone
    for in_population, by_itself in zip(agent_p.q.parameters(), agent_1.q.parameters()):
        assert torch.equal(in_population[member], by_itself[0])
    for in_population, by_itself in zip(agent_p.q_target.parameters(), agent_1.q_target.parameters()):
        assert torch.equal(in_population[member], by_itself[0])
    for field in ("train_steps", "train_episodes", "test_return", "solved", "failed"):
        assert torch.equal(getattr(result_p, field)[member], getattr(result_1, field)[0]), field
    assert result_p.episode_returns[member] == result_1.episode_returns[0]


def test_real_env_member_trains_the_same_alone_as_in_a_population():
    together, alone = train_on_real_env(SEEDS), train_on_real_env([SEEDS[1]])
    assert together[1].train_episodes.tolist() == [8, 8, 8]
    assert len(set(together[1].train_steps.tolist())) > 1, "members should differ, or the check is vacuous"
    assert_member_equals(together, alone, member=1)


def test_synthetic_env_member_trains_the_same_alone_as_in_a_population():
    nets = synthetic_envs()
    together = train_on_synthetic_env(nets, SEEDS)
    alone = train_on_synthetic_env(nets.with_flat(nets.to_flat()[1:2]), [SEEDS[1]])
    assert_member_equals(together, alone, member=1)


def test_same_seeds_give_identical_training():
    first, second = train_on_synthetic_env(synthetic_envs(), SEEDS), train_on_synthetic_env(synthetic_envs(), SEEDS)
    for a, b in zip(first[0].q.parameters(), second[0].q.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(first[1].test_return, second[1].test_return)
    assert first[1].episode_returns == second[1].episode_returns


def test_a_member_whose_synthetic_env_is_nan_fails_without_touching_the_others():
    nets = synthetic_envs()
    flat = nets.to_flat()
    flat[0] = float("nan")
    agent, result = train_on_synthetic_env(nets.with_flat(flat), SEEDS)
    assert result.failed.tolist() == [True, False, False]
    assert result.test_return[0].item() == float("-inf") and not result.solved[0]
    assert result.train_episodes[0].item() == 1
    healthy = train_on_synthetic_env(nets.with_flat(flat[1:2]), [SEEDS[1]])
    assert_member_equals((agent, result), healthy, member=1)
