"""Issue 28, items 5-8 and the same classes elsewhere: float options are finite, a SLURM layout is
checked as its jobs will run before anything is written, bad input gets one line with no log line
before it, and a failed start leaves nothing that blocks its own retry."""
import logging
import socket

import pytest
import yaml

from common.errors import UserError
from experiments import compare_reward_envs, evaluate_env, learn_env, slurm_scripts, train_agent, tune, worker
from experiments.cli import fresh_run_dir, new_run_dir
from experiments.figures import __main__ as figures
from tests.helpers import MDP_SE_FLAGS, REPO_ROOT, run_entry_point
from tests.zoo_models import ZOO

RN_FILE = ZOO / "CartPole-v0" / "cartpole_rn_type2.pt"
SE_FOLDER = ZOO / "CartPole-v0"
BAD_SPACE = "base_config: default_config/cartpole_synthetic_env.yaml\nhyperparameters:\n" \
            "  nes.foo: {type: float, low: 0.1, high: 1}\n"


def one_error_line(capsys, caplog, main, argv) -> str:
    """``main(argv)`` exits with code 2 after one stderr line and no log line: that line."""
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in argv])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
    return lines[0]


def non_empty(folder):
    folder.mkdir()
    (folder / "table.json").write_text("{}\n")
    return folder


# --- item 5 and every other float option: finite numbers only ---------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_compare_reward_envs_threshold_must_be_finite(tmp_path, capsys, caplog, value):
    out = non_empty(tmp_path / "out")
    line = one_error_line(capsys, caplog, compare_reward_envs.main,
                          ["--env", "CartPole-v0", "--models", RN_FILE, f"--threshold={value}", "--out", out])
    assert line == f"error: argument --threshold: must be a finite number, got {value!r}"


@pytest.mark.parametrize("parse, argv", [
    (worker.parse_args, ["--sync-dir", "d", "--idle-exit", "nan"]),
    (slurm_scripts.parse_args, ["nes", "--workers", "1", "--idle-exit", "inf"]),
    (tune.parse_args, ["--worker", "--out", "d", "--wait", "nan"]),
    (tune.parse_args, ["--space", "s", "--iterations", "1", "--eta", "inf"]),
], ids=["worker --idle-exit", "slurm_scripts --idle-exit", "tune --wait", "tune --eta"])
def test_every_float_option_refuses_nan_and_inf(parse, argv):
    with pytest.raises(UserError, match="must be a finite number"):
        parse(argv)


@pytest.mark.slow
def test_a_nan_threshold_is_one_line_from_the_command_line(tmp_path):
    completed = run_entry_point("experiments.compare_reward_envs", "--env", "CartPole-v0", "--models", RN_FILE,
                                "--threshold", "nan", "--out", tmp_path / "out", timeout=60)
    assert completed.returncode == 2 and not (tmp_path / "out").exists()
    assert completed.stderr.strip().splitlines() == ["error: argument --threshold: must be a finite number, got 'nan'"]


# --- item 6: a SLURM layout's inputs are checked as its jobs will read them ----------------------

def test_a_bohb_space_with_an_unknown_key_writes_nothing(tmp_path, capsys, caplog):
    space = tmp_path / "space.yaml"
    space.write_text(BAD_SPACE)
    out = tmp_path / "layout"
    line = one_error_line(capsys, caplog, slurm_scripts.main,
                          ["bohb", "--space", space, "--iterations", 2, "--workers", 1, "--out", out])
    assert line == f"error: space {space}: unknown config key 'nes.foo'"
    assert not out.exists()


def test_a_bohb_set_that_no_sample_can_take_writes_nothing(tmp_path, capsys, caplog):
    out = tmp_path / "layout"
    line = one_error_line(capsys, caplog, slurm_scripts.main,
                          ["bohb", "--space", REPO_ROOT / "default_config" / "bohb" / "cartpole_ppo.yaml",
                           "--iterations", 2, "--workers", 1, "--set", "agents.ppo.lr=0", "--out", out])
    assert "'agents.ppo.lr' is 0.0" in line and not out.exists()


