"""NES over reward-network parameters: a tiny run end to end, objectives and RN model files."""
import csv
import math

import pytest
import torch

from agents.training import TrainingResult
from common.errors import UserError
from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import load_reward_env, save_synthetic_env
from nes.objectives import objective_scores
from tests.helpers import REPO_ROOT, run_entry_point, set_flags

TINY_CLIFF_RN = ("nes.population=2", "nes.max_iterations=2", "nes.time_mult=1000", "agents.ql.train_episodes=60")


@pytest.mark.slow  # a learn_env subprocess
def test_a_tiny_reward_network_run_learns_saves_and_reloads(tmp_path):
    out = tmp_path / "run"
    completed = run_entry_point("experiments.learn_env", "--config",
                                REPO_ROOT / "default_config" / "cliffwalking_reward_env.yaml",
                                *set_flags(TINY_CLIFF_RN), "--out", out, timeout=240)
    assert completed.returncode == 0, completed.stderr
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    # Scores are minus the real steps to the optimum; RN agents train on the real env.
    assert all(float(r["max_score"]) < 0 and int(r["synthetic_env_steps"]) == 0 for r in rows)
    assert all(float(r["mean_test_return_orig"]) == -13.0 for r in rows)
    nets, config = load_reward_env(out / "best.pt")
    assert config.learn == "reward_env" and nets.reward_type == "potential_additive"
    latest = torch.load(out / "latest.pt", weights_only=False)
    assert nets.to_flat().shape == latest["psi"][None].shape


def test_a_synthetic_env_file_is_not_a_reward_network(tmp_path):
    nets = SyntheticEnvNets.initialise([0], real_env_spec("CartPole-v0"), 8, 1, "relu")
    save_synthetic_env(tmp_path / "se.pt", nets, 0, load_config(None), {})
    with pytest.raises(UserError, match="holds a 'synthetic_env', not a reward network"):
        load_reward_env(tmp_path / "se.pt")


def result(test_return, train_steps, failed=(False, False)):
    p = len(test_return)
    zeros = torch.zeros(p, dtype=torch.bool)
    return TrainingResult(test_return=torch.tensor(test_return, dtype=torch.float64),
                          train_steps=torch.tensor(train_steps), train_episodes=torch.ones(p, dtype=torch.long),
                          solved=zeros, timed_out=zeros, failed=torch.tensor(failed), real_test_steps=torch.zeros(p))


class _Returns:
    real_returns = [[1.0, 2.5], [4.0]]


@pytest.mark.parametrize("objective, expected", [
    ("test_reward", [190.0, 200.0]),
    ("steps_to_threshold", [-(1000 + 100 * 5.0), -700.0]),
    ("auc", [3.5, 4.0]),
])
def test_objectives_score_a_training_as_documented(objective, expected):
    scores = objective_scores(objective, result([190.0, 200.0], [1000, 700]), _Returns(), 195.0, 100.0)
    assert scores.tolist() == expected


def test_a_failed_member_scores_minus_infinity_under_every_objective():
    for objective in ("test_reward", "steps_to_threshold", "auc"):
        scores = objective_scores(objective, result([190.0, 200.0], [1000, 700], failed=(True, False)),
                                  _Returns(), 195.0, 100.0)
        assert scores[0] == -math.inf and math.isfinite(scores[1])


def test_auc_needs_a_reward_network():
    with pytest.raises(UserError, match="'auc' needs learn: reward_env"):
        load_config(None, ["nes.objective=auc"])
