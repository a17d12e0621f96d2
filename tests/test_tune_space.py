"""Search-space files: the paper's ranges, transforms, budgets, and bad spaces (exit 2, one line)."""
import shutil

import pytest

from common.errors import UserError
from tests.helpers import REPO_ROOT, run_entry_point
from tests.test_bad_inputs import assert_one_line_user_error
from tuning.space import SearchSpace, budget_value

SPACES = REPO_ROOT / "default_config" / "bohb"
SE_SPACE = SPACES / "cartpole_synthetic_env.yaml"


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_space_file_loads_and_builds_a_valid_config(path):
    space = SearchSpace.from_file(path)
    sample = dict(space.configspace(seed=1).sample_configuration())
    config = space.config(sample, space.budget.max)
    for key, value in space.values(sample).items():
        section, *rest = key.split(".")
        node = getattr(config, section)
        for part in rest[:-1]:
            node = getattr(node, part)
        assert getattr(node, rest[-1]) == pytest.approx(value) if rest else node == value


def test_cartpole_se_space_has_the_papers_ranges():
    cs = SearchSpace.from_file(SE_SPACE).configspace(seed=0)
    expected = {"nes.step_size": (0.1, 1, True), "nes.noise_std": (0.01, 1, True),
                "agents.ddqn.init_episodes": (1, 20, True), "agents.ddqn.batch_size": (64, 256, False),
                "agents.ddqn.gamma": (0.001, 0.1, True), "agents.ddqn.lr": (1e-4, 5e-3, True),
                "agents.ddqn.tau": (0.005, 0.05, True), "agents.ddqn.eps_init": (0.8, 1, False),
                "agents.ddqn.eps_min": (0.005, 0.05, True), "agents.ddqn.eps_decay": (0.01, 0.2, True),
                "agents.ddqn.hidden_size": (48, 192, True), "synthetic_env.hidden_size": (48, 192, True),
                "nes.score_transform_type": (0, 7, False)}
    for key, (low, high, log) in expected.items():
        hp = cs[key]
        assert (hp.lower, hp.upper, hp.log) == (low, high, log), key
    assert set(cs["nes.mirrored_sampling"].choices) == {False, True}
    assert set(cs["agents.ddqn.hidden_layer"].choices) == set(cs["synthetic_env.hidden_layer"].choices) == {1, 2}
    assert set(cs["agents.ddqn.activation"].choices) == {"tanh", "relu", "leakyrelu", "prelu"}
    assert len(cs) == 18


def test_one_minus_transform_and_budget_mapping():
    space = SearchSpace.from_file(SE_SPACE)
    sample = dict(space.configspace(seed=0).sample_configuration())
    sample |= {"agents.ddqn.gamma": 0.02, "agents.ddqn.eps_decay": 0.1}
    # hpbandster's budgets are max x eta^-k in floats: 36 x 3^-2 is 4.000000000000001.
    config = space.config(sample, 36 * 3.0 ** -2)
    assert config.agents.ddqn.gamma == pytest.approx(0.98)
    assert config.agents.ddqn.eps_decay == pytest.approx(0.9)
    assert config.nes.max_iterations == 4
    assert budget_value(2.4999) == 2 and budget_value(0.2) == 1
    assert space.repeats(36) == 1


def test_budget_mapped_to_repeats_keeps_max_iterations(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(f"base_config: {REPO_ROOT / 'default_config/cartpole_synthetic_env.yaml'}\n"
                    "budget: {maps_to: repeats, min: 1, max: 3}\n"
                    "hyperparameters: {nes.step_size: {type: float, low: 0.1, high: 1}}\n")
    space = SearchSpace.from_file(path)
    assert space.repeats(3.0000001) == 3
    assert space.config({"nes.step_size": 0.5}, 3).nes.max_iterations == 100


BAD_SPACES = {
    "unknown_key": ("hyperparameters: {nes.stepsize: {type: float, low: 0.1, high: 1}}\n",
                    "unknown config key 'nes.stepsize'"),
    "empty": ("hyperparameters: {}\n", "names no hyperparameters"),
    "min_over_max": ("budget: {maps_to: nes.max_iterations, min: 9, max: 3}\n"
                     "hyperparameters: {nes.step_size: {type: float, low: 0.1, high: 1}}\n",
                     "min budget 9 exceeds max budget 3"),
    "low_over_high": ("hyperparameters: {nes.step_size: {type: float, low: 1, high: 0.1}}\n",
                      "low (1) must be below high (0.1)"),
    "budget_not_int_key": ("budget: {maps_to: nes.step_size}\n"
                           "hyperparameters: {nes.step_size: {type: float, low: 0.1, high: 1}}\n",
                           "budget.maps_to must be 'repeats' or an integer config key"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPACES))
def test_bad_space_is_one_line_in_process(tmp_path, name):
    text, expected = BAD_SPACES[name]
    path = tmp_path / "space.yaml"
    path.write_text("base_config: default_config/cartpole_synthetic_env.yaml\n" + text)
    with pytest.raises(UserError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        SearchSpace.from_file(path)


@pytest.mark.slow  # a tune subprocess per case
@pytest.mark.parametrize("name", ["unknown_key", "empty", "min_over_max"])
def test_bad_space_from_the_command_line(tmp_path, name):
    text, expected = BAD_SPACES[name]
    path = tmp_path / "space.yaml"
    path.write_text("base_config: default_config/cartpole_synthetic_env.yaml\n" + text)
    completed = run_entry_point("experiments.tune", "--space", path, "--iterations", 1, "--out", tmp_path / "run",
                                timeout=60)
    assert_one_line_user_error(completed, expected)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # a tune subprocess
def test_min_budget_over_max_budget_flags(tmp_path):
    completed = run_entry_point("experiments.tune", "--space", SE_SPACE, "--iterations", 1, "--min-budget", 5,
                                "--max-budget", 2, "--out", tmp_path / "run", timeout=60)
    assert_one_line_user_error(completed, "min budget 5.0 exceeds max budget 2.0")


@pytest.mark.slow  # a tune subprocess
def test_resume_directory_from_another_space(tmp_path):
    # A tune run directory holds its space as space.yaml (with its base config beside it) and tune.json.
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(SPACES / "cartpole_reward_env.yaml", run / "space.yaml")
    (run / "tune.json").write_text('{"overrides": []}\n')
    completed = run_entry_point("experiments.tune", "--space", SE_SPACE, "--iterations", 1, "--resume", run,
                                timeout=60)
    assert_one_line_user_error(completed, "was tuned with another space")


@pytest.mark.slow  # a tune subprocess
def test_worker_without_a_run_directory(tmp_path):
    completed = run_entry_point("experiments.tune", "--worker", "--out", tmp_path / "nothing", "--wait", 1,
                                timeout=60)
    assert_one_line_user_error(completed, "no tune run in")