def test_a_bohb_space_keeps_finding_its_base_config_from_the_layout_directory(tmp_path):
    from tuning.space import SearchSpace

    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "base.yaml").write_text("nes: {population: 3}\n")
    space = tmp_path / "spaces" / "space.yaml"
    space.write_text(BAD_SPACE.replace("default_config/cartpole_synthetic_env.yaml", "base.yaml")
                     .replace("nes.foo", "nes.step_size"))
    out = slurm_scripts.main(["bohb", "--space", str(space), "--iterations", "2", "--workers", "1",
                              "--out", str(tmp_path / "layout")])
    copied = yaml.safe_load((out / "space.yaml").read_text())
    assert copied["base_config"] == str((tmp_path / "spaces" / "base.yaml").resolve())
    assert SearchSpace.from_file(out / "space.yaml").base_config.read_text() == "nes: {population: 3}\n"


def test_the_shipped_spaces_are_copied_as_they_are(tmp_path):
    space = REPO_ROOT / "default_config" / "bohb" / "cartpole_ppo.yaml"
    out = slurm_scripts.main(["bohb", "--space", str(space), "--iterations", "2", "--workers", "1",
                              "--out", str(tmp_path / "layout")])
    assert (out / "space.yaml").read_text() == space.read_text()


def test_a_nes_layouts_init_model_must_load_and_becomes_absolute(tmp_path, capsys, caplog, monkeypatch):
    line = one_error_line(capsys, caplog, slurm_scripts.main,
                          ["nes", "--workers", 1, "--set", f"nes.init_model={tmp_path / 'absent.pt'}",
                           "--out", tmp_path / "bad"])
    assert "absent.pt" in line and not (tmp_path / "bad").exists()
    monkeypatch.chdir(REPO_ROOT)
    out = slurm_scripts.main(["nes", "--workers", "1", *MDP_SE_FLAGS,
                              "--set", "nes.init_model=zoo/CartPole-v0/cartpole_se_seed0.pt", "--out", str(tmp_path / "good")])
    saved = yaml.safe_load((out / "config.yaml").read_text())["nes"]["init_model"]
    assert saved == str(REPO_ROOT / "zoo" / "CartPole-v0" / "cartpole_se_seed0.pt")


@pytest.mark.slow
def test_a_bad_bohb_space_is_one_line_from_the_command_line(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(BAD_SPACE)
    completed = run_entry_point("experiments.slurm_scripts", "bohb", "--space", space, "--iterations", 2,
                                "--workers", 1, "--out", tmp_path / "layout", timeout=60)
    assert completed.returncode == 2 and not (tmp_path / "layout").exists()
    assert completed.stderr.strip().splitlines() == [f"error: space {space}: unknown config key 'nes.foo'"]


# --- item 7: one line, no log line before it -------------------------------------------------

@pytest.mark.parametrize("make_out", [lambda tmp: non_empty(tmp / "out"), lambda tmp: tmp / "file"],
                         ids=["folder with results", "file"])
def test_compare_reward_envs_bad_out_is_one_line(tmp_path, capsys, caplog, make_out):
    (tmp_path / "file").write_text("kept\n")
    out = make_out(tmp_path)
    line = one_error_line(capsys, caplog, compare_reward_envs.main,
                          ["--env", "CartPole-v0", "--models", RN_FILE, "--no-icm", "--runs", 1, "--out", out])
    assert str(out) in line and "--resume" not in line
    assert (tmp_path / "file").read_text() == "kept\n"


def test_evaluate_env_with_a_file_as_sync_dir_is_one_line(tmp_path, capsys, caplog):
    (tmp_path / "file").write_text("kept\n")
    line = one_error_line(capsys, caplog, evaluate_env.main,
                          ["--models", SE_FOLDER, "--runs", 1, "--evaluator", "files", "--sync-dir", tmp_path / "file",
                           "--out", tmp_path / "out"])
    assert line == f"error: sync dir {tmp_path / 'file'} is not a directory"
    assert not (tmp_path / "out").exists() and (tmp_path / "file").read_text() == "kept\n"


def test_figures_with_an_unknown_agent_is_one_line(tmp_path, capsys, caplog):
    line = one_error_line(capsys, caplog, figures.main,
                          ["density", "--models", SE_FOLDER, "--agents", "foo", "--out", tmp_path / "out"])
    assert line.startswith("error: --agents: unknown agent 'foo'") and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_compare_reward_envs_bad_out_is_one_line_from_the_command_line(tmp_path):
    out = non_empty(tmp_path / "out")
    completed = run_entry_point("experiments.compare_reward_envs", "--env", "CartPole-v0", "--models", RN_FILE,
                                "--no-icm", "--out", out, timeout=60)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"error: {out} already holds a run or other files; pick another --out"]


