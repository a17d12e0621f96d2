"""Issue 28, item 11: model files and checkpoints load weights-only, so a file from elsewhere cannot
run code when it is read; everything we save loads that way."""
import dataclasses
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import nes  # noqa: F401  (registers the SynthEnv ids)
from common.errors import UserError
from common.files import atomic_torch_save, load_torch_file
from envs.real import real_env_spec
from experiments import evaluate_env
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import read_model_file, save_synthetic_env
from tests.helpers import run_entry_point
from tests.zoo_models import ZOO


class RunsACommand:
    """Unpickling this calls os.system: what a hostile model file would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def hostile_model_file(tmp_path: Path) -> tuple[Path, Path]:
    """A model file (valid SE model and config) whose unpickling would create ``marker``."""
    marker = tmp_path / "code_ran"
    config = load_config(None, ["synthetic_env.hidden_size=8"])
    nets = SyntheticEnvNets.initialise([1], real_env_spec(config.env), 8, 1, "leakyrelu")
    path = tmp_path / "hostile.pt"
    payload = {"kind": "synthetic_env", "model": nets.member_state_dict(0), "config": dataclasses.asdict(config),
               "note": RunsACommand(f"touch {marker}")}
    torch.save(payload, path)
    return path, marker


def test_a_model_file_whose_unpickling_runs_code_is_refused_and_the_code_does_not_run(tmp_path):
    path, marker = hostile_model_file(tmp_path)
    for read in (lambda: load_torch_file(path, "model file"), lambda: read_model_file(path),
                 lambda: gym.make("SynthEnv/Synthetic-v0", model=str(path))):
        with pytest.raises(UserError, match="other than tensors and plain data .loading it could run code.; refused"):
            read()
    assert not marker.exists()


def test_evaluate_env_refuses_a_hostile_model_file_in_one_line(tmp_path, capsys):
    path, marker = hostile_model_file(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        evaluate_env.main([str(path), "--runs", "1", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "hostile.pt" in lines[0] and "could run code" in lines[0]
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_hostile_model_file_is_one_line_from_the_command_line_too(tmp_path):
    path, marker = hostile_model_file(tmp_path)
    completed = run_entry_point("experiments.evaluate_env", path, "--runs", 1, "--out", tmp_path / "out", timeout=60)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"error: model file {path} holds Python objects other than tensors and plain data (loading it could "
        f"run code); refused"]
    assert not marker.exists()


def test_a_corrupt_file_is_still_called_corrupt(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(UserError, match="corrupt or not a torch file"):
        load_torch_file(path, "model file")


@pytest.mark.parametrize("path", sorted(ZOO.glob("*/*.pt")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_zoo_file_loads_weights_only(path):
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(payload["model"], dict) and isinstance(payload["config"], dict)


def test_saving_turns_numpy_scalars_and_paths_into_plain_values(tmp_path):
    path = tmp_path / "saved.pt"
    atomic_torch_save({"score": np.float64(1.5), "steps": np.int64(3), "where": tmp_path, "psi": torch.ones(2),
                       "rows": [{"solved": np.bool_(True)}], "pair": (np.float32(0.5), None)}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["score"] == 1.5 and type(loaded["score"]) is float
    assert type(loaded["steps"]) is int and loaded["where"] == str(tmp_path)
    assert loaded["rows"] == [{"solved": True}] and type(loaded["rows"][0]["solved"]) is bool
    assert loaded["pair"] == (0.5, None)


def test_saving_an_object_that_would_not_load_weights_only_fails_before_writing(tmp_path):
    @dataclasses.dataclass
    class State:
        step: int = 0

    with pytest.raises(TypeError, match=r"payload\['state'\] is a State"):
        atomic_torch_save({"state": State()}, tmp_path / "saved.pt")
    assert not list(tmp_path.iterdir())


def test_a_saved_se_loads_weights_only(tmp_path):
    config = load_config(None, ["synthetic_env.hidden_size=8"])
    nets = SyntheticEnvNets.initialise([1], real_env_spec(config.env), 8, 1, "leakyrelu")
    save_synthetic_env(tmp_path / "se.pt", nets, 0, config, {"iteration": np.int64(4)})
    assert torch.load(tmp_path / "se.pt", weights_only=True)["iteration"] == 4


@pytest.mark.slow
def test_a_learn_env_runs_checkpoint_and_best_model_load_weights_only(reference_run):
    run_dir, _ = reference_run
    for name in ("latest.pt", "best.pt"):
        if (run_dir / name).exists():
            payload = torch.load(run_dir / name, map_location="cpu", weights_only=True)
            assert isinstance(payload, dict) and isinstance(payload["config"], dict)
