"""Saved synthetic environments: round trip and one-line errors for bad files."""
import pytest
import torch

from common.errors import UserError
from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import load_synthetic_env, save_synthetic_env

SE_SETS = ("synthetic_env.hidden_size=10", "synthetic_env.activation=prelu")


def saved_model(path, config):
    se = config.synthetic_env
    nets = SyntheticEnvNets.initialise([4, 5], real_env_spec(config.env), se.hidden_size, se.hidden_layer,
                                       se.activation)
    save_synthetic_env(path, nets, 1, config, {"iteration": 3})
    return nets


def test_a_saved_member_loads_back_with_its_parameters_and_config(tmp_path):
    config = load_config(None, SE_SETS)
    nets = saved_model(tmp_path / "se.pt", config)
    loaded, loaded_config = load_synthetic_env(tmp_path / "se.pt")
    assert loaded_config == config
    assert loaded.population == 1
    assert torch.equal(loaded.to_flat()[0], nets.to_flat()[1])
    payload = torch.load(tmp_path / "se.pt", weights_only=False)
    assert payload["kind"] == "synthetic_env" and payload["iteration"] == 3


def test_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="model file not found"):
        load_synthetic_env(tmp_path / "absent.pt")


def test_a_corrupt_file_is_a_user_error(tmp_path):
    (tmp_path / "junk.pt").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="corrupt or not a torch file"):
        load_synthetic_env(tmp_path / "junk.pt")


def test_a_file_of_another_kind_is_a_user_error(tmp_path):
    torch.save({"kind": "other", "model": {}, "config": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="holds a 'other', not a synthetic environment"):
        load_synthetic_env(tmp_path / "other.pt")


def saved_model_with_config_edit(tmp_path, section: str, key: str, value):
    """A valid saved SE whose stored config then has ``section.key`` set to ``value``."""
    path = tmp_path / "se.pt"
    saved_model(path, load_config(None, SE_SETS))
    payload = torch.load(path, weights_only=False)
    payload["config"][section][key] = value
    torch.save(payload, path)
    return path


def test_a_file_whose_weights_do_not_match_its_config_is_a_user_error(tmp_path):
    path = saved_model_with_config_edit(tmp_path, "synthetic_env", "hidden_size", 11)
    with pytest.raises(UserError, match="does not match its config"):
        load_synthetic_env(path)


def test_a_file_with_a_bad_config_is_a_user_error(tmp_path):
    path = saved_model_with_config_edit(tmp_path, "nes", "population", 0)
    with pytest.raises(UserError, match="has a bad config"):
        load_synthetic_env(path)
