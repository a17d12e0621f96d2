"""SyntheticEnv: one learned SE as a gymnasium.Env."""
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from envs.real import real_env_spec
from envs.synthetic import SyntheticEnv
from models.synthetic_env_nets import SyntheticEnvNets


def make_nets(env_id: str, seeds=(1,), done_bias: float | None = None) -> SyntheticEnvNets:
    nets = SyntheticEnvNets.initialise(list(seeds), real_env_spec(env_id), 16, 1, "leakyrelu")
    if done_bias is not None:
        nets.nets["done_net"].biases[-1].fill_(done_bias)
    return nets


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("env_id", ["CartPole-v0", "Acrobot-v1"])
def test_passes_the_gymnasium_env_checker(env_id):
    env = SyntheticEnv(make_nets(env_id), env_id)
    check_env(env, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id, limit", [("CartPole-v0", 200), ("Acrobot-v1", 500)])
def test_truncates_at_the_real_step_limit_when_the_done_net_never_fires(env_id, limit):
    env = SyntheticEnv(make_nets(env_id, done_bias=-1e4), env_id)
    env.reset(seed=0)
    for step in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        if truncated:
            break
    assert (step, truncated) == (limit, True)


def test_terminates_on_the_first_step_when_the_done_net_always_fires():
    env = SyntheticEnv(make_nets("CartPole-v0", done_bias=1e4), "CartPole-v0")
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(0)
    assert (terminated, truncated) == (True, False)


def test_steps_follow_the_chosen_members_networks():
    nets = make_nets("CartPole-v0", seeds=(1, 2, 3))
    env = SyntheticEnv(nets, "CartPole-v0", member=2)
    state, _ = env.reset(seed=4)
    next_state, reward, _, _, _ = env.step(1)
    x = torch.cat([torch.tensor([0.0, 1.0]), torch.from_numpy(state)])
    with torch.no_grad():
        expected_state = nets.nets["state_net"].member_module(2)(x)
        expected_reward = nets.nets["reward_net"].member_module(2)(x)
    np.testing.assert_allclose(next_state, expected_state.numpy(), rtol=0, atol=1e-5)
    assert reward == pytest.approx(float(expected_reward), abs=1e-5)


def test_reset_with_a_seed_is_reproducible_and_starts_from_a_real_initial_state():
    env = SyntheticEnv(make_nets("CartPole-v0"), "CartPole-v0")
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    assert np.array_equal(first, again)
    assert first.dtype == np.float32 and np.all(np.abs(first) <= 0.05)
