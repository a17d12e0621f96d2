"""benchmark_learning: seed ranges, bad input, the CSV and tables from made-up rows, and one tiny
run end to end (slow)."""
import csv
import json
from pathlib import Path

import pytest

from experiments import benchmark_learning, sb3_transfer
from experiments.learning_evaluations import planned_evaluations
from experiments.learning_seeds import RECORDS, SeedRecord, learn_command, real_env_steps
from experiments.learning_table import CSV_COLUMNS, csv_rows, report
from tests.helpers import REPO_ROOT, run_entry_point


@pytest.mark.parametrize("text, seeds", [("0-3", [0, 1, 2, 3]), ("7", [7]), (" 2-2 ", [2]), ("10-11", [10, 11])])
def test_seed_ranges_include_both_ends(text, seeds):
    assert benchmark_learning.parse_seed_range(text) == seeds


@pytest.mark.parametrize("argv, message", [
    (["--env", "Pong-v5", "--seeds", "0-1"], "unknown env 'Pong-v5'"),
    (["--env", "CartPole-v0", "--seeds", "5-2"], "ends before it starts"),
    (["--env", "CartPole-v0", "--seeds", "-1"], "is not a seed range"),
    (["--env", "CartPole-v0", "--seeds", "1-2-3"], "is not a seed range"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--config", "missing.yaml"], "config file not found"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--jobs", "0"], "--jobs must be >= 1"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--runs", "0"], "--runs must be >= 1"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--sb3-steps", "30000"], "--sb3-steps must be between"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--set", "nes.population=0"], "nes.population"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--config", "default_config/acrobot_synthetic_env.yaml"],
     "learns for Acrobot-v1, not CartPole-v0"),
    (["--env", "Pendulum-v1", "--seeds", "0-1"], "no default SE config for Pendulum-v1"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--config", "default_config/cartpole_reward_env.yaml"],
     "evaluates synthetic envs"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--evaluations", "ddqn_fixed,dqn"], "--evaluations: unknown 'dqn'"),
    (["--env", "CartPole-v0", "--seeds", "0-1", "--evaluations", ","], "--evaluations: no name given"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "bench"
    with pytest.raises(SystemExit) as exit_info:
        benchmark_learning.main([*argv, "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(lines) == 1 and message in lines[0], lines
    assert not out.exists()


def record(seed, solved, steps_to_solve=None, wall=100.0):
    return SeedRecord(seed=seed, solved=solved, iterations=3, wall_seconds=wall, process_seconds=wall + 5,
                      peak_rss_mb=300.0 + seed, real_env_steps=5000, real_env_steps_to_solve=steps_to_solve)


def run_row(se_seed, agent, test_return, steps, hp_mode="fixed"):
    return {"model": "real env" if se_seed is None else f"seed_{se_seed}", "env": "CartPole-v0", "agent": agent,
            "hp_mode": hp_mode, "run": 0, "seed": 1, "test_return": test_return, "train_steps": steps,
            "train_episodes": 5, "wall_seconds": 1.0, "se_seed": se_seed}


RECORDS_MADE_UP = [record(2, True, 4000, wall=300.0), record(0, True, 2500), record(1, False, wall=200.0)]
EVALUATIONS_MADE_UP = {
    "ddqn_fixed": [run_row(0, "ddqn", 200.0, 1000), run_row(0, "ddqn", 100.0, 3000),
                   run_row(2, "ddqn", 195.0, 2000), run_row(2, "ddqn", 185.0, 2000)],
    "baseline_ddqn_real_env": [run_row(None, "ddqn", 200.0, 8000), run_row(None, "ddqn", 196.0, 12000)],
}


def test_csv_has_one_row_per_seed_and_evaluation_and_one_for_the_baseline():
    rows = csv_rows(RECORDS_MADE_UP, EVALUATIONS_MADE_UP, 195.0)
    assert [(r["seed"], r["evaluation"]) for r in rows] == [(0, "ddqn_fixed"), (1, ""), (2, "ddqn_fixed"),
                                                           ("", "baseline_ddqn_real_env")]
    assert all(list(r) == list(CSV_COLUMNS) for r in rows)
    seed0, unsolved, seed2, baseline = rows
    assert seed0["mean_test_return"] == 150.0 and seed0["share_solved"] == 0.5 and seed0["median_train_steps"] == 2000
    assert seed0["real_env_steps_to_solve"] == 2500 and seed0["runs"] == 2
    assert unsolved["solved"] is False and unsolved["real_env_steps_to_solve"] == "" and unsolved["runs"] == ""
    assert seed2["share_solved"] == 0.5
    assert baseline["median_train_steps"] == 10000 and baseline["solved"] == ""


def test_table_gives_solved_share_walls_steps_per_seed_and_agents_against_the_baseline():
    text = report(RECORDS_MADE_UP, EVALUATIONS_MADE_UP, 195.0, ["header"])
    assert text.startswith("header\n\n2 of 3 seeds solved (67%); NES wall time median 200 s, max 300 s; "
                           "peak memory of a run max 302 MB.")
    assert "| 0 | yes | 3 | 100 | 300 | 2,500 |" in text and "| 1 | no | 3 | 200 | 301 | - |" in text
    # mean over both SEs of their mean returns (150 and 190); median steps 2,000 / the baseline's 10,000
    assert "| ddqn_fixed | ddqn | fixed | 2 | 4 | 170.0 | 150.0 to 190.0 | 50% | 2,000 | 2,000 | 0.20 |" in text
    assert "| baseline_ddqn_real_env | ddqn | fixed | real env | 2 | 198.0 | - | 100% | 10,000 | 10,000 | 1.00 |" in text


def test_table_without_a_solved_seed_has_no_agents():
    text = report([record(0, False)], {}, 195.0, ["header"])
    assert "0 of 1 seeds solved" in text and "| evaluation |" not in text


def test_real_env_steps_count_up_to_the_first_solved_iteration(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("iteration,real_env_steps,saved_best\n0,100,0\n1,150,1\n2,200,1\n")
    assert real_env_steps(metrics) == (450, 250)
    metrics.write_text("iteration,real_env_steps,saved_best\n0,100,0\n1,150,0\n")
    assert real_env_steps(metrics) == (250, None)


def test_a_stopped_seed_resumes_from_its_checkpoint_and_one_without_starts_again(tmp_path):
    run_dir = tmp_path / "seed_3"
    run_dir.mkdir()
    (run_dir / "latest.pt").write_bytes(b"")
    command = learn_command(3, Path("c.yaml"), ["nes.population=4"], run_dir)
    assert command[-2:] == ["--resume", str(run_dir)] and "nes.population=4" not in command
    (run_dir / "latest.pt").unlink()
    (run_dir / "config.yaml").write_text("")
    command = learn_command(3, Path("c.yaml"), ["nes.population=4"], run_dir)
    assert not run_dir.exists()
    assert command[-6:] == ["--config", "c.yaml", "--seed", "3", "--out", str(run_dir)]
    assert command.index("evaluator.threads=1") < command.index("nes.population=4")  # the user's --set wins


@pytest.mark.parametrize("text, chosen", [
    ("all", {e.name for e in planned_evaluations("CartPole-v0", with_sb3=True)}),
    ("none", set()),
    (" ddqn_fixed, baseline_ddqn_real_env ", {"ddqn_fixed", "baseline_ddqn_real_env"}),
])
def test_evaluations_picks_some_all_or_none(text, chosen):
    assert benchmark_learning.chosen_evaluations(text, "CartPole-v0") == chosen


def test_cartpole_evaluations_take_transfer_and_real_env_hyperparameters_on_mdp_ses_only():
    planned = {e.name: e for e in planned_evaluations("CartPole-v0", with_sb3=True)}
    assert list(planned) == ["ddqn_fixed", "ddqn_varied", "baseline_ddqn_real_env", "sb3_dqn", "sb3_ppo",
                             "dueling_ddqn_varied", "ppo_varied", "td3_discrete_varied"]
    assert planned["dueling_ddqn_varied"].hp_file.name == "cartpole_se_transfer.yaml"
    assert planned["ppo_varied"].hp_file is None  # no PPO section there: the SE config's
    assert planned["baseline_ddqn_real_env"].hp_file.name == "cartpole_ddqn.yaml"
    assert planned["baseline_ddqn_real_env"].real_env and not planned["ddqn_fixed"].vary_hp
    bandit = {e.name: e for e in planned_evaluations("CartPole-v0", with_sb3=False, se_kind="bandit")}
    assert all(bandit[f"{agent}_varied"].hp_file is None for agent in ("dueling_ddqn", "ppo", "td3_discrete"))
    acrobot = {e.name: e for e in planned_evaluations("Acrobot-v1", with_sb3=False)}
    assert acrobot["baseline_ddqn_real_env"].hp_file is None and "sb3_dqn" not in acrobot


TINY_CONFIG = """\
env: CartPole-v0
learn: synthetic_env
nes: {population: 4, max_iterations: 1, time_mult: 1000}
synthetic_env: {hidden_size: 16}
agents:
  ddqn: {train_episodes: 3, test_episodes: 2}
"""


def fake_solved_seed(out: Path, seed: int) -> None:
    """What a finished, solved seed leaves in the benchmark's directory, with an SE whose saved
    config caps every evaluation training at a few hundred steps."""
    from envs.real import real_env_spec
    from models.synthetic_env_nets import SyntheticEnvNets
    from nes.config import load_config
    from nes.model_files import save_synthetic_env

    config = load_config(None, ["synthetic_env.hidden_size=16", "protocol.max_train_steps=200",
                                "agents.ddqn.test_episodes=2"])
    se = config.synthetic_env
    nets = SyntheticEnvNets.initialise([seed], real_env_spec(config.env), se.hidden_size, se.hidden_layer,
                                       se.activation)
    (out / f"seed_{seed}").mkdir(parents=True)
    save_synthetic_env(out / f"seed_{seed}" / "best.pt", nets, 0, config, {})
    with open(out / RECORDS, "a") as handle:
        handle.write(json.dumps({"seed": seed, "solved": True, "iterations": 2, "wall_seconds": 10.0,
                                 "process_seconds": 12.0, "peak_rss_mb": 300.0, "real_env_steps": 900,
                                 "real_env_steps_to_solve": 900}) + "\n")


@pytest.mark.slow
def test_benchmark_learns_the_missing_seeds_evaluates_the_solved_ones_and_resumes(tmp_path):
    config, out = tmp_path / "tiny.yaml", tmp_path / "bench"
    config.write_text(TINY_CONFIG)
    fake_solved_seed(out, 0)  # finished before: skipped, but evaluated
    benchmarks = (REPO_ROOT / "BENCHMARKS.md").read_bytes()
    argv = ["--env", "CartPole-v0", "--seeds", "0-1", "--config", config, "--runs", 2, "--sb3-runs", 1,
            "--sb3-steps", 256, "--out", out]
    completed = run_entry_point("experiments.benchmark_learning", *argv, timeout=900)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == str(out)
    assert not (out / "logs" / "seed_0.log").exists() and (out / "seed_1" / "summary.json").is_file()
    with open(out / "benchmark.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    se_evaluations = [e.name for e in planned_evaluations("CartPole-v0", sb3_transfer.available()) if not e.real_env]
    assert [(r["seed"], r["evaluation"]) for r in rows] == [
        *[("0", name) for name in se_evaluations], ("1", ""), ("", "baseline_ddqn_real_env")]
    assert all(r["runs"] == ("1" if r["evaluation"].startswith("sb3_") else "2") for r in rows if r["evaluation"])
    learned = rows[-2]
    assert learned["solved"] == "False" and int(learned["iterations"]) == 1 and float(learned["peak_rss_mb"]) > 50
    table = (out / "table.md").read_text()
    assert "1 of 2 seeds solved (50%)" in table and "| baseline_ddqn_real_env | ddqn |" in table
    assert (REPO_ROOT / "BENCHMARKS.md").read_bytes() == benchmarks, "only --record writes BENCHMARKS.md"

    log_size = (out / "logs" / "seed_1.log").stat().st_size
    again = run_entry_point("experiments.benchmark_learning", *argv, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (out / "logs" / "seed_1.log").stat().st_size == log_size, "a finished seed runs again"
    assert again.stderr.count("reusing") == len(se_evaluations) + 1
    assert (out / "table.md").read_text().split("\n", 2)[2] == table.split("\n", 2)[2]  # all but the dated header
