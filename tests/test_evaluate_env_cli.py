"""evaluate_env end to end on a saved SE (its config, saved with it, sets the tiny budgets)."""
import csv
import json
import re

import pytest

from common.errors import UserError
from envs.real import real_env_spec
from experiments.cli import agent_config_overrides
from experiments.evaluate_env import model_runs, summary_table
from experiments.evaluation import CSV_COLUMNS, evaluate_runs
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import EvaluatorConfig, load_config
from nes.model_files import save_reward_env, save_synthetic_env
from tests.files_helpers import FILES, finish, start, wait_for
from tests.helpers import EVALUATION_SETS, REPO_ROOT, last_stdout_line, write_tiny_ses

BUDGET = EVALUATION_SETS


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


@pytest.mark.slow  # an evaluate_env subprocess
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
    for summary, side in ((se, "synthetic"), (real, "real")):
        steps = [r["train_steps"] for r in report[side]["runs"]]
        assert summary["mean_train_steps"] == pytest.approx(sum(steps) / 2)
    assert report["mean_step_ratio_real_over_se"] == pytest.approx(real["mean_train_steps"] / se["mean_train_steps"])
    assert "SE" in completed.stdout and "real env" in completed.stdout


@pytest.mark.slow  # evaluate_env subprocesses
def test_the_same_seed_gives_the_same_evaluation(model_dir, tmp_path, run_module):
    reports = []
    for name in ("first", "second"):
        completed = run_module("experiments.evaluate_env", model_dir / "best.pt", "--runs", 2, "--seed", 4,
                               "--out", tmp_path / name)
        assert completed.returncode == 0, completed.stderr
        report = json.loads((tmp_path / name / "evaluation.json").read_text())
        reports.append(report["synthetic"]["runs"])
    assert reports[0] == reports[1]


@pytest.fixture
def models_dir(tmp_path):
    """A folder of two SEs (different weights, one architecture), like zoo/."""
    return write_tiny_ses(tmp_path / "zoo")


@pytest.mark.slow  # an evaluate_env subprocess
def test_many_models_give_one_tidy_csv_with_a_baseline(models_dir, tmp_path, run_module):
    out = tmp_path / "many"
    completed = run_module("experiments.evaluate_env", "--models", models_dir, "--runs", 2, "--baseline",
                           "--vary-hp", "--out", out)
    assert completed.returncode == 0, completed.stderr
    with open(out / "evaluation.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["model"], r["run"]) for r in rows] == [("se_0", "0"), ("se_0", "1"), ("se_1", "0"), ("se_1", "1"),
                                                      ("real env", "0"), ("real env", "1")]
    assert {r["hp_mode"] for r in rows} == {"varied"} and {r["agent"] for r in rows} == {"ddqn"}
    assert all(1 <= int(r["train_episodes"]) <= 3 and int(r["train_steps"]) > 0 for r in rows)
    assert rows[0]["seed"] == rows[2]["seed"] != rows[4]["seed"]  # common seeds across models
    assert "real env" in (out / "summary.txt").read_text()


def test_the_summary_gives_mean_and_median_steps_per_model_and_pooled_over_the_models():
    def row(model, run, steps, test_return):
        return {"model": model, "env": "CartPole-v0", "agent": "ddqn", "hp_mode": "varied", "run": run,
                "test_return": test_return, "train_steps": steps, "train_episodes": 1}

    rows = [row("se_0", 0, 100, 200.0), row("se_0", 1, 300, 180.0), row("se_1", 0, 800, 100.0),
            row("real env", 0, 5000, 195.0), row("real env", 1, 7000, 199.0)]
    lines = {line.split()[0] if not line.startswith("all") else "all": line.split()
             for line in summary_table(rows).splitlines()[2:]}
    # runs, mean return, median return, mean steps, median steps, median episodes
    assert lines["se_0"][-6:] == ["2", "190.0", "190.0", "200", "200", "1"]
    assert lines["real"][-6:] == ["2", "197.0", "197.0", "6000", "6000", "1"]
    assert lines["all"][:3] == ["all", "2", "models"]
    assert lines["all"][-6:] == ["3", "160.0", "180.0", "400", "300", "1"]


def without_wall_seconds(rows) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]


def csv_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_evaluator_backends_are_the_nes_ones_and_give_the_same_rows(models_dir, tmp_path):
    runs = model_runs([models_dir], "ddqn", 2, 5, vary_hp=False, baseline=True)
    batched = evaluate_runs(runs)
    serial = evaluate_runs(runs, EvaluatorConfig(backend="serial"), tmp_path / "serial")
    assert without_wall_seconds(serial) == without_wall_seconds(batched)


@pytest.mark.slow  # evaluate_env and worker processes
def test_files_backend_with_external_workers_writes_the_batched_csv(models_dir, tmp_path, run_module):
    """--workers 0: only workers started elsewhere (as a SLURM array would) train the agents."""
    common = ["--models", models_dir, "--runs", 2, "--baseline", "--seed", 3]
    sync = tmp_path / "sync"
    master = start("experiments.evaluate_env", *common, *FILES, "--workers", 0, "--sync-dir", sync,
                   "--out", tmp_path / "files")
    workers = []
    try:
        wait_for(lambda: list(sync.glob("runs/*/tasks/0")), "the first tasks", process=master)
        workers = [start("experiments.worker", "--sync-dir", sync, "--idle-exit", 60) for _ in range(2)]
        finish(master)
        start("experiments.worker", "--sync-dir", sync, "--stop").wait(timeout=60)
        logs = [finish(worker, timeout=60)[1] for worker in workers]
    finally:
        for process in [master, *workers]:
            process.kill()
    batched = run_module("experiments.evaluate_env", *common, "--out", tmp_path / "batched")
    assert batched.returncode == 0, batched.stderr
    rows, expected = csv_rows(tmp_path / "files" / "evaluation.csv"), csv_rows(tmp_path / "batched" / "evaluation.csv")
    assert without_wall_seconds(rows) == without_wall_seconds(expected) and len(rows) == 6
    assert sum(int(re.search(r"answered (\d+)", log)[1]) for log in logs) == 6, logs
    assert not list((sync / "runs").iterdir()), "a finished evaluation leaves nothing in the sync dir"


