"""Issue 28, item 10: the learned envs' API edges behave as gymnasium envs do: an action outside the
action space is named as such, render_mode=None is accepted and other modes refused clearly, and our
"out of date" filter for CartPole-v0 does not hide gymnasium's warnings from the user's own envs."""
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import nes  # noqa: F401  (registers the SynthEnv ids)
from envs.real import make_real_env, real_env_spec
from envs.synthetic import SyntheticEnv
from models.synthetic_env_nets import SyntheticEnvNets
from tests.helpers import REPO_ROOT, entry_point_env
from tests.zoo_models import ZOO

SE_FILE = ZOO / "CartPole-v0" / "cartpole_se_seed0.pt"
RN_FILE = ZOO / "CartPole-v0" / "cartpole_rn_type2.pt"


def cartpole_se() -> SyntheticEnv:
    nets = SyntheticEnvNets.initialise([1], real_env_spec("CartPole-v0"), 8, 1, "leakyrelu")
    env = SyntheticEnv(nets, "CartPole-v0")
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("action", [2, -1, 1.0, 0.5, "1", None, np.array([1, 0])], ids=repr)
def test_an_action_outside_a_discrete_action_space_is_named_as_such(action):
    with pytest.raises(ValueError, match=r"is outside the action space Discrete\(2\)"):
        cartpole_se().step(action)


@pytest.mark.parametrize("action", [0, 1, np.int64(1), np.array(1)], ids=repr)
def test_integer_actions_in_the_space_step(action):
    obs, reward, *_ = cartpole_se().step(action)
    assert obs.shape == (4,) and isinstance(reward, float)


def test_a_continuous_se_refuses_a_wrong_shape_or_a_nan_action():
    nets = SyntheticEnvNets.initialise([1], real_env_spec("Pendulum-v1"), 8, 1, "leakyrelu")
    env = SyntheticEnv(nets, "Pendulum-v1")
    env.reset(seed=0)
    env.step(np.array([0.5], dtype=np.float32))
    env.step(np.array([0.5]))  # float64 is fine: the networks read float32 anyway
    for action in (np.array([0.5, 0.5]), np.array([np.nan]), 0.5):
        with pytest.raises(ValueError, match="is outside the action space Box"):
            env.step(action)


def test_gym_make_accepts_render_mode_none_for_both_ids():
    assert gym.make("SynthEnv/Synthetic-v0", model=str(SE_FILE), render_mode=None).render_mode is None
    assert gym.make("SynthEnv/Reward-v0", model=str(RN_FILE), render_mode=None).render_mode is None


def test_a_synthetic_env_refuses_a_render_mode_clearly():
    with pytest.raises(ValueError, match="cannot render: render_mode must be None, got 'human'"):
        gym.make("SynthEnv/Synthetic-v0", model=str(SE_FILE), render_mode="human")


def test_a_reward_env_renders_as_its_real_env_does():
    env = gym.make("SynthEnv/Reward-v0", model=str(RN_FILE), render_mode="rgb_array")
    assert env.render_mode == "rgb_array" and env.unwrapped.render_mode == "rgb_array"


def out_of_date_filters() -> list:
    """Process-wide filters that would hide gymnasium's 'is out of date' for every category of warning."""
    return [f for f in warnings.filters
            if f[0] == "ignore" and f[1] is not None and f[1].match("The environment X is out of date.")
            and f[2] is Warning]


def test_building_envs_leaves_no_process_wide_warnings_filter():
    make_real_env("CartPole-v0")
    cartpole_se()
    assert out_of_date_filters() == []


@pytest.mark.slow
def test_the_users_own_cartpole_v0_still_warns_after_an_se_was_built():
    import subprocess

    # -W default: the user asked to see DeprecationWarnings; no filter is added after our imports.
    script = ("import warnings, gymnasium as gym, nes\n"
              f"gym.make('SynthEnv/Synthetic-v0', model={str(SE_FILE)!r}).reset(seed=0)\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    gym.make('CartPole-v0')\n"
              "print(sum('is out of date' in str(w.message) for w in caught))\n")
    completed = subprocess.run([sys.executable, "-W", "default", "-c", script], cwd=REPO_ROOT,
                               env=entry_point_env(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "1"
