"""Varied-hyperparameter mode: the sampling ranges (that a varied member trains as it would alone
is part of every agent's contract, in test_agent_contract.py)."""
import dataclasses
import math
import statistics

import pytest
import torch

from agents import AGENTS, make_agent
from agents.training import train_population
from agents.varied import sample_member_config
from common.errors import UserError
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config

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


def test_a_tabular_learning_rate_varies_but_never_exceeds_one():
    config = load_config(None).agents.ql
    alphas = [sample_member_config(dataclasses.replace(config, alpha=0.5), seed).alpha for seed in range(500)]
    assert 0.5 / 3 <= min(alphas) < 0.2 and max(alphas) == 1.0


# --- fields beyond the paper's, and members batched by the fields an agent holds per member ------
EVERY_FIELD = "lr,batch_size,hidden_size,hidden_layer,gamma,tau,eps_init,eps_min,eps_decay"


def test_factors_near_one_vary_their_distance_from_one():
    config = dataclasses.replace(DDQN_CONFIG, vary_fields="gamma,eps_decay")
    samples = [sample_member_config(config, seed) for seed in range(2000)]
    for name in ("gamma", "eps_decay"):
        gaps = [1 - getattr(sample, name) for sample in samples]
        base = 1 - getattr(DDQN_CONFIG, name)
        assert base / 3 * 0.999 <= min(gaps) and max(gaps) <= min(base * 3, 1) * 1.001
        assert statistics.median(gaps) == pytest.approx(base, rel=0.08)
    assert {sample.lr for sample in samples} == {DDQN_CONFIG.lr}, "only the named fields vary"


def test_an_epsilon_stays_a_probability_and_its_schedule_never_rises():
    config = dataclasses.replace(DDQN_CONFIG, vary_fields="eps_init,eps_min")
    samples = [sample_member_config(config, seed) for seed in range(2000)]
    assert max(sample.eps_init for sample in samples) == 1.0
    assert all(0 < sample.eps_min <= sample.eps_init for sample in samples)


def test_more_fields_leave_the_papers_draws_as_they_were():
    wider = dataclasses.replace(DDQN_CONFIG, vary_fields=EVERY_FIELD)
    for seed in range(50):
        paper, more = sample_member_config(DDQN_CONFIG, seed), sample_member_config(wider, seed)
        sizes = ("lr", "batch_size", "hidden_size", "hidden_layer")
        assert [getattr(paper, n) for n in sizes] == [getattr(more, n) for n in sizes]


@pytest.mark.parametrize("value", ["gama", ["lr", 3], "", "lr,hidden_size,momentum"])
def test_vary_fields_names_only_fields_that_can_vary(value):
    with pytest.raises(UserError, match="agents.ddqn.vary_fields"):
        load_config({"agents": {"ddqn": {"vary_fields": value}}})


def test_vary_fields_takes_a_list_or_a_string_in_any_order():
    as_list = load_config({"agents": {"ddqn": {"vary_fields": ["gamma", "lr"]}}}).agents.ddqn.vary_fields
    assert as_list == load_config(None, ["agents.ddqn.vary_fields=gamma,lr"]).agents.ddqn.vary_fields == "lr,gamma"


@pytest.mark.parametrize("name", ["ddqn", "ppo"])
def test_members_varied_in_per_member_fields_train_as_one_batch_each_as_its_own_config(name):
    """Members that differ only in the agent's ``MEMBER_FIELDS`` share one sub-agent, and each
    trains exactly as the plain agent built from its own sample would alone."""
    agent_class = AGENTS[name]
    config = dataclasses.replace(getattr(load_config(None).agents, name), vary_hp=True, train_episodes=4,
                                 test_episodes=1, batch_size=16, vary_fields=",".join(agent_class.MEMBER_FIELDS))
    seeds = [3, 4, 5]
    protocol = dataclasses.replace(load_config(None).protocol, max_train_steps=150, test_every=0,
                                   stop_when_solved=False)
    spec = real_env_spec("CartPole-v0")

    def trained(agent, member_seeds):
        train_population(agent, RealVecEnv("CartPole-v0", [s + 100 for s in member_seeds]),
                         RealVecEnv("CartPole-v0", [s + 200 for s in member_seeds], 1), config, protocol,
                         on_synthetic=False)
        return agent

    varied = trained(make_agent(name, config, spec, seeds), seeds)
    assert len(varied.groups) == 1
    for member, seed in enumerate(seeds):
        sample = dataclasses.replace(varied.member_configs[member], vary_hp=False)
        plain = trained(agent_class(sample, spec, [seed]), [seed])
        for key, value in plain.member_state_dict(0).items():
            assert torch.equal(value, varied.member_state_dict(member)[key]), (member, key)
