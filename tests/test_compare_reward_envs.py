"""compare_reward_envs: learned RNs vs the plain reward vs ICM, end to end on tiny budgets; its bad
input; and the curve statistics (t-interval, step functions, steps to threshold) by hand."""
import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from common.schema import to_dict
from envs.real import real_env_spec
from experiments import compare_reward_envs
from experiments.curves import (CSV_COLUMNS, learning_curve, mean_curve_reach, mean_interval, step_ratio, step_values,
                                t_critical, threshold_summary)
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import save_reward_env, save_synthetic_env
from tests.helpers import REPO_ROOT, last_stdout_line, run_entry_point, set_flags

RN_CONFIG = REPO_ROOT / "default_config" / "cartpole_reward_env.yaml"
PAPER_CARTPOLE_COMPARISON = REPO_ROOT / "default_config" / "paper" / "cartpole_rn_comparison.yaml"
PAPER_CLIFF_COMPARISON = REPO_ROOT / "default_config" / "paper" / "cliffwalking_rn_comparison.yaml"
# Small networks, 1 test episode, and a small batch so that DDQN learns within a few hundred steps.
BUDGET = ("reward_env.hidden_size=8", "agents.ddqn.test_episodes=1", "agents.ddqn.batch_size=16",
          "agents.ddqn.train_episodes=12")
STEPS = 250


def save_rn(path, reward_type="potential_additive", env_overrides=(), spec_env=None, seed=5):
    """An initialised RN saved as a model file; ``spec_env`` builds its networks for another env."""
    config = load_config(RN_CONFIG, [*BUDGET, f"reward_env.type={reward_type}", *env_overrides])
    rn = config.reward_env
    nets = RewardEnvNets.initialise([seed], real_env_spec(spec_env or config.env), rn.hidden_size, rn.hidden_layer,
                                    rn.activation, rn.type)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_reward_env(path, nets, 0, config, {"iteration": 0})
    return path


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """One comparison of three RNs (two of one type) with plain and ICM: (output dir, process)."""
    root = tmp_path_factory.mktemp("compare")
    # A learn_env run that never solved: it has latest.pt but no best.pt.
    learned = root / "learned"
    completed = run_entry_point("experiments.learn_env", "--config", RN_CONFIG, "--out", learned, *set_flags([
        "nes.population=2", "nes.max_iterations=1", "nes.time_mult=1000", "agents.ddqn.train_episodes=3",
        "agents.ddqn.test_episodes=1", "agents.ddqn.batch_size=16", "reward_env.hidden_size=8",
        "nes.quit_when_solved=false"]))
    assert completed.returncode == 0, completed.stderr
    assert (learned / "latest.pt").is_file() and not (learned / "best.pt").exists()
    saved = save_rn(root / "saved" / "best.pt")
    nonpotential = save_rn(root / "nonpotential.pt", "nonpotential_exclusive")
    out = root / "out"
    completed = run_entry_point("experiments.compare_reward_envs", "--env", "CartPole-v0",
                                "--models", saved.parent, learned, nonpotential, "--runs", 2, "--steps", STEPS,
                                "--seed", 1, "--out", out)
    assert completed.returncode == 0, completed.stderr
    return out, completed


