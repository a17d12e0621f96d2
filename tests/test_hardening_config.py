"""Issue 28, items 4 and 9: values that make no sense are refused in one line: a key set twice in a
YAML file, a target network that never moves (tau = 0), and a --set of what a model file fixes
(its env, what it is, its networks' shape)."""
import logging

import pytest

from common.config_files import apply_override, read_yaml
from common.errors import UserError
from experiments import evaluate_env
from experiments.figures import __main__ as figures
from nes.config import load_config
from tests.helpers import run_entry_point
from tests.zoo_models import ZOO

SE_FILE = ZOO / "CartPole-v0" / "cartpole_se_seed0.pt"


def one_error_line(capsys, caplog, main, argv) -> str:
    """``main(argv)`` exits with code 2 after one stderr line and no log line: that line."""
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
    return lines[0]


def test_a_key_set_twice_in_a_config_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("nes:\n  population: 3\n  noise_std: 0.1\n  population: 4\n")
    with pytest.raises(UserError, match=r"twice.yaml: key 'population' appears twice in one mapping \(line 4\)"):
        read_yaml(path)
    with pytest.raises(UserError, match="appears twice"):
        load_config(path)


def test_the_same_key_in_two_sections_and_yaml_merge_keys_are_fine(tmp_path):
    path = tmp_path / "fine.yaml"
    path.write_text("base: &base {lr: 0.1, gamma: 0.9}\nagents:\n  ddqn:\n    <<: *base\n    lr: 0.2\n"
                    "  td3:\n    lr: 0.3\n")
    assert read_yaml(path)["agents"] == {"ddqn": {"lr": 0.2, "gamma": 0.9}, "td3": {"lr": 0.3}}


def test_a_key_set_twice_in_a_set_value_is_refused():
    with pytest.raises(UserError, match="--set agents.ddqn: key 'lr' appears twice"):
        apply_override({}, "agents.ddqn={lr: 1, lr: 2}")


@pytest.mark.slow
def test_a_key_set_twice_is_one_line_from_the_command_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("seed: 1\nseed: 2\n")
    completed = run_entry_point("experiments.learn_env", "--config", path, "--out", tmp_path / "run", timeout=60)
    assert completed.returncode == 2 and not (tmp_path / "run").exists()
    assert completed.stderr.strip().splitlines() == [
        f"error: config file {path}: key 'seed' appears twice in one mapping (line 2)"]


@pytest.mark.parametrize("agent", ["ddqn", "dueling_ddqn", "td3", "td3_discrete"])
def test_a_target_network_that_never_moves_is_refused(agent):
    with pytest.raises(UserError, match=f"'agents.{agent}.tau' is 0.0; it must be > 0.0"):
        load_config(None, [f"agents.{agent}.tau=0"])
    assert load_config(None, [f"agents.{agent}.tau=1"]).agents.__dict__[agent].tau == 1.0


@pytest.mark.parametrize("assignment, fixed", [
    ("env=Acrobot-v1", "whose env is CartPole-v0"),
    ("synthetic_env.hidden_size=10", "whose synthetic_env.hidden_size is 83"),
    ("synthetic_env.activation=relu", "whose synthetic_env.activation is leakyrelu"),
    ("learn=reward_env", "whose learn is synthetic_env"),
])
def test_evaluate_env_names_a_set_key_that_conflicts_with_the_model_file(tmp_path, capsys, caplog, assignment, fixed):
    for models in ([str(SE_FILE)], ["--models", str(SE_FILE)]):
        line = one_error_line(capsys, caplog, evaluate_env.main,
                              [*models, "--set", assignment, "--runs", "1", "--out", str(tmp_path / "out")])
        assert line == f"error: --set {assignment} conflicts with model file {SE_FILE}, {fixed}"
    assert not (tmp_path / "out").exists()


def test_a_set_that_repeats_the_models_own_value_is_fine(tmp_path):
    from experiments.evaluation import model_runs

    runs = model_runs([SE_FILE], "ddqn", 1, 0, False, ["env=CartPole-v0", "synthetic_env.hidden_size=83"])
    assert runs[0].config.synthetic_env.hidden_size == 83


def test_figures_name_a_set_key_that_conflicts_with_the_model_file(tmp_path, capsys, caplog):
    line = one_error_line(capsys, caplog, figures.main,
                          ["state_histograms", "--models", str(SE_FILE), "--set", "synthetic_env.hidden_size=10",
                           "--runs", "1", "--out", str(tmp_path / "out")])
    assert "--set synthetic_env.hidden_size=10 conflicts with model file" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_conflicting_set_is_one_line_from_the_command_line(tmp_path):
    completed = run_entry_point("experiments.evaluate_env", SE_FILE, "--set", "env=Acrobot-v1", "--runs", 1,
                                "--out", tmp_path / "out", timeout=60)
    assert completed.returncode == 2 and not (tmp_path / "out").exists()
    assert completed.stderr.strip().splitlines() == [
        f"error: --set env=Acrobot-v1 conflicts with model file {SE_FILE}, whose env is CartPole-v0"]
