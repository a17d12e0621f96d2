"""train_population's stopping rules: episode cap, SE early out, test schedule and deadline."""
import dataclasses

import torch

from agents.ddqn import DDQN
from agents.training import reached, train_population
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.fixed_env_training import evaluation_protocol

SPEC = real_env_spec("CartPole-v0")
SEEDS = [1, 2]


def one_step_se(reward: float = 1.0) -> SyntheticEnvNets:
    """SEs whose episodes last one step and pay exactly ``reward``, so every episode returns it."""
    nets = SyntheticEnvNets.initialise(SEEDS, SPEC, 8, 1, "relu")
    reward_net, done_net = nets.nets["reward_net"], nets.nets["done_net"]
    reward_net.weights[-1].zero_(), reward_net.biases[-1].fill_(reward)
    done_net.weights[-1].zero_(), done_net.biases[-1].fill_(1.0)
    return nets


def train(overrides, *, se_early_out=True, test_every=1, deadline=float("inf"), reward=1.0,
          on_synthetic=True, real_early_out=False):
    config = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=8",
                                "agents.ddqn.test_episodes=1", *overrides])
    agent_config = config.agents.ddqn
    agent = DDQN(agent_config, SPEC, SEEDS)
    train_env = SyntheticVecEnv(one_step_se(reward), SPEC, InitialStateSampler("CartPole-v0", SEEDS),
                                autoreset=False)
    test_env = RealVecEnv("CartPole-v0", [s + 50 for s in SEEDS], agent_config.test_episodes)
    protocol = dataclasses.replace(config.protocol, se_early_out=se_early_out, test_every=test_every,
                                   stop_when_solved=False, real_early_out=real_early_out)
    return train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=on_synthetic,
                            deadline=deadline), test_env


def test_without_early_out_members_train_to_the_episode_cap():
    result, _ = train(["agents.ddqn.train_episodes=7"], se_early_out=False)
    assert result.train_episodes.tolist() == [7, 7] and result.train_steps.tolist() == [7, 7]
    assert result.episode_returns == [[1.0] * 7, [1.0] * 7]


def test_constant_se_returns_stop_at_the_first_allowed_check():
    # The paper (base_agent.py @ 7070963) checks once episode > init_episodes + early_out_num
    # (0-based): with 1 init episode and a window of 3, the first check follows the 6th episode,
    # and constant returns stop there.
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


def test_reached_averages_the_last_window_or_fewer_at_the_start():
    assert reached([190.0, 200.0], window=10, threshold=195.0)
    assert not reached([100.0] * 5 + [200.0] * 9, window=10, threshold=195.0)
    assert reached([100.0] * 5 + [200.0] * 10, window=10, threshold=195.0)
    assert not reached([], window=10, threshold=195.0)


def test_real_env_early_out_stops_once_training_returns_reach_the_threshold():
    # Stood in for a real env (on_synthetic False): every episode returns 200 >= CartPole's 195.
    # The paper (base_agent.py @ 7070963) checks once episode > init_episodes (0-based): after the 3rd
    # with 1 init episode.
    result, _ = train(["agents.ddqn.train_episodes=20"], reward=200.0, on_synthetic=False,
                      real_early_out=True, test_every=0)
    assert result.train_episodes.tolist() == [3, 3]
    without, _ = train(["agents.ddqn.train_episodes=20"], reward=200.0, on_synthetic=False, test_every=0)
    assert without.train_episodes.tolist() == [20, 20]
    below, _ = train(["agents.ddqn.train_episodes=20"], reward=190.0, on_synthetic=False,
                     real_early_out=True, test_every=0)
    assert below.train_episodes.tolist() == [20, 20]


def test_baselines_stop_by_their_training_returns_and_are_tested_once():
    protocol = load_config(None).protocol
    real = evaluation_protocol(protocol, se_kind=None)
    assert (real.real_early_out, real.test_every, real.stop_when_solved, real.se_early_out) == (True, 0, False, False)
    se = evaluation_protocol(protocol, se_kind="mdp")
    assert (se.real_early_out, se.test_every, se.se_early_out) == (False, 0, True)


def test_agents_on_a_bandit_se_train_for_their_whole_budget():
    protocol = load_config(None, ["protocol.max_train_steps=300"]).protocol
    bandit = evaluation_protocol(protocol, se_kind="bandit")
    assert (bandit.real_early_out, bandit.test_every, bandit.se_early_out) == (False, 0, False)
    assert bandit.max_train_steps == 300