# --- item 8: a failed start leaves nothing behind; --resume is only suggested where it exists ---

def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("backend", [
    lambda tmp: ["--evaluator", "files", "--sync-dir", tmp / "file"],
    lambda tmp: ["--evaluator", "dask", "--scheduler", f"tcp://127.0.0.1:{closed_port()}"],
], ids=["files, sync dir a file", "dask, dead scheduler"])
def test_a_failed_learn_env_start_can_simply_be_run_again(tmp_path, capsys, caplog, backend):
    (tmp_path / "file").write_text("kept\n")
    argv = [*backend(tmp_path), "--set", "nes.max_iterations=1", "--out", tmp_path / "run"]
    first = one_error_line(capsys, caplog, learn_env.main, argv)
    assert not (tmp_path / "run").exists()
    assert one_error_line(capsys, caplog, learn_env.main, argv) == first
    assert (tmp_path / "file").read_text() == "kept\n"


def test_a_failed_start_in_an_existing_empty_folder_leaves_it_empty(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(UserError), new_run_dir(tmp_path / "run", "x") as run_dir:
        (run_dir / "config.yaml").write_text("seed: 0\n")
        raise UserError("the backend could not start")
    assert (tmp_path / "run").is_dir() and not list((tmp_path / "run").iterdir())


def test_a_run_that_got_going_is_kept_when_a_later_step_fails(tmp_path):
    with pytest.raises(UserError), new_run_dir(tmp_path / "run", "x",
                                               started=lambda d: (d / "latest.pt").exists()) as run_dir:
        (run_dir / "latest.pt").write_bytes(b"checkpoint")
        raise UserError("a later problem")
    assert (tmp_path / "run" / "latest.pt").exists()


def test_only_commands_with_resume_suggest_it(tmp_path, capsys, caplog):
    out = non_empty(tmp_path / "out")
    with pytest.raises(UserError, match="pass --resume"):
        fresh_run_dir(out, "x", resumable=True)
    for main, argv in ((evaluate_env.main, [SE_FOLDER / "cartpole_se_seed0.pt", "--runs", 1]),
                       (train_agent.main, ["--population", 1]),
                       (figures.main, ["density", "--models", SE_FOLDER])):
        line = one_error_line(capsys, caplog, main, [*argv, "--out", out])
        assert line == f"error: {out} already holds a run or other files; pick another --out"


def test_tune_refuses_a_host_it_cannot_listen_on_before_making_its_run(tmp_path, capsys, caplog):
    line = one_error_line(capsys, caplog, tune.main,
                          ["--space", REPO_ROOT / "default_config" / "bohb" / "cartpole_ppo.yaml", "--iterations", 1,
                           "--host", "256.1.1.1", "--out", tmp_path / "tune"])
    assert line.startswith("error: --host '256.1.1.1': this machine cannot listen there")
    assert not (tmp_path / "tune").exists()


@pytest.mark.slow
def test_a_failed_start_is_one_line_and_leaves_no_run_from_the_command_line(tmp_path):
    (tmp_path / "file").write_text("kept\n")
    args = ("--evaluator", "files", "--sync-dir", tmp_path / "file", "--out", tmp_path / "run")
    for _ in range(2):
        completed = run_entry_point("experiments.learn_env", *args, timeout=60)
        assert completed.returncode == 2 and not (tmp_path / "run").exists()
        assert completed.stderr.strip().splitlines() == [f"error: sync dir {tmp_path / 'file'} is not a directory"]
