"""Varied-hyperparameter mode: the sampling ranges (that a varied member trains as it would alone
is part of every agent's contract, in test_agent_contract.py)."""
import dataclasses
import math
import statistics

import pytest

from agents.varied import sample_member_config
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
