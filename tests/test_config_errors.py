"""Every bad config input is one UserError line that names the problem."""
import pytest

from common.errors import UserError
from nes.config import load_config


@pytest.mark.parametrize("override, message", [
    ("nes.foo=1", "unknown config key 'nes.foo'"),
    ("foo=1", "unknown config key 'foo'"),
    ("nes.population=abc", "config key 'nes.population' must be int, got 'abc'"),
    ("nes.population=2.5", "config key 'nes.population' must be int"),
    ("nes.mirrored_sampling=3", "config key 'nes.mirrored_sampling' must be bool"),
    ("nes.population=0", "config key 'nes.population' is 0; it must be >= 1"),
    ("nes.noise_std=-1", "config key 'nes.noise_std' is -1.0; it must be > 0.0"),
    ("nes.noise_std=0", "config key 'nes.noise_std' is 0.0; it must be > 0.0"),
    ("nes.score_transform_type=9", "config key 'nes.score_transform_type' is 9; it must be <= 7"),
    ("nes.grad_eval_type=median", "choose one of mean, minmax"),
    ("evaluator.backend=nope", "choose one of batched, serial, processes"),
    ("env=Foo-v0", "unknown env 'Foo-v0'"),
    ("agent=a2c", "unknown agent 'a2c'"),
    ("nes=3", "config section 'nes' must be a mapping"),
    ("agents.ddqn.eps_min=0.9", "eps_min (0.9) exceeds eps_init"),
    ("no_equals_sign", "--set expects key=value"),
])
def test_a_bad_override_is_a_one_line_user_error(override, message):
    with pytest.raises(UserError) as error:
        load_config(None, [override])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("override", ["nes.noise_std=.nan", "nes.step_size=.nan", "agents.ddqn.gamma=.nan"])
def test_nan_is_rejected_for_a_bounded_float(override):
    with pytest.raises(UserError):
        load_config(None, [override])


def test_a_missing_yaml_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_a_malformed_yaml_file_is_a_user_error_naming_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nnes: [unclosed\n")
    with pytest.raises(UserError, match=r"is not valid YAML \(line \d+\)"):
        load_config(path)


def test_a_yaml_file_that_is_not_a_mapping_is_a_user_error(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must hold a mapping"):
        load_config(path)


def test_an_unknown_key_in_the_yaml_file_is_a_user_error(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text("nes:\n  populaton: 3\n")
    with pytest.raises(UserError, match="unknown config key 'nes.populaton'"):
        load_config(path)


def test_overriding_a_value_as_if_it_were_a_section_is_a_user_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("nes:\n  population: 3\n")
    with pytest.raises(UserError, match="'nes.population' is a value, not a section"):
        load_config(path, ["nes.population.x=1"])
