"""The config path: schema defaults, then a YAML file, then typed ``--set`` overrides."""
import dataclasses

import yaml

from common.schema import describe, to_dict
from nes.config import Config, load_config, save_config
from nes.strategies import STRATEGIES
from tests.helpers import REPO_ROOT, leaf_keys

DEFAULT_YAML = REPO_ROOT / "default_config" / "cartpole_synthetic_env.yaml"


def test_schema_defaults_equal_the_default_yaml_file():
    """The default file spells out every key except the sections of agents and search strategies it
    does not use."""
    from_file = leaf_keys(yaml.safe_load(DEFAULT_YAML.read_text()))
    unused_strategies = tuple(f"nes.{name}." for name in STRATEGIES)
    schema = {key: value for key, value in leaf_keys(to_dict(load_config(None))).items()
              if (not key.startswith("agents.") or key.startswith("agents.ddqn.")) and not key.startswith(unused_strategies)}
    assert schema == from_file
    assert load_config(DEFAULT_YAML) == load_config(None)


def test_overrides_are_parsed_into_the_field_types():
    config = load_config(None, ["nes.population=5", "nes.noise_std=0.5", "nes.mirrored_sampling=false",
                                "env=Acrobot-v1", "agents.ddqn.lr=0.001"])
    assert (config.nes.population, config.nes.noise_std, config.nes.mirrored_sampling) == (5, 0.5, False)
    assert (config.env, config.agents.ddqn.lr) == ("Acrobot-v1", 0.001)
    assert type(config.nes.population) is int and type(config.nes.noise_std) is float


def test_an_int_is_accepted_for_a_float_key_and_stored_as_float():
    config = load_config(None, ["nes.time_max=30"])
    assert config.nes.time_max == 30.0 and type(config.nes.time_max) is float


def test_a_float_in_scientific_notation_is_accepted():
    # YAML 1.1 (PyYAML) reads "3e-4" as a string; a float key must still take it.
    assert load_config(None, ["agents.ddqn.lr=3e-4"]).agents.ddqn.lr == 3e-4


def test_later_overrides_win_and_the_file_beats_the_schema(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 4\nnes:\n  population: 6\n")
    config = load_config(path, ["nes.population=7", "nes.population=8"])
    assert (config.seed, config.nes.population, config.nes.max_iterations) == (4, 8, 100)


def test_an_empty_yaml_file_gives_the_schema_defaults(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml") == Config()


def test_saved_config_loads_back_equal(tmp_path, tiny_config):
    save_config(tiny_config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == tiny_config


def test_describe_lists_every_key_once_with_its_type_and_default():
    lines = describe(Config)
    keys = leaf_keys(to_dict(Config()))
    assert len(lines) == len(keys)
    for line, (key, default) in zip(lines, keys.items()):
        assert line.startswith(f"  {key} (") and f"default {default})" in line


def test_agent_config_is_the_selected_agents_section():
    config = load_config(None)
    assert config.agent_config() is config.agents.ddqn
    assert dataclasses.is_dataclass(config.agent_config())
