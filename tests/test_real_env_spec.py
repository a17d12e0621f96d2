"""The supported real envs and the facts the NES takes from them."""
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from common.errors import UserError
from envs.real import SUPPORTED_ENVS, check_env_id, make_real_env, real_env_spec


def test_cartpole_v0_spec():
    spec = real_env_spec("CartPole-v0")
    assert (spec.state_dim, spec.action_dim, spec.discrete_actions) == (4, 2, True)
    assert (spec.max_steps, spec.solved_reward) == (200, 195.0)


def test_acrobot_v1_spec():
    spec = real_env_spec("Acrobot-v1")
    assert (spec.state_dim, spec.action_dim, spec.discrete_actions) == (6, 3, True)
    assert (spec.max_steps, spec.solved_reward) == (500, -100.0)


@pytest.mark.parametrize("call", [check_env_id, make_real_env, real_env_spec])
def test_an_unknown_env_id_is_a_user_error_naming_it(call):
    with pytest.raises(UserError, match="unknown env 'Foo-v0'"):
        call("Foo-v0")


@pytest.mark.parametrize("env_id, facts", [
    ("MountainCarContinuous-v0", (2, 1, False, 999, 90.0, False, 1.0)),
    ("Pendulum-v1", (3, 1, False, 200, -200.0, False, 2.0)),
    ("CliffWalking-v1", (48, 4, True, 100, -13.0, True, 1.0)),
    ("HalfCheetah-v5", (17, 6, False, 1000, 3000.0, False, 1.0)),
])
def test_specs_of_the_agent_envs(env_id, facts):
    spec = real_env_spec(env_id)
    assert (spec.state_dim, spec.action_dim, spec.discrete_actions, spec.max_steps, spec.solved_reward,
            spec.discrete_states, spec.action_bound) == facts


@pytest.mark.parametrize("env_id", SUPPORTED_ENVS)
def test_every_real_env_as_we_wrap_it_passes_gymnasiums_checker(env_id):
    # The checker warns that a wrapped env is not its unwrapped core; the wrapped form is what we use.
    warnings.filterwarnings("ignore", message=".*is different from the unwrapped version.*")
    check_env(make_real_env(env_id), skip_render_check=True)


def test_cliff_walking_observations_are_one_hot_cells():
    env = make_real_env("CliffWalking-v1")
    observation, _ = env.reset(seed=0)
    assert observation.dtype == np.float32 and observation.sum() == 1.0 and observation.argmax() == 36
    observation, reward, *_ = env.step(0)   # up from the start cell
    assert observation.argmax() == 24 and reward == -1
