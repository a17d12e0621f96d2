"""Dueling DDQN: the dueling head, learning the real CartPole-v0; and DDQN's ICM option (the
contract every agent keeps is in test_agent_contract.py)."""
import dataclasses

import pytest
import torch
import yaml

from agents.ddqn import DDQN
from agents.dueling_ddqn import DuelingDDQN, PopulationDuelingQ
from agents.training import train_population
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config
from tests.helpers import REPO_ROOT

SPEC = real_env_spec("CartPole-v0")
SEEDS = [5, 6, 7]


def agent_config(name: str, *overrides: str):
    config = load_config(None, [f"agents.{name}.{o}" for o in overrides])
    return config, getattr(config.agents, name)


def train_on_real_env(agent_class, config, seeds, protocol):
    agent = agent_class(config, SPEC, seeds)
    train_env = RealVecEnv("CartPole-v0", [s + 100 for s in seeds])
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in seeds], config.test_episodes)
    return agent, train_population(agent, train_env, test_env, config, protocol, on_synthetic=False)


def short_training(agent_class, name: str, seeds, *overrides: str):
    full, config = agent_config(name, "train_episodes=6", "test_episodes=2", "init_episodes=1", "batch_size=16",
                                "hidden_size=16", "feature_dim=8", *overrides)
    return train_on_real_env(agent_class, config, seeds, dataclasses.replace(full.protocol, se_early_out=False))


def test_the_dueling_head_is_value_plus_centred_advantage():
    _, config = agent_config("dueling_ddqn", "feature_dim=6", "hidden_size=5")
    q = PopulationDuelingQ.initialise(config, SPEC, SEEDS)
    obs = torch.randn(3, 4, SPEC.state_dim)
    features = q.trunk(obs)
    advantage = q.advantage(features)
    torch.testing.assert_close(q(obs).mean(dim=-1, keepdim=True), q.value(features))
    torch.testing.assert_close(q(obs) - q.value(features), advantage - advantage.mean(dim=-1, keepdim=True))
    state = q.member_state_dict(1)
    assert state["trunk.0.weight"].shape == (5, SPEC.state_dim) and state["advantage.2.weight"].shape == (2, 6)
    assert torch.equal(state["value.2.bias"], q.value.biases[-1][1, 0])


@pytest.mark.slow  # learning until solved
def test_dueling_ddqn_solves_real_cartpole_on_a_small_budget():
    # The paper's values with a narrower network, to fit a test's time. Measured on the 2-core
    # machine: members 1-3 reach 131.6, 197.4 and 196.9 (two solve, after 60 and 50 episodes), seeds
    # 4-6 solve after 95 and 50 episodes; about 40 s. Random play scores ~20.
    full, config = agent_config("dueling_ddqn", "train_episodes=100", "hidden_size=64", "hidden_layer=1",
                                "feature_dim=64")
    protocol = dataclasses.replace(full.protocol, test_every=5, stop_when_solved=True, se_early_out=False)
    _, result = train_on_real_env(DuelingDDQN, config, [1, 2, 3], protocol)
    assert result.solved.sum() >= 2, result.test_return.tolist()
    assert (result.test_return > 100).all(), result.test_return.tolist()


def test_ddqn_with_icm_runs_and_differs_from_plain_ddqn():
    def ddqn(seeds, icm: bool):
        full, config = agent_config("ddqn", "train_episodes=6", "test_episodes=2", "batch_size=16", f"icm={icm}",
                                    "icm_feature_size=8", "icm_hidden_size=16")
        return train_on_real_env(DDQN, config, seeds, dataclasses.replace(full.protocol, se_early_out=False))

    (plain, _), (curious, result) = ddqn(SEEDS, False), ddqn(SEEDS, True)
    assert plain.icm is None and not result.failed.any()
    for p_plain, p_curious in zip(plain.q.parameters(), curious.q.parameters()):
        assert not torch.equal(p_plain, p_curious)
    # One ICM step per DDQN step: every env step after the first init_episodes + 1 episodes
    # (CartPole pays 1 per step, so an episode's return is its length).
    learn_steps = [sum(returns[2:]) for returns in result.episode_returns]
    assert curious.icm.optimizer.steps.tolist() == curious.optimizer.steps.tolist() == learn_steps


def test_dueling_ddqn_takes_the_icm_option():
    agent, result = short_training(DuelingDDQN, "dueling_ddqn", SEEDS[:2], "icm=true", "icm_feature_size=8",
                                   "icm_hidden_size=16")
    assert agent.icm is not None and not result.failed.any()
    assert (agent.icm.optimizer.steps > 0).all()


@pytest.mark.parametrize("name", ["ddqn", "dueling_ddqn"])
def test_the_real_env_yaml_files_hold_only_their_agent_and_load(name):
    path = REPO_ROOT / "default_config" / f"cartpole_{name}.yaml"
    data = yaml.safe_load(path.read_text())
    assert set(data) == {"env", "agent", "agents"} and set(data["agents"]) == {name}
    config = load_config(path)
    assert (config.env, config.agent) == ("CartPole-v0", name)
    for key, value in data["agents"][name].items():
        assert getattr(config.agent_config(), key) == value, key
    if name == "dueling_ddqn":  # the agent's defaults are the paper's real-env values
        assert config.agent_config() == load_config(None).agents.dueling_ddqn
