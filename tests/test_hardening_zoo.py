"""Issue 28, items 1-3: ``zoo add`` takes plain names only, never replaces an entry silently, and
refuses a --zoo that is a file or a manifest it cannot read, all before writing anything."""
import json
from pathlib import Path

import pytest
import torch

from envs.real import real_env_spec
from experiments import zoo
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config, save_config
from nes.model_files import load_model, save_synthetic_env
from tests.helpers import run_entry_point

SETS = ["synthetic_env.hidden_size=8"]


def fake_run(folder: Path, solved: bool, seed: int = 0) -> Path:
    """A learn_env run directory: solved (best.pt) or not (latest.pt only), two or three iterations."""
    folder.mkdir(parents=True)
    config = load_config(None, [*SETS, f"seed={seed}"])
    save_config(config, folder / "config.yaml")
    returns = (20.0, 199.0) if solved else (10.0, 12.0, 11.0)
    (folder / "metrics.csv").write_text("iteration,mean_test_return_orig\n"
                                        + "".join(f"{i},{r}\n" for i, r in enumerate(returns)))
    nets = SyntheticEnvNets.initialise([seed], real_env_spec(config.env), 8, 1, "leakyrelu")
    if solved:
        save_synthetic_env(folder / "best.pt", nets, 0, config, {"iteration": 1, "mean_test_return_orig": 199.0})
    torch.save({"kind": "nes_checkpoint", "psi": nets.to_flat()[0].clone(), "iteration": len(returns)},
               folder / "latest.pt")
    return folder


def add(run: Path, zoo_dir: Path, name: str, *extra: str) -> list[str]:
    return ["add", str(run), "--name", name, "--command", "python -m experiments.learn_env", "--zoo", str(zoo_dir),
            *extra]


def user_error(capsys, argv) -> str:
    """The one stderr line of ``zoo add`` refusing ``argv`` with exit code 2."""
    with pytest.raises(SystemExit) as exit_info:
        zoo.main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["../../evil", "", ".hidden", "a/b", "a\\b", "_x", "x" * 101, "a b", "a\nb"])
def test_a_name_that_is_not_a_plain_file_stem_is_refused_and_nothing_is_written(tmp_path, capsys, name):
    run = fake_run(tmp_path / "run", solved=True)
    line = user_error(capsys, add(run, tmp_path / "zoo", name))
    assert "is not a plain file stem (letters, digits, '_', '-' and '.'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_plain_names_with_dots_and_dashes_are_fine(tmp_path):
    run = fake_run(tmp_path / "run", solved=True)
    zoo.main(add(run, tmp_path / "zoo", "cartpole_se.v2-seed0"))
    assert (tmp_path / "zoo" / "CartPole-v0" / "cartpole_se.v2-seed0.pt").is_file()


def test_adding_a_taken_name_is_refused_without_replace_and_changes_nothing(tmp_path, capsys):
    zoo_dir = tmp_path / "zoo"
    zoo.main(add(fake_run(tmp_path / "solved", solved=True), zoo_dir, "se"))
    before = tree(zoo_dir)
    unsolved = fake_run(tmp_path / "unsolved", solved=False, seed=7)
    for extra in ((), ("--run-only",)):
        line = user_error(capsys, add(unsolved, zoo_dir, "se", *extra))
        assert "the zoo already holds 'se'" in line and "pass --replace" in line
    assert tree(zoo_dir) == before


def test_replace_replaces_the_model_its_run_and_its_entry(tmp_path):
    zoo_dir = tmp_path / "zoo"
    zoo.main(add(fake_run(tmp_path / "solved", solved=True), zoo_dir, "se"))
    zoo.main(add(fake_run(tmp_path / "unsolved", solved=False, seed=7), zoo_dir, "se", "--replace"))
    entry, = json.loads((zoo_dir / "manifest.json").read_text())["models"]
    assert entry["seed"] == 7 and entry["score"]["solved"] is False and entry["score"]["iteration"] == 3
    assert (zoo_dir / "nes_runs" / "se" / "metrics.csv").read_text().count("\n") == 4
    assert load_model(zoo_dir / entry["file"])[2].seed == 7


def test_replace_with_run_only_leaves_no_model_behind(tmp_path):
    zoo_dir = tmp_path / "zoo"
    zoo.main(add(fake_run(tmp_path / "solved", solved=True), zoo_dir, "se"))
    zoo.main(add(fake_run(tmp_path / "unsolved", solved=False), zoo_dir, "se", "--run-only", "--replace"))
    manifest = json.loads((zoo_dir / "manifest.json").read_text())
    assert manifest["models"] == [] and [e["name"] for e in manifest["runs"]] == ["se"]
    assert not list(zoo_dir.rglob("*.pt"))


def test_a_zoo_that_is_a_file_is_one_line(tmp_path, capsys):
    run = fake_run(tmp_path / "run", solved=True)
    (tmp_path / "zoo").write_text("not a folder")
    assert "--zoo" in user_error(capsys, add(run, tmp_path / "zoo", "se"))
    assert (tmp_path / "zoo").read_text() == "not a folder"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"models": [3]}'])
def test_a_manifest_that_is_no_manifest_is_one_line_and_kept(tmp_path, capsys, text):
    run = fake_run(tmp_path / "run", solved=True)
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "manifest.json").write_text(text)
    assert "zoo manifest" in user_error(capsys, add(run, tmp_path / "zoo", "se"))
    assert sorted(p.name for p in (tmp_path / "zoo").iterdir()) == ["manifest.json"]


def test_a_run_without_finished_iterations_is_one_line(tmp_path, capsys):
    run = fake_run(tmp_path / "run", solved=False)
    (run / "metrics.csv").write_text("iteration,mean_test_return_orig\n")
    assert "no finished NES iteration" in user_error(capsys, add(run, tmp_path / "zoo", "se"))
    assert not (tmp_path / "zoo").exists()


@pytest.mark.slow
def test_a_path_as_name_is_one_line_from_the_command_line(tmp_path):
    run = fake_run(tmp_path / "run", solved=True)
    completed = run_entry_point("experiments.zoo", *add(run, tmp_path / "zoo", "../../evil"), timeout=60)
    assert completed.returncode == 2 and len(completed.stderr.strip().splitlines()) == 1
    assert "Traceback" not in completed.stderr and "is not a plain file stem" in completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
