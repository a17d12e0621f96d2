"""experiments.zoo: a learn_env run goes into a zoo with its manifest entry, and loads back."""
import json

import pytest

from nes.model_files import load_model
from tests.helpers import REPO_ROOT, run_entry_point
from tests.zoo_models import zoo_models


@pytest.mark.slow  # a zoo subprocess on the reference learn_env run
def test_a_run_goes_into_the_zoo_with_its_manifest_entry(reference_run, tmp_path):
    run_dir, _ = reference_run
    zoo = tmp_path / "zoo"
    completed = run_entry_point("experiments.zoo", "add", run_dir, "--name", "tiny_se", "--command", "learn_env ...",
                                "--zoo", zoo)
    assert completed.returncode == 0, completed.stderr
    entry, = json.loads((zoo / "manifest.json").read_text())["models"]
    assert entry["file"] == "CartPole-v0/tiny_se.pt" and entry["kind"] == "synthetic_env"
    assert entry["command"] == "learn_env ..." and entry["seed"] == 3
    assert (zoo / entry["nes_run"] / "metrics.csv").read_text() == (run_dir / "metrics.csv").read_text()
    kind, nets, config = load_model(zoo / entry["file"])
    assert kind == "synthetic_env" and config.env == "CartPole-v0" and nets.population == 1


@pytest.mark.slow  # a zoo subprocess on the reference learn_env run
def test_run_only_keeps_the_nes_run_for_the_success_figure_but_no_model(reference_run, tmp_path):
    run_dir, _ = reference_run
    zoo = tmp_path / "zoo"
    completed = run_entry_point("experiments.zoo", "add", run_dir, "--name", "tiny_unsolved", "--command",
                                "learn_env ...", "--zoo", zoo, "--run-only")
    assert completed.returncode == 0, completed.stderr
    manifest = json.loads((zoo / "manifest.json").read_text())
    entry, = manifest["runs"]
    assert not manifest["models"] and not list(zoo.rglob("*.pt"))
    assert (entry["kind"], entry["env"], entry["seed"]) == ("synthetic_env", "CartPole-v0", 3)
    assert (zoo / entry["nes_run"] / "metrics.csv").read_text() == (run_dir / "metrics.csv").read_text()


@pytest.mark.slow  # a zoo subprocess
def test_a_directory_that_is_no_run_is_one_line(tmp_path):
    completed = run_entry_point("experiments.zoo", "add", tmp_path, "--name", "x", "--command", "c",
                                "--zoo", tmp_path / "zoo")
    assert completed.returncode == 2 and "not a learn_env run directory" in completed.stderr


def test_every_shipped_zoo_model_loads_and_its_manifest_is_complete():
    entries = zoo_models()
    assert entries, "zoo/manifest.json lists no models"
    for entry in entries:
        kind, _, config = load_model(entry["path"])
        assert (kind, config.env) == (entry["kind"], entry["env"])
        assert entry["command"].startswith("python -m experiments.learn_env") and "score" in entry


def test_every_shipped_run_only_entry_has_its_nes_run():
    manifest = json.loads((REPO_ROOT / "zoo" / "manifest.json").read_text())
    for entry in manifest.get("runs", []):
        run = REPO_ROOT / "zoo" / entry["nes_run"]
        assert (run / "metrics.csv").is_file() and (run / "config.yaml").is_file(), entry["name"]