VARIANTS = {"potential_additive (saved)", "potential_additive (learned)", "nonpotential_exclusive", "plain", "ICM"}


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # learn_env and compare_reward_envs subprocesses
def test_writes_figures_csv_and_tables_for_every_variant(comparison):
    out, completed = comparison
    assert last_stdout_line(completed) == str(out)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "curves.pdf").read_bytes()[:5] == b"%PDF-"
    rows = read_csv(out / "curves.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {row["variant"] for row in rows} == VARIANTS
    for row in rows:
        assert 0 <= int(row["runs"]) <= 2
        if row["ci_low"]:
            assert float(row["ci_low"]) <= float(row["mean"]) <= float(row["ci_high"])
    assert any(row["runs"] == "2" for row in rows)
    table = (out / "table.txt").read_text()
    assert all(label in table and label in completed.stdout for label in VARIANTS)
    report = json.loads((out / "table.json").read_text())
    assert set(report["variants"]) == VARIANTS and report["runs"] == 2 and report["threshold"] == 195.0
    assert report["models"]["potential_additive (learned)"].endswith("learned/latest.pt")
    assert report["models"]["potential_additive (saved)"].endswith("saved/best.pt")
    for variant in report["variants"].values():
        assert variant["runs"] == 2 and len(variant["steps_to_threshold"]) == 2
    assert report["variants"]["plain"]["step_ratio_kind"] in ("exact", None)
    for label, variant in report["variants"].items():
        at_threshold = [int(row["step"]) for row in rows
                        if row["variant"] == label and row["mean"] and float(row["mean"]) >= 195]
        assert variant["mean_curve_reaches_threshold_at"] == (at_threshold[0] if at_threshold else None)


@pytest.mark.slow  # learn_env and compare_reward_envs subprocesses
def test_the_csv_is_the_step_function_mean_of_the_recorded_tests(comparison):
    out, _ = comparison
    points = defaultdict(lambda: defaultdict(list))
    for row in read_csv(out / "points.csv"):
        points[row["variant"]][int(row["run"])].append((int(row["step"]), float(row["test_return"])))
    curves = read_csv(out / "curves.csv")
    for label, runs in points.items():
        assert len(runs) == 2
        # Training stops after the episode that crosses the step budget (or at the episode cap).
        assert all(run[-1][0] < STEPS + 200 for run in runs.values())
        mine = [row for row in curves if row["variant"] == label]
        curve = learning_curve(label, [runs[0], runs[1]], np.array([int(row["step"]) for row in mine]))
        expected = ["" if math.isnan(m) else f"{m:.6g}" for m in curve.mean]
        assert [row["mean"] for row in mine] == expected


@pytest.mark.slow  # learn_env and compare_reward_envs subprocesses
def test_each_variant_trains_with_its_own_reward(comparison):
    out, _ = comparison
    by_variant = defaultdict(list)
    for row in read_csv(out / "points.csv"):
        by_variant[row["variant"]].append((row["run"], row["step"], row["test_return"]))
    # Same seeds everywhere: only the reward makes the runs differ.
    assert by_variant["nonpotential_exclusive"] != by_variant["plain"]


def test_variant_configs_test_every_episode_run_to_the_budget_and_switch_icm():
    base = load_config(RN_CONFIG, [*BUDGET, "agents.ddqn.icm=true"])
    args = compare_reward_envs.parse_args(["--env", "CartPole-v0", "--models", "x", "--steps", "777", "--vary-hp"])
    for agent, icm in (("ddqn", False), ("ddqn", True), ("dueling_ddqn", True)):
        config = compare_reward_envs.variant_config(base, agent, args, icm=icm)
        assert config.agent == agent and config.agent_config().icm is icm and config.agent_config().vary_hp
        assert config.agent_config().batch_size == (16 if agent == "ddqn" else 128)  # the agent's own section
        protocol = config.protocol
        assert (protocol.test_every, protocol.stop_when_solved, protocol.max_train_steps) == (1, False, 777)


@pytest.mark.slow  # a compare_reward_envs subprocess
def test_a_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    pendulum_rn = save_rn(tmp_path / "pendulum.pt", env_overrides=["env=Pendulum-v1", "agent=td3"])
    out = tmp_path / "out"
    completed = run_entry_point("experiments.compare_reward_envs", "--env", "CartPole-v0", "--models", pendulum_rn,
                                "--out", out, timeout=60)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"error: model {pendulum_rn} is a reward network for Pendulum-v1, not for --env CartPole-v0"]
    assert completed.stdout == "" and not out.exists()


def corrupt(tmp):
    (tmp / "corrupt.pt").write_bytes(b"\x00not a model" * 50)
    return tmp / "corrupt.pt"


def synthetic_env_file(tmp):
    config = load_config(None, ["synthetic_env.hidden_size=8"])
    nets = SyntheticEnvNets.initialise([1], real_env_spec(config.env), 8, 1, "leakyrelu")
    save_synthetic_env(tmp / "se.pt", nets, 0, config, {})
    return tmp / "se.pt"


def synthetic_env_checkpoint(tmp):
    config = load_config(None, ["synthetic_env.hidden_size=8"])
    torch.save({"kind": "nes_checkpoint", "config": to_dict(config), "psi": torch.zeros(3)}, tmp / "latest.pt")
    return tmp


def short_psi_checkpoint(tmp):
    config = load_config(RN_CONFIG, list(BUDGET))
    torch.save({"kind": "nes_checkpoint", "config": to_dict(config), "psi": torch.zeros(3)}, tmp / "latest.pt")
    return tmp


