"""Varied-hyperparameter mode: the sampling ranges, and members that train as they would alone."""
import dataclasses
import math
import statistics

import pytest
import torch

from agents import make_agent
from agents.training import train_population
from agents.varied import VariedAgent, sample_member_config
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config

SPEC = real_env_spec("CartPole-v0")
DDQN_CONFIG = load_config(None).agents.ddqn   # lr 3.04e-4, batch 199, width 57, depth 1
SAMPLES = [sample_member_config(dataclasses.replace(DDQN_CONFIG, hidden_layer=2), seed) for seed in range(3000)]


@pytest.mark.parametrize("name, base", [("lr", 3.04e-4), ("batch_size", 199), ("hidden_size", 57)])
def test_log_uniform_fields_stay_in_a_third_to_three_times_the_default(name, base):
    values = [getattr(sample, name) for sample in SAMPLES]
    low, high = base / 3, base * 3
    if isinstance(base, int):
        low, high = round(low), round(high)
    assert low <= min(values) and max(values) <= high
    # The whole range is used, and log-uniformly: the median sits at the default, not at the
    # arithmetic middle of the range (5/3 of the default).
    assert min(values) < low * 1.02 and max(values) > high * 0.98
    assert statistics.median(values) == pytest.approx(base, rel=0.05)
    assert statistics.fmean(math.log(v) for v in values) == pytest.approx(math.log(base), abs=0.05)


def test_depth_moves_by_at_most_one_and_never_below_one():
    assert {sample.hidden_layer for sample in SAMPLES} == {1, 2, 3}
    shallow = {sample_member_config(DDQN_CONFIG, seed).hidden_layer for seed in range(300)}
    assert shallow == {1, 2}


def test_other_fields_are_untouched_and_a_seed_always_draws_the_same_sample():
    sample = sample_member_config(DDQN_CONFIG, 11)
    assert sample == sample_member_config(DDQN_CONFIG, 11) and sample != sample_member_config(DDQN_CONFIG, 12)
    assert (sample.gamma, sample.tau, sample.eps_init) == (DDQN_CONFIG.gamma, DDQN_CONFIG.tau, DDQN_CONFIG.eps_init)


def train(seeds):
    config = dataclasses.replace(DDQN_CONFIG, vary_hp=True, train_episodes=6, test_episodes=2)
    agent = make_agent("ddqn", config, SPEC, seeds)
    protocol = load_config(None).protocol
    train_env = RealVecEnv("CartPole-v0", [s + 100 for s in seeds])
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in seeds], config.test_episodes)
    return agent, train_population(agent, train_env, test_env, config, protocol, on_synthetic=False)


def test_a_varied_member_trains_the_same_alone_as_in_a_population():
    (together, result_p), (alone, result_1) = train([3, 4, 5]), train([4])
    assert isinstance(together, VariedAgent) and len(together.groups) == 3
    assert together.member_configs[1] == alone.member_configs[0]
    assert len({c.hidden_size for c in together.member_configs}) == 3
    for field in ("train_steps", "test_return"):
        assert torch.equal(getattr(result_p, field)[1], getattr(result_1, field)[0]), field
    in_population, by_itself = together.member_state_dict(1), alone.member_state_dict(0)
    assert all(torch.equal(in_population[k], by_itself[k]) for k in by_itself)


def test_a_tabular_learning_rate_varies_but_never_exceeds_one():
    config = load_config(None).agents.ql
    alphas = [sample_member_config(dataclasses.replace(config, alpha=0.5), seed).alpha for seed in range(500)]
    assert 0.5 / 3 <= min(alphas) < 0.2 and max(alphas) == 1.0
