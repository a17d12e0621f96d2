"""experiments.slurm_scripts writes valid, self-contained batch scripts, and refuses bad input."""
import re
import subprocess

import pytest
import yaml

from tests.helpers import TINY_OVERRIDES, mdp_se_flags, run_entry_point, write_tiny_ses

pytestmark = pytest.mark.slow  # slurm_scripts subprocesses


@pytest.fixture(scope="module")
def nes_layout(tmp_path_factory):
    out = tmp_path_factory.mktemp("layouts") / "nes"
    completed = run_entry_point("experiments.slurm_scripts", "nes", *mdp_se_flags(TINY_OVERRIDES), "--workers", "16",
                                "--time", "1-02:00:00", "--partition", "short", "--mem", "2G", "--out", out)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(out)
    return out


def sbatch_options(script: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([a-z-]+)=(.*)$", script, flags=re.M))


def test_nes_layout_has_a_master_a_one_core_worker_array_and_a_chained_submit(nes_layout):
    assert sorted(p.name for p in nes_layout.iterdir()) == [
        "config.yaml", "env.sh", "logs", "master.sbatch", "submit.sh", "workers.sbatch"]
    master, workers = (sbatch_options((nes_layout / name).read_text()) for name in ("master.sbatch", "workers.sbatch"))
    assert workers["array"] == "0-15" and "array" not in master
    for options in (master, workers):
        assert options["cpus-per-task"] == "1" and options["output"] == "logs/%x.%A_%a.out"
        assert (options["time"], options["partition"], options["mem"]) == ("1-02:00:00", "short", "2G")
    submit = (nes_layout / "submit.sh").read_text()
    assert "master=$(sbatch --parsable master.sbatch)" in submit
    assert "--dependency=after:${master%%;*} workers.sbatch" in submit


def test_jobs_call_the_real_entry_points_with_paths_relative_to_the_layout_directory(nes_layout):
    master = (nes_layout / "master.sbatch").read_text()
    assert "python -m experiments.learn_env --config config.yaml --out run --evaluator files --workers 0 " \
           "--sync-dir sync" in master
    assert "python -m experiments.learn_env --resume run" in master
    assert "python -m experiments.worker --sync-dir sync --stop" in master
    assert "python -m experiments.worker --sync-dir sync --idle-exit 300 --threads 1" \
        in (nes_layout / "workers.sbatch").read_text()
    for name in ("master.sbatch", "workers.sbatch", "submit.sh"):
        assert str(nes_layout) not in (nes_layout / name).read_text()


def test_the_environment_is_activated_in_one_marked_place(nes_layout):
    env = (nes_layout / "env.sh").read_text()
    assert env.count("# >>> activate your environment here >>>") == 1
    assert "#   source " in env and ".venv/bin/activate" in env
    for name in ("master.sbatch", "workers.sbatch"):
        script = (nes_layout / name).read_text()
        assert "source ./env.sh" in script and "activate" not in script.replace("env.sh", "")


def test_the_layout_holds_the_merged_config(nes_layout):
    config = yaml.safe_load((nes_layout / "config.yaml").read_text())
    assert config["nes"]["population"] == 2 and config["agents"]["ddqn"]["train_episodes"] == 3


@pytest.mark.parametrize("layout, args", [("nes", ["--workers", "2"]), ("sweep", ["--seeds", "0-9"])])
def test_every_layout_is_valid_bash(layout, args, tmp_path):
    completed = run_entry_point("experiments.slurm_scripts", layout, *args, "--out", tmp_path / layout)
    assert completed.returncode == 0, completed.stderr
    for script in (tmp_path / layout).glob("*.s*"):
        if script.suffix in (".sh", ".sbatch"):
            assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script.name
    if layout == "sweep":
        assert sbatch_options((tmp_path / layout / "sweep.sbatch").read_text())["array"] == "0-9"


@pytest.mark.parametrize("args, message", [
    (["nes"], "the nes layout needs --workers N"),
    (["nes", "--workers", "2", "--time", "10h"], "--time must be [D-]HH:MM:SS"),
    (["nes", "--workers", "2", "--mem", "lots"], "--mem must be a number"),
    (["sweep", "--seeds", "5-2"], "the sweep layout needs --seeds FIRST-LAST"),
    (["bohb", "--workers", "2", "--iterations", "3"], "the bohb layout needs --space FILE"),
    (["nes", "--workers", "2", "--set", "nes.population=0"], "config key 'nes.population' is 0"),
    (["bohb", "--workers", "2", "--iterations", "3", "--space", "default_config/cartpole_synthetic_env.yaml",
      "--config", "default_config/cartpole_synthetic_env.yaml"], "the bohb layout takes its base config"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    completed = run_entry_point("experiments.slurm_scripts", *args, "--out", tmp_path / "out")
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith(f"error: {message}") and "\n" not in completed.stderr.strip()
    assert not (tmp_path / "out").exists()


def test_an_existing_layout_is_not_overwritten(nes_layout):
    before = (nes_layout / "master.sbatch").read_text()
    completed = run_entry_point("experiments.slurm_scripts", "nes", "--workers", "2", "--out", nes_layout)
    assert completed.returncode == 2 and "already exists" in completed.stderr
    assert (nes_layout / "master.sbatch").read_text() == before


@pytest.fixture(scope="module")
def evaluate_layout(tmp_path_factory):
    models = write_tiny_ses(tmp_path_factory.mktemp("models") / "zoo")
    out = tmp_path_factory.mktemp("layouts") / "evaluate"
    completed = run_entry_point("experiments.slurm_scripts", "evaluate", "--models", models, "--runs", "2",
                                "--baseline", "--seed", "3", "--set", "agents.ddqn.test_episodes=1",
                                "--workers", "4", "--out", out)
    assert completed.returncode == 0, completed.stderr
    return out, models


def test_evaluate_layout_copies_the_models_and_runs_evaluate_env_on_the_files_backend(evaluate_layout):
    layout, models = evaluate_layout
    assert sorted(p.name for p in layout.iterdir()) == ["env.sh", "logs", "master.sbatch", "models", "submit.sh",
                                                        "workers.sbatch"]
    assert sorted(p.name for p in (layout / "models").iterdir()) == ["se_0.pt", "se_1.pt"]
    assert (layout / "models" / "se_1.pt").read_bytes() == (models / "se_1.pt").read_bytes()
    master = (layout / "master.sbatch").read_text()
    assert "python -m experiments.evaluate_env --models models --agent ddqn --runs 2 --baseline --seed 3 " \
           "--set agents.ddqn.test_episodes=1 --out run --evaluator files --workers 0 --sync-dir sync" in master
    assert "python -m experiments.worker --sync-dir sync --stop" in master
    assert sbatch_options((layout / "workers.sbatch").read_text())["array"] == "0-3"
    assert "--dependency=after:${master%%;*} workers.sbatch" in (layout / "submit.sh").read_text()
    for name in ("master.sbatch", "workers.sbatch", "submit.sh"):
        assert subprocess.run(["bash", "-n", str(layout / name)]).returncode == 0, name
        assert str(layout) not in (layout / name).read_text()


@pytest.mark.parametrize("args, message", [
    (["--workers", "2"], "the evaluate layout needs --models"),
    (["--models", "MODELS"], "the evaluate layout needs --workers N"),
    (["--models", "MODELS", "--workers", "2", "--agent", "nope"], "unknown agent 'nope'"),
    (["--models", "MODELS", "--workers", "2", "--runs", "0"], "--runs must be >= 1"),
    (["--models", "MODELS", "--workers", "2", "--config", "default_config/cartpole_synthetic_env.yaml"],
     "the evaluate layout takes its configs from the models"),
    (["--models", "MODELS", "MODELS/se_0.pt", "--workers", "2"], "two models are named 'se_0'"),
    (["--models", "EMPTY", "--workers", "2"], "holds no models"),
])
def test_bad_evaluate_input_is_one_line_and_exit_2(evaluate_layout, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    models = str(evaluate_layout[1])
    args = [a.replace("MODELS", models).replace("EMPTY", str(tmp_path / "empty")) for a in args]
    completed = run_entry_point("experiments.slurm_scripts", "evaluate", *args, "--out", tmp_path / "out")
    assert completed.returncode == 2, completed.stderr
    error = completed.stderr.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error
    assert not (tmp_path / "out").exists()
