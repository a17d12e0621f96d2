"""Every figure command on tiny inputs writes a non-empty PNG, PDF and CSV; bad input is one line."""
import csv

import pytest
import yaml

from common.schema import to_dict
from envs.real import real_env_spec
from experiments.cli import agent_config_overrides
from experiments.evaluation import REAL
from experiments.figures import FIGURES
from experiments.figures.common import LoadedModel
from experiments.figures.density import planned_runs
from experiments.figures.success import find_runs, success_group, success_rows
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import save_reward_env, save_synthetic_env
from tests.helpers import REPO_ROOT, mdp_se_flags, run_entry_point, set_flags

# Tiny budgets for every agent a figure trains.
BUDGET = [f"agents.{agent}.{key}={value}" for agent in ("ddqn", "dueling_ddqn", "td3_discrete", "ql", "sarsa")
          for key, value in (("train_episodes", 2), ("test_episodes", 1))]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("figure_inputs")
    se_dir, rn_dir = root / "ses", root / "rns"
    se_dir.mkdir(), rn_dir.mkdir()
    config = load_config(None, ["synthetic_env.hidden_size=8"])
    nets = SyntheticEnvNets.initialise([1, 2], real_env_spec("CartPole-v0"), 8, 1, "leakyrelu")
    for member in (0, 1):
        save_synthetic_env(se_dir / f"se_{member}.pt", nets, member, config, {})
    cliff = real_env_spec("CliffWalking-v1")
    for code in (1, 2, 5, 6):
        rn_config = load_config(None, ["env=CliffWalking-v1", "agent=ql", "learn=reward_env", f"reward_env.type={code}",
                                       "reward_env.hidden_size=8", "reward_env.hidden_layer=1"])
        rn = RewardEnvNets.initialise([code], cliff, 8, 1, "leakyrelu", code)
        save_reward_env(rn_dir / f"rn_type{code}.pt", rn, 0, rn_config, {})
    runs = root / "runs"
    for step_size in (0.1, 0.5):
        completed = run_entry_point("experiments.learn_env", *mdp_se_flags(
            ("nes.population=2", "nes.max_iterations=2", "agents.ddqn.train_episodes=2", "agents.ddqn.test_episodes=1",
             f"nes.step_size={step_size}", "synthetic_env.hidden_size=8")), "--out", runs / f"step_{step_size}")
        assert completed.returncode == 0, completed.stderr
    return {"ses": se_dir, "rns": rn_dir, "runs": runs}


ARGS = {
    "success": ("runs", []),
    "step_size": ("runs", []),
    "density": ("ses", ["--runs", 2, "--evaluator", "batched"]),  # model_based runs the default, processes
    "state_histograms": ("ses", ["--runs", 2]),
    "model_based": ("ses", ["--runs", 2, "--transitions", 300]),
    "rn_curves": ("rns", ["--runs", 2, "--steps", 150]),
    "learned_rewards": ("rns", []),
}


def test_every_figure_is_covered():
    assert set(ARGS) == set(FIGURES)