BAD_INPUT = {
    "missing file": (lambda tmp: [tmp / "absent.pt"], "model file not found"),
    "corrupt file": (lambda tmp: [corrupt(tmp)], "corrupt or not a torch file"),
    "empty run dir": (lambda tmp: [tmp], "holds neither best.pt nor latest.pt"),
    "SE model file": (lambda tmp: [synthetic_env_file(tmp)], "holds a 'synthetic_env', not a reward network"),
    "SE run": (lambda tmp: [synthetic_env_checkpoint(tmp)], "learns a synthetic_env, not a reward network"),
    "psi of another shape": (lambda tmp: [short_psi_checkpoint(tmp)], "psi of shape (3,)"),
    "weights for another env": (lambda tmp: [save_rn(tmp / "rn.pt", spec_env="Pendulum-v1")],
                                "does not match its config"),
    "agent for other actions": (lambda tmp: [save_rn(tmp / "rn.pt"), "--agent", "td3"],
                                "agent 'td3' needs continuous actions, but CartPole-v0 has discrete actions"),
    "unknown agent": (lambda tmp: [save_rn(tmp / "rn.pt"), "--agent", "a2c"], "unknown agent 'a2c'"),
    "zero runs": (lambda tmp: [save_rn(tmp / "rn.pt"), "--runs", "0"], "--runs must be >= 1"),
    "agent config without the agent": (
        lambda tmp: [save_rn(tmp / "rn.pt"), "--agent-config", str(PAPER_CLIFF_COMPARISON)],
        "has no agents.ddqn section"),
    "a --set of the model's networks": (lambda tmp: [save_rn(tmp / "rn.pt"), "--set", "reward_env.hidden_size=16"],
                                        "conflicts with model file"),
    "a bad --set value": (lambda tmp: [save_rn(tmp / "rn.pt"), "--set", "agents.ddqn.batch_size=many"],
                          "agents.ddqn.batch_size"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_error_line_with_exit_2_and_nothing_written(case, tmp_path, capsys):
    make_args, expected = BAD_INPUT[case]
    models = tmp_path / "models"
    models.mkdir()
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        compare_reward_envs.main(["--env", "CartPole-v0", "--models", *map(str, make_args(models)), "--out", str(out)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], captured.err
    assert captured.out == "" and not out.exists()


def test_agent_config_and_set_reach_every_variant_after_the_model_file(tmp_path, monkeypatch):
    trained = {}

    def fake_train(label, config, seeds, nets):
        trained[label] = config
        return {"points": [[(10, 200.0)] for _ in seeds], "final_returns": [200.0] * len(seeds), "wall_seconds": 0.0}

    monkeypatch.setattr(compare_reward_envs, "train_variant", fake_train)
    compare_reward_envs.main(["--env", "CartPole-v0", "--models", str(save_rn(tmp_path / "rn.pt")), "--runs", "2",
                              "--agent-config", str(PAPER_CARTPOLE_COMPARISON), "--set", "agents.ddqn.lr=0.002",
                              "--set", "protocol.time_limit_is_terminal=true", "--out", str(tmp_path / "out")])
    assert set(trained) == {"potential_additive", "plain", "ICM"}
    for config in trained.values():
        ddqn = config.agents.ddqn
        assert (ddqn.batch_size, ddqn.hidden_size, ddqn.eps_min, ddqn.lr) == (32, 64, 0.1, 0.002)
        assert config.protocol.time_limit_is_terminal and config.protocol.test_every == 1
    assert trained["ICM"].agents.ddqn.icm and not trained["plain"].agents.ddqn.icm


# --- curve statistics against hand-computed numbers ---------------------------------------------

def test_t_critical_values():
    assert t_critical(1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-12)      # 12.7062...
    assert t_critical(2) == pytest.approx(math.sqrt(2 * 0.95 ** 2 / (1 - 0.95 ** 2)), rel=1e-12)  # 4.3027...
    assert t_critical(9) == pytest.approx(2.262157, abs=1e-6)  # a printed t table
    assert t_critical(30) == pytest.approx(2.042272, abs=1e-6)


def test_step_functions_and_their_t_interval():
    run_a, run_b = [(10, 1.0), (30, 3.0)], [(20, 2.0), (30, 6.0)]
    grid = np.array([0, 10, 19, 20, 30, 45])
    np.testing.assert_array_equal(step_values(run_a, grid), [np.nan, 1, 1, 1, 3, 3])
    np.testing.assert_array_equal(step_values(run_b, grid), [np.nan, np.nan, np.nan, 2, 6, 6])
    curve = learning_curve("x", [run_a, run_b], grid)
    np.testing.assert_array_equal(curve.runs, [0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(curve.mean, [np.nan, 1, 1, 1.5, 4.5, 4.5])
    t1 = math.tan(0.475 * math.pi)
    # Two runs: sd = |a - b| / sqrt(2), so the half width is t1 * |a - b| / 2.
    np.testing.assert_allclose(curve.ci_low, [np.nan, np.nan, np.nan, 1.5 - t1 * 0.5, 4.5 - t1 * 1.5, 4.5 - t1 * 1.5])
    np.testing.assert_allclose(curve.ci_high, [np.nan, np.nan, np.nan, 1.5 + t1 * 0.5, 4.5 + t1 * 1.5, 4.5 + t1 * 1.5])
    # Two runs give a wide t-interval; the drawn band stays within what the runs reached.
    np.testing.assert_array_equal(curve.run_low, [np.nan, 1, 1, 1, 3, 3])
    np.testing.assert_array_equal(curve.run_high, [np.nan, 1, 1, 2, 6, 6])
    low, high = curve.band()
    np.testing.assert_array_equal(low, [np.nan, 1, 1, 1, 3, 3])
    np.testing.assert_array_equal(high, [np.nan, 1, 1, 2, 6, 6])


def test_a_band_narrower_than_the_runs_range_is_the_t_interval():
    runs = [[(0, value)] for value in (0.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 20.0)]
    curve = learning_curve("x", runs, np.array([0]))
    low, high = curve.band()
    np.testing.assert_allclose([low[0], high[0]], [curve.ci_low[0], curve.ci_high[0]])
    assert 0 < low[0] < 10 < high[0] < 20


def test_three_run_interval():
    mean, low, high, n = mean_interval(np.array([[1.0], [2.0], [3.0]]))
    t2 = math.sqrt(2 * 0.95 ** 2 / (1 - 0.95 ** 2))
    assert (mean[0], n[0]) == (2.0, 3)
    assert low[0] == pytest.approx(2 - t2 / math.sqrt(3)) and high[0] == pytest.approx(2 + t2 / math.sqrt(3))


def test_the_mean_curve_reaches_the_threshold_where_the_mean_over_the_runs_first_does():
    runs = [[(10, 200.0), (20, 200.0)], [(10, 100.0), (30, 195.0)]]
    curve = learning_curve("v", runs, np.array([0, 10, 20, 30]))
    assert list(curve.mean[1:]) == [150.0, 150.0, 197.5]
    assert mean_curve_reach(curve, 195) == 30  # not 10, where one run first reached it
    assert mean_curve_reach(curve, 198) is None


def test_steps_to_threshold_count_unreached_runs():
    variant = threshold_summary([[(10, 100.0), (20, 196.0)], [(15, 195.0)], [(30, 50.0)]],
                                [196.0, 200.0, -math.inf], 195)
    assert variant["steps_to_threshold"] == [20, 15, None] and variant["median_steps_to_threshold"] == 20
    assert variant["reached"] == 2 and variant["share_reached"] == pytest.approx(2 / 3)
    assert variant["final_return_mean"] == 198.0 and variant["final_return_std"] == pytest.approx(math.sqrt(8))
    assert variant["failed"] == 1
    plain = threshold_summary([[(10, 196.0)], [(40, 10.0)], [(50, 20.0)]], [196.0, 10.0, 20.0], 195)
    assert plain["median_steps_to_threshold"] is None and plain["median_steps_lower_bound"] == 40
    assert step_ratio(plain, variant) == (2.0, "lower")
    assert step_ratio(variant, plain) == (0.5, "upper")
    assert step_ratio(variant, variant) == (1.0, "exact")
    assert step_ratio(plain, plain) == (None, None)


def test_labels_are_types_then_folders_then_numbers():
    class Nets:
        def __init__(self, reward_type):
            self.reward_type = reward_type

    models = [compare_reward_envs.RewardModel(Path(path), Nets(kind), None) for path, kind in [
        ("a/best.pt", "potential_additive"), ("b/best.pt", "potential_additive"), ("a/latest.pt", "potential_additive"),
        ("c/best.pt", "nonpotential_exclusive")]]
    compare_reward_envs.label_models(models)
    assert [m.label for m in models] == ["potential_additive (a) #1", "potential_additive (b)",
                                         "potential_additive (a) #2", "nonpotential_exclusive"]


@pytest.mark.slow  # a compare_reward_envs subprocess
def test_no_icm_leaves_the_curiosity_variant_out_and_threshold_sets_the_table(tmp_path):
    model = save_rn(tmp_path / "rn.pt")
    out = tmp_path / "out"
    completed = run_entry_point("experiments.compare_reward_envs", "--env", "CartPole-v0", "--models", model,
                                "--runs", 2, "--steps", 60, "--no-icm", "--threshold", 12, "--out", out)
    assert completed.returncode == 0, completed.stderr
    assert {row["variant"] for row in read_csv(out / "curves.csv")} == {"potential_additive", "plain"}
    report = json.loads((out / "table.json").read_text())
    assert report["threshold"] == 12.0 and "median steps to 12" in completed.stdout
    runs = defaultdict(list)
    for row in read_csv(out / "points.csv"):
        runs[row["variant"], int(row["run"])].append((int(row["step"]), float(row["test_return"])))
    for (variant, run), points in runs.items():
        first = next((step for step, value in points if value >= 12), None)
        assert report["variants"][variant]["steps_to_threshold"][run] == first
