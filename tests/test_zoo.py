"""experiments.zoo: a learn_env run goes into a zoo with its manifest entry, and loads back."""
import json

from envs.model_files import load_model
from tests.helpers import run_entry_point
from tests.zoo_models import zoo_models


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