@pytest.mark.slow  # an evaluate_env subprocess per case
@pytest.mark.parametrize("args, message", [
    (["--evaluator", "slurm"], "argument --evaluator: invalid choice: 'slurm'"),
    (["--workers", "-1"], "evaluator.workers"),
    (["--evaluator", "processes", "--workers", "0"], "evaluator.workers must be >= 1 for the processes backend"),
    (["--evaluator", "files", "--set", "evaluator.lease_seconds=0"], "evaluator.lease_seconds"),
])
def test_bad_evaluator_flags_are_one_line_and_exit_2(models_dir, tmp_path, run_module, args, message):
    completed = run_module("experiments.evaluate_env", "--models", models_dir, *args, "--out", tmp_path / "out")
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.slow  # an evaluate_env subprocess per case
@pytest.mark.parametrize("args, message", [
    (["--models"], "expected at least one argument"),
    (["MODEL", "--models", "MODEL"], "not both"),
    (["--models", "EMPTY"], "holds no models"),
])
def test_bad_model_arguments_are_one_line(models_dir, tmp_path, run_module, args, message):
    (tmp_path / "empty").mkdir()
    args = [str(models_dir / "se_0.pt") if a == "MODEL" else str(tmp_path / "empty") if a == "EMPTY" else a
            for a in args]
    completed = run_module("experiments.evaluate_env", *args, "--out", tmp_path / "out")
    assert completed.returncode == 2 and message in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_reward_networks_in_a_model_folder_are_skipped(models_dir, tmp_path):
    config = load_config(None, ["learn=reward_env", "reward_env.hidden_size=8"])
    rn = RewardEnvNets.initialise([1], real_env_spec("CartPole-v0"), 8, 2, "leakyrelu", "potential_additive")
    save_reward_env(models_dir / "rn.pt", rn, 0, config, {})
    assert {run.model for run in model_runs([models_dir], "ddqn", 1, 0, vary_hp=False)} == {"se_0", "se_1"}
    only_rn = tmp_path / "rns"
    only_rn.mkdir()
    save_reward_env(only_rn / "rn.pt", rn, 0, config, {})
    with pytest.raises(UserError, match="no synthetic environments"):
        model_runs([only_rn], "ddqn", 1, 0, vary_hp=False)


@pytest.mark.slow  # evaluate_env and worker processes
def test_a_killed_files_master_started_again_reuses_the_results_already_written(models_dir, tmp_path, run_module):
    """What the SLURM evaluate layout relies on when its master job is submitted again."""
    common = ["--models", models_dir, "--runs", 2, "--set", "agents.ddqn.train_episodes=12"]
    sync = tmp_path / "sync"
    files = [*common, *FILES, "--workers", 0, "--sync-dir", sync]
    first = start("experiments.evaluate_env", *files, "--out", tmp_path / "first" / "run")
    worker = again = None
    try:
        wait_for(lambda: list(sync.glob("runs/*/tasks/0")), "the tasks", process=first)
        worker = start("experiments.worker", "--sync-dir", sync, "--batch", 1, "--idle-exit", 60)
        wait_for(lambda: list(sync.glob("runs/run.g0-*/results/*")), "a first result", process=first)
        first.kill()
        first.wait()
        again = start("experiments.evaluate_env", *files, "--out", tmp_path / "again" / "run")
        finish(again)
        start("experiments.worker", "--sync-dir", sync, "--stop").wait(timeout=60)
        _, log = finish(worker, timeout=60)
    finally:
        for process in (first, worker, again):
            if process is not None:
                process.kill()
    assert not (tmp_path / "first" / "run" / "evaluation.csv").exists()
    batched = run_module("experiments.evaluate_env", *common, "--out", tmp_path / "batched")
    assert batched.returncode == 0, batched.stderr
    assert without_wall_seconds(csv_rows(tmp_path / "again" / "run" / "evaluation.csv")) \
        == without_wall_seconds(csv_rows(tmp_path / "batched" / "evaluation.csv"))
    assert "answered 4 tasks" in log, "each of the 4 agents trained once: the first master's results were reused"


def test_agent_config_takes_the_agents_section_of_a_yaml_file(models_dir, tmp_path):
    tuned = REPO_ROOT / "default_config" / "cartpole_td3_discrete.yaml"
    overrides = agent_config_overrides(tuned, ["td3_discrete"])
    runs = model_runs([models_dir], "td3_discrete", 1, 0, vary_hp=False, overrides=overrides)
    agent = runs[0].config.agents.td3_discrete
    assert (agent.gumbel_softmax_temp, agent.gumbel_softmax_hard, agent.activation, agent.tau) == (8.0, True, "tanh", 0.05)


@pytest.mark.slow  # an evaluate_env subprocess per case
@pytest.mark.parametrize("file, message", [
    ("default_config/cartpole_ddqn.yaml", "has no agents.td3_discrete section"),
    ("default_config/no_such.yaml", "config file not found"),
])
def test_bad_agent_config_is_one_line_and_exit_2(models_dir, tmp_path, run_module, file, message):
    completed = run_module("experiments.evaluate_env", "--models", models_dir, "--agent", "td3_discrete",
                           "--agent-config", REPO_ROOT / file, "--out", tmp_path / "out")
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
