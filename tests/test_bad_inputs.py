"""Bad user input to an entry point: exit code 2, one 'error:' line on stderr, no traceback, no run dir."""
import pytest
import torch

from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import save_synthetic_env
from tests.helpers import run_entry_point

pytestmark = pytest.mark.slow  # one entry-point subprocess per case

# A bad input fails at once; a minute is room for the imports, not for a run that should not start.
TIMEOUT = 60


def assert_one_line_user_error(completed, expected: str) -> None:
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error:") and expected in lines[0], lines[0]
    assert "Traceback" not in completed.stderr and completed.stdout == ""


def malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("nes: [unclosed\n")
    return ["--config", path]


def binary_config(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(bytes([0xD6, 0xFF, 0x00, 0x80]) * 64)
    return ["--config", path]


def corrupt_checkpoint(tmp_path):
    run = tmp_path / "old_run"
    run.mkdir()
    (run / "latest.pt").write_bytes(b"\x00not a checkpoint" * 20)
    return ["--resume", run]


def empty_run_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    return ["--resume", tmp_path / "empty"]


LEARN_ENV_CASES = {
    "unknown env": (lambda tmp: ["--set", "env=Foo-v0"], "unknown env 'Foo-v0'"),
    "unknown agent": (lambda tmp: ["--set", "agent=a2c"], "unknown agent 'a2c'"),
    "unknown backend": (lambda tmp: ["--evaluator", "nope"], "invalid choice: 'nope'"),
    "unknown backend key": (lambda tmp: ["--set", "evaluator.backend=nope"], "choose one of batched"),
    "unknown config key": (lambda tmp: ["--set", "nes.foo=1"], "unknown config key 'nes.foo'"),
    "wrong type": (lambda tmp: ["--set", "nes.population=abc"], "must be int, got 'abc'"),
    "population 0": (lambda tmp: ["--set", "nes.population=0"], "'nes.population' is 0"),
    "negative noise": (lambda tmp: ["--set", "nes.noise_std=-1"], "'nes.noise_std' is -1.0"),
    "negative hp draws": (lambda tmp: ["--set", "nes.hp_draws=-1"], "'nes.hp_draws' is -1"),
    "score transform 9": (lambda tmp: ["--set", "nes.score_transform_type=9"], "it must be <= 7"),
    "missing config file": (lambda tmp: ["--config", tmp / "absent.yaml"], "config file not found"),
    "malformed config file": (malformed_yaml, "is not valid YAML"),
    "binary config file": (binary_config, "binary.yaml"),
    "unknown flag": (lambda tmp: ["--bogus"], "unrecognized arguments: --bogus"),
    "non-integer workers": (lambda tmp: ["--workers", "two"], "invalid int value: 'two'"),
    "resume without checkpoint": (empty_run_dir, "no latest.pt"),
    "resume corrupt checkpoint": (corrupt_checkpoint, "corrupt or not a torch file"),
    "missing init model": (lambda tmp: ["--set", f"nes.init_model={tmp / 'absent.pt'}"], "absent.pt"),
    "corrupt init model": (lambda tmp: ["--set", f"nes.init_model={random_bytes_file(tmp)[0]}"],
                           "corrupt or not a torch file"),
}


@pytest.mark.parametrize("case", list(LEARN_ENV_CASES))
def test_learn_env_rejects_bad_input_in_one_line(case, tmp_path):
    make_args, expected = LEARN_ENV_CASES[case]
    out = tmp_path / "run"
    completed = run_entry_point("experiments.learn_env", *make_args(tmp_path), "--out", out, timeout=TIMEOUT)
    assert_one_line_user_error(completed, expected)
    assert not out.exists()


def random_bytes_file(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())
    return [path]


def wrong_kind_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"kind": "other", "model": {}, "config": {}}, path)
    return [path]


def model_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "model_is_int.pt"
    torch.save({"kind": "synthetic_env", "model": 5, "config": {}}, path)
    return [path]


def run_dir_without_best(tmp_path):
    (tmp_path / "unsolved").mkdir()
    return [tmp_path / "unsolved"]


EVALUATE_ENV_CASES = {
    "missing model file": (lambda tmp: [tmp / "absent.pt"], "model file not found"),
    "run dir without best.pt": (run_dir_without_best, "best.pt"),
    "corrupt model file": (random_bytes_file, "corrupt or not a torch file"),
    "wrong kind of file": (wrong_kind_file, "holds a 'other', not a synthetic environment"),
    "model entry not a state dict": (model_that_is_not_a_state_dict, "model_is_int.pt"),
    "zero runs": (lambda tmp: [tmp / "absent.pt", "--runs", "0"], "--runs must be >= 1"),
    "unknown agent": (lambda tmp: [tmp / "absent.pt", "--agent", "a2c"], "unknown agent 'a2c'"),
}


@pytest.mark.parametrize("case", list(EVALUATE_ENV_CASES))
def test_evaluate_env_rejects_bad_input_in_one_line(case, tmp_path):
    make_args, expected = EVALUATE_ENV_CASES[case]
    out = tmp_path / "evaluation"
    completed = run_entry_point("experiments.evaluate_env", *make_args(tmp_path), "--out", out, timeout=TIMEOUT)
    assert_one_line_user_error(completed, expected)
    assert not out.exists()


def test_benchmark_rejects_a_zero_population():
    assert_one_line_user_error(run_entry_point("experiments.benchmark", "--population", "0", timeout=TIMEOUT),
                               "--population and --train-episodes must be >= 1")


def fresh_model_file(tmp_path):
    config = load_config(None, ["synthetic_env.hidden_size=8"])
    nets = SyntheticEnvNets.initialise([1], real_env_spec(config.env), 8, 1, "leakyrelu")
    save_synthetic_env(tmp_path / "se.pt", nets, 0, config, {})
    return [tmp_path / "se.pt"]


@pytest.mark.parametrize("module, make_args", [
    ("experiments.learn_env", lambda tmp: ["--set", "nes.max_iterations=1"]),
    ("experiments.evaluate_env", fresh_model_file),
])
def test_out_pointing_at_a_file_is_a_one_line_error_and_keeps_the_file(module, make_args, tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me\n")
    completed = run_entry_point(module, *make_args(tmp_path), "--out", existing, timeout=TIMEOUT)
    assert_one_line_user_error(completed, "notes.txt")
    assert existing.read_text() == "keep me\n"
