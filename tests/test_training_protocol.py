"""train_population's stopping rules: episode cap, SE early out, test schedule and deadline."""
import dataclasses

import torch

from agents.ddqn import DDQN
from agents.training import train_population
from common.config import load_config
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets

SPEC = real_env_spec("CartPole-v0")
SEEDS = [1, 2]


def one_step_unit_reward_se() -> SyntheticEnvNets:
    """SEs whose episodes last one step and pay exactly 1, so every episode return is 1."""
    nets = SyntheticEnvNets.initialise(SEEDS, SPEC, 8, 1, "relu")
    reward_net, done_net = nets.nets["reward_net"], nets.nets["done_net"]
    reward_net.weights[-1].zero_(), reward_net.biases[-1].fill_(1.0)
    done_net.weights[-1].zero_(), done_net.biases[-1].fill_(1.0)
    return nets


def train(overrides, *, se_early_out=True, test_every=1, deadline=float("inf")):
    config = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=8",
                                "agents.ddqn.test_episodes=1", *overrides])
    agent_config = config.agents.ddqn
    agent = DDQN(agent_config, SPEC, SEEDS)
    train_env = SyntheticVecEnv(one_step_unit_reward_se(), SPEC, InitialStateSampler("CartPole-v0", SEEDS),
                                autoreset=False)
    test_env = RealVecEnv("CartPole-v0", [s + 50 for s in SEEDS], agent_config.test_episodes)
    protocol = dataclasses.replace(config.protocol, se_early_out=se_early_out, test_every=test_every,
                                   stop_when_solved=False)
    return train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=True,
                            deadline=deadline), test_env


def test_without_early_out_members_train_to_the_episode_cap():
    result, _ = train(["agents.ddqn.train_episodes=7"], se_early_out=False)
    assert result.train_episodes.tolist() == [7, 7] and result.train_steps.tolist() == [7, 7]
    assert result.episode_returns == [[1.0] * 7, [1.0] * 7]


def test_constant_se_returns_stop_at_the_first_allowed_check():
    # The paper checks once episode > init_episodes + early_out_num (0-based): with 1 init episode
    # and a window of 3, the first check follows the 6th episode, and constant returns stop there.
    result, _ = train(["agents.ddqn.train_episodes=20", "agents.ddqn.early_out_num=3"])
    assert result.train_episodes.tolist() == [6, 6]
    assert not result.failed.any() and not result.timed_out.any()


def test_test_every_zero_tests_each_member_once_after_training():
    result, test_env = train(["agents.ddqn.train_episodes=3"], se_early_out=False, test_every=0)
    # CartPole pays 1 per step and each test is one episode, so one test per member means each
    # member's real steps are exactly its reported test return.
    assert result.real_test_steps.tolist() == test_env.steps_used.tolist() == result.test_return.long().tolist()


def test_test_every_one_tests_after_every_episode():
    result, _ = train(["agents.ddqn.train_episodes=3"], se_early_out=False, test_every=1)
    assert (result.real_test_steps > result.test_return.long()).all()


def test_a_passed_deadline_stops_every_member_before_its_first_episode():
    result, _ = train(["agents.ddqn.train_episodes=3"], deadline=0.0)
    assert result.timed_out.tolist() == [True, True]
    assert result.train_episodes.tolist() == [0, 0]
    assert torch.isfinite(result.test_return).all()
