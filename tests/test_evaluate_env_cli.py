"""evaluate_env end to end on a saved SE (its config, saved with it, sets the tiny budgets)."""
import json

import pytest

from common.config import load_config
from envs.model_files import save_synthetic_env
from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets
from tests.helpers import last_stdout_line

BUDGET = ("agents.ddqn.train_episodes=3", "agents.ddqn.test_episodes=2", "synthetic_env.hidden_size=16")


@pytest.fixture
def model_dir(tmp_path):
    """A learn_env-like run directory holding a freshly initialised SE as best.pt."""
    config = load_config(None, BUDGET)
    se = config.synthetic_env
    nets = SyntheticEnvNets.initialise([9], real_env_spec(config.env), se.hidden_size, se.hidden_layer,
                                       se.activation)
    run_dir = tmp_path / "learned"
    run_dir.mkdir()
    save_synthetic_env(run_dir / "best.pt", nets, 0, config, {"iteration": 0})
    return run_dir


def test_trains_on_the_se_and_the_real_env_and_writes_evaluation_json(model_dir, tmp_path, run_module):
    out = tmp_path / "evaluation"
    completed = run_module("experiments.evaluate_env", model_dir, "--runs", 2, "--baseline", "--out", out)
    assert completed.returncode == 0, completed.stderr
    assert last_stdout_line(completed) == str(out)
    report = json.loads((out / "evaluation.json").read_text())
    assert report["model"] == str(model_dir / "best.pt") and report["env"] == "CartPole-v0"
    for side in ("synthetic", "real"):
        runs = report[side]["runs"]
        assert [r["run"] for r in runs] == [0, 1] and report[side]["summary"]["runs"] == 2
        assert all(1 <= r["train_episodes"] <= 3 and r["train_steps"] > 0 for r in runs)
    se, real = report["synthetic"]["summary"], report["real"]["summary"]
    assert report["step_ratio_real_over_se"] == real["median_train_steps"] / se["median_train_steps"]
    assert "SE" in completed.stdout and "real env" in completed.stdout


def test_the_same_seed_gives_the_same_evaluation(model_dir, tmp_path, run_module):
    reports = []
    for name in ("first", "second"):
        completed = run_module("experiments.evaluate_env", model_dir / "best.pt", "--runs", 2, "--seed", 4,
                               "--out", tmp_path / name)
        assert completed.returncode == 0, completed.stderr
        report = json.loads((tmp_path / name / "evaluation.json").read_text())
        reports.append(report["synthetic"]["runs"])
    assert reports[0] == reports[1]