@pytest.mark.slow  # figures subprocesses on learn_env runs
@pytest.mark.parametrize("name", list(ARGS))
def test_a_figure_writes_png_pdf_and_csv(name, inputs, tmp_path):
    source, extra = ARGS[name]
    out = tmp_path / name
    completed = run_entry_point("experiments.figures", name, "--models", inputs[source], "--out", out, *extra,
                                *set_flags(BUDGET), timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == str(out)
    for suffix in ("png", "pdf", "csv"):
        assert (out / f"{name}.{suffix}").stat().st_size > 0
    assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / f"{name}.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) > 0


def test_the_readme_names_every_figure():
    readme = (REPO_ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in FIGURES)


@pytest.mark.slow  # figures subprocesses on learn_env runs
@pytest.mark.parametrize("args, message", [
    (["nope", "--models", "SES"], "unknown figure 'nope'"),
    (["density", "--models", "EMPTY"], "holds no models"),
    (["learned_rewards", "--models", "SES"], "no reward networks for CliffWalking-v1"),
    (["density", "--models", "SES", "--env", "Acrobot-v1"], "no synthetic environments for Acrobot-v1"),
    (["density", "--models", "SES", "ACROBOT_SE"], "is for Acrobot-v1, not for CartPole-v0"),
    (["success", "--models", "SES"], "no learn_env runs"),
    (["density", "--models", "SES", "--agent-config", "NO_AGENTS"], "has no agents.<agent> section"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, inputs, tmp_path):
    (tmp_path / "empty").mkdir()
    acrobot = load_config(None, ["env=Acrobot-v1", "synthetic_env.hidden_size=8"])
    save_synthetic_env(tmp_path / "acrobot.pt", SyntheticEnvNets.initialise([1], real_env_spec("Acrobot-v1"), 8, 1,
                                                                           "leakyrelu"), 0, acrobot, {})
    (tmp_path / "no_agents.yaml").write_text("env: CartPole-v0\n")
    named = {"SES": inputs["ses"], "EMPTY": tmp_path / "empty", "ACROBOT_SE": tmp_path / "acrobot.pt",
             "NO_AGENTS": tmp_path / "no_agents.yaml"}
    args = [str(named.get(a, a)) for a in args]
    completed = run_entry_point("experiments.figures", *args, "--out", tmp_path / "out")
    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_se_transfer_agent_config_is_valid_for_every_agent_it_names():
    overrides = agent_config_overrides(REPO_ROOT / "default_config" / "cartpole_se_transfer.yaml")
    config = load_config(None, overrides)
    assert (config.agents.dueling_ddqn.early_out_num, config.agents.td3_discrete.hidden_size) == (1, 510)
    assert config.agents.td3_discrete.gumbel_softmax_hard is True


def test_success_keeps_runs_of_different_objectives_apart(tmp_path):
    """A run scored by steps and one scored by test return are separate curves, each with its own share."""
    for name, objective, returns in (("by_return", "test_reward", (150.0, 196.0)),
                                     ("by_steps", "steps_to_threshold", (150.0, 160.0))):
        run = tmp_path / name
        run.mkdir()
        config = load_config(None, [f"nes.objective={objective}"])
        (run / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
        (run / "metrics.csv").write_text("iteration,mean_test_return_orig\n"
                                         + "".join(f"{i},{value}\n" for i, value in enumerate(returns)))
    rows = success_rows(find_runs([tmp_path]), success_group)
    final = {r["group"]: r["solved_share"] for r in rows if r["iteration"] == 1}
    assert final == {"SE runs, ddqn agents, scored by test return": 1.0,
                     "SE runs, ddqn agents, scored by steps to threshold": 0.0}


def three_ses() -> list[LoadedModel]:
    config = load_config(None, [])
    return [LoadedModel(f"se_{i}", None, "synthetic_env", None, config) for i in range(3)]


def test_density_spreads_a_fixed_number_of_agents_over_the_ses():
    """--runs agents per variant take the SEs in turn, so the figure's cost does not grow with the folder."""
    runs = planned_runs(three_ses(), ["ddqn"], 4, seed=0)
    by_variant = {}
    for run in runs:
        key = "real" if run.model == REAL else run.config.agents.ddqn.vary_hp
        by_variant.setdefault(key, []).append(run.model)
    assert by_variant == {False: ["se_0", "se_1", "se_2", "se_0"], True: ["se_0", "se_1", "se_2", "se_0"],
                          "real": [REAL] * 4}


def test_density_says_which_ses_fewer_runs_than_ses_leave_out(caplog):
    models = three_ses()
    planned_runs(models, ["ddqn"], 3, seed=0)
    assert not caplog.records
    planned_runs(models, ["ddqn"], 2, seed=0)
    assert "trains on 2 of the 3 SEs (se_2 unused); pass --runs 3" in caplog.text
