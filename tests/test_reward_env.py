"""Reward networks: every type against hand-computed rewards, potential shaping, the env forms."""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from agents.ddqn import DDQN
from agents.training import train_population
from common.errors import UserError
from envs.real import make_real_env, real_env_spec
from envs.real_vec import RealVecEnv
from envs.reward_env import RewardEnv, RewardVecEnv
from models.reward_env_nets import REWARD_TYPES, RewardEnvNets, reward_type_name
from nes.config import load_config

# A made-up env with 2 state and 2 info entries, for networks with hand-set weights.
TOY = SimpleNamespace(env_id="Toy", state_dim=2, info_dim=2)
GAMMA, ENV_REWARD = 0.5, -2.0
STATE, NEXT_STATE, INFO = [1.0, 2.0], [3.0, -1.0], [0.5, 2.0]

# Phi / f = v . relu(W x + b) + c, in build_mlp's flat order (W as (out, in), b, v, c). Every value
# is a binary fraction, so float32 computes the hand-worked results below exactly.
STATE_NET = [1, -1, 0.5, 2] + [0, -1] + [2, -0.5] + [0.25]
INFO_NET = [1, -1, 1, 0, 0.5, 2, 0, -0.25] + [0, -1] + [2, -0.5] + [0.25]
INFO_WEIGHTS = [0.5, -0.25]
# State net:  Phi(s)  = v . relu([-1, 3.5]) + c = -1.5;   Phi(s')  = v . relu([4, -1.5]) + c = 8.25.
# Info net:   Phi(s, i) = v . relu([-0.5, 3]) + c = -1.25; Phi(s', i) = v . relu([4.5, -2]) + c = 9.25.
# Linear:     w . info = 0.25 - 0.5 = -0.25.
EXPECTED = {
    "real": -2.0,
    "potential_exclusive": 0.5 * 8.25 + 1.5,            # 5.625
    "potential_additive": -2.0 + 0.5 * 8.25 + 1.5,      # 3.625
    "potential_info_exclusive": 0.5 * 9.25 + 1.25,      # 5.875
    "potential_info_additive": -2.0 + 0.5 * 9.25 + 1.25,
    "nonpotential_exclusive": 8.25,
    "nonpotential_additive": -2.0 + 8.25,
    "nonpotential_info_exclusive": 9.25,
    "nonpotential_info_additive": -2.0 + 9.25,
    "info_linear_exclusive": -0.25,
    "info_linear_additive": -2.0 - 0.25,
}


def toy_nets(reward_type: str) -> RewardEnvNets:
    nets = RewardEnvNets.initialise([0], TOY, 2, 1, "relu", reward_type)
    flat = {"real": [], "info_linear_exclusive": INFO_WEIGHTS, "info_linear_additive": INFO_WEIGHTS}.get(
        reward_type, INFO_NET if "info" in reward_type else STATE_NET)
    return nets.with_flat(torch.tensor([flat], dtype=torch.float32))


@pytest.mark.parametrize("reward_type", REWARD_TYPES)
def test_every_type_gives_the_hand_computed_reward(reward_type):
    nets = toy_nets(reward_type)
    as_batch = lambda x: torch.tensor([[x]])  # noqa: E731
    reward = nets.rewards(as_batch(STATE), as_batch(NEXT_STATE), torch.tensor([[ENV_REWARD]]), as_batch(INFO), GAMMA)
    assert reward.shape == (1, 1) and reward.item() == EXPECTED[reward_type]
    per_member_gamma = torch.tensor([GAMMA])   # (P,): members may discount differently
    again = nets.rewards(as_batch(STATE), as_batch(NEXT_STATE), torch.tensor([[ENV_REWARD]]), as_batch(INFO),
                         per_member_gamma)
    assert again.item() == EXPECTED[reward_type]


@pytest.mark.parametrize("name, code", REWARD_TYPES.items())
def test_a_type_is_named_by_its_name_or_its_code(name, code):
    assert reward_type_name(name) == reward_type_name(code) == reward_type_name(str(code)) == name


def test_a_config_takes_a_code_and_keeps_the_name():
    config = load_config(None, ["env=HalfCheetah-v5", "agent=td3", "reward_env.type=7"])
    assert config.reward_env.type == "nonpotential_info_exclusive"


@pytest.mark.parametrize("value", ["potential", 9, 1.5, True])
def test_an_unknown_type_is_a_one_line_user_error(value):
    with pytest.raises(UserError, match="config key 'reward_env.type' is") as error:
        load_config(None, [f"reward_env.type={value}"])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("reward_type", ["potential_info_additive", 7, 101])
def test_an_info_type_on_an_env_without_info_is_a_user_error_naming_both(reward_type):
    with pytest.raises(UserError, match=r"reward type '\w+' \(\d+\) needs the env's info vector.*CartPole-v0"):
        RewardEnvNets.initialise([0], real_env_spec("CartPole-v0"), 8, 1, "relu", reward_type)
    with pytest.raises(UserError, match="CliffWalking-v1 has none"):
        load_config(None, ["env=CliffWalking-v1", "agent=ql", "learn=reward_env", f"reward_env.type={reward_type}"])


def test_flat_vectors_and_member_state_dicts_round_trip():
    spec = real_env_spec("CartPole-v0")
    nets = RewardEnvNets.initialise([3, 4], spec, 64, 2, "prelu", "potential_exclusive")
    assert nets.num_params == (4 * 64 + 64 + 1) + (64 * 64 + 64 + 1) + (64 + 1)
    psis = nets.to_flat() + 0.5
    moved = nets.with_flat(psis)
    assert moved.population == 2 and torch.equal(moved.to_flat(), psis)
    state = moved.member_state_dict(1)
    assert list(state)[:2] == ["env.reward_net.0.weight", "env.reward_net.0.bias"]
    alone = RewardEnvNets.from_state_dict(state, spec, 64, 2, "prelu", "potential_exclusive")
    assert torch.equal(alone.to_flat()[0], psis[1])
    cheetah = real_env_spec("HalfCheetah-v5")
    linear = RewardEnvNets.initialise([1, 2, 3], cheetah, 8, 1, "relu", 102)
    assert linear.num_params == 4 and not linear.to_flat().any()   # w starts at zero (the paper's: random)
    assert RewardEnvNets.initialise([1], spec, 8, 1, "relu", 0).to_flat().shape == (1, 0)


def test_exclusive_potential_rewards_telescope_over_an_episode():
    """sum_t gamma^t (gamma Phi(s_t+1) - Phi(s_t)) = gamma^T Phi(s_T) - Phi(s_0), with Phi of the
    terminal state used as it is (the paper's choice)."""
    nets = RewardEnvNets.initialise([7], real_env_spec("CartPole-v0"), 16, 2, "tanh", "potential_exclusive")
    phi = nets.net.member_module(0)
    gamma = 0.9
    env = RewardEnv(make_real_env("CartPole-v0"), nets, gamma=gamma)
    obs, _ = env.reset(seed=3)
    first, discounted, steps, terminated = obs, 0.0, 0, False
    while not terminated:
        obs, reward, terminated, truncated, _ = env.step(steps % 3 == 0)  # falls over within 200 steps
        discounted += gamma ** steps * reward
        steps += 1
        assert not truncated
    with torch.no_grad():
        expected = gamma ** steps * phi(torch.from_numpy(obs)).item() - phi(torch.from_numpy(first)).item()
    assert steps > 5 and discounted == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("env_id, reward_type", [("CartPole-v0", "potential_exclusive"),
                                                 ("CliffWalking-v1", "nonpotential_additive"),
                                                 ("HalfCheetah-v5", "potential_info_additive"),
                                                 ("HalfCheetah-v5", "info_linear_exclusive")])
def test_reward_env_passes_check_env(env_id, reward_type):
    nets = RewardEnvNets.initialise([1, 2], real_env_spec(env_id), 8, 1, "leakyrelu", reward_type)
    env = RewardEnv(make_real_env(env_id), nets, member=1)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert isinstance(reward, float) and "env_reward" in info


def test_info_vector_is_the_steps_info_entries():
    real = RealVecEnv("HalfCheetah-v5", [11])
    real.reset()
    action = torch.full((1, 1, 6), 0.5)
    real.step(action)
    single = make_real_env("HalfCheetah-v5")
    single.reset(seed=int(np.random.default_rng(11).integers(2**31, size=1)[0]))
    info = single.step(action[0, 0].numpy())[4]
    expected = [info[k] for k in ("x_position", "x_velocity", "reward_forward", "reward_ctrl")]
    assert real.last_info.shape == (1, 1, 4)
    assert real.last_info[0, 0].tolist() == pytest.approx(expected, rel=1e-6)


def play(env, actions_for, steps: int):
    """Rewards (steps, P, B) of ``env`` under per-member action sequences."""
    env.reset()
    rewards = []
    for t in range(steps):
        _, reward, terminated, truncated, _ = env.step(actions_for(t))
        rewards.append(reward)
        if (terminated | truncated).any():
            env.reset(terminated.any(dim=1) | truncated.any(dim=1))
    return torch.stack(rewards)


@pytest.mark.parametrize("env_id, reward_type", [("CartPole-v0", "potential_exclusive"),
                                                 ("HalfCheetah-v5", "nonpotential_info_additive")])
def test_a_members_rewards_are_the_same_alone_as_in_a_population(env_id, reward_type):
    seeds, spec = [4, 5, 6], real_env_spec(env_id)
    nets = RewardEnvNets.initialise([10, 11, 12], spec, 16, 1, "leakyrelu", reward_type)
    generator = torch.Generator().manual_seed(0)
    if spec.discrete_actions:
        all_actions = torch.randint(0, 2, (40, 3, 2), generator=generator)
    else:
        all_actions = torch.rand(40, 3, 2, spec.action_dim, generator=generator) * 2 - 1
    together = RewardVecEnv(RealVecEnv(env_id, seeds, 2), nets, 0.9)
    alone = RewardVecEnv(RealVecEnv(env_id, seeds[1:2], 2), nets.with_flat(nets.to_flat()[1:2]), 0.9)
    in_population = play(together, lambda t: all_actions[t], 40)
    by_itself = play(alone, lambda t: all_actions[t, 1:2], 40)
    assert torch.equal(in_population[:, 1], by_itself[:, 0])
    assert not torch.equal(in_population[:, 0], in_population[:, 1])
    assert together.real_returns[1] == alone.real_returns[0]


def test_the_single_and_the_vector_form_give_the_same_rewards():
    spec = real_env_spec("CartPole-v0")
    nets = RewardEnvNets.initialise([8, 9], spec, 16, 2, "tanh", "potential_additive")
    vector = RewardVecEnv(RealVecEnv("CartPole-v0", [3, 4]), nets, 0.95)
    single = RewardEnv(make_real_env("CartPole-v0"), nets, member=1, gamma=0.95)
    vector.reset()
    single.reset(seed=int(np.random.default_rng(4).integers(2**31, size=1)[0]))
    for t in range(12):
        _, reward, *_ = vector.step(torch.full((2, 1), t % 2))
        assert single.step(t % 2)[1] == pytest.approx(reward[1, 0].item(), abs=1e-6)


def test_real_episode_returns_are_recorded_per_member():
    nets = RewardEnvNets.initialise([1, 2], real_env_spec("CartPole-v0"), 8, 1, "relu", "nonpotential_exclusive")
    env = RewardVecEnv(RealVecEnv("CartPole-v0", [1, 2]), nets, 0.99)
    rewards = play(env, lambda t: torch.zeros(2, 1, dtype=torch.long), 60)
    for returns, steps in zip(env.real_returns, env.real_return_steps):
        # CartPole pays 1 per step: an episode's real return is its length.
        assert len(returns) >= 2 and returns == np.diff([0] + steps).astype(float).tolist()
    assert not torch.equal(rewards, torch.ones_like(rewards))   # the agent sees the RN's reward


def test_a_member_whose_network_gives_nan_is_flagged_and_gets_zero_reward():
    spec = real_env_spec("CartPole-v0")
    nets = RewardEnvNets.initialise([1, 2, 3], spec, 8, 1, "relu", "potential_additive")
    flat = nets.to_flat()
    flat[1, 0] = float("nan")
    env = RewardVecEnv(RealVecEnv("CartPole-v0", [1, 2, 3]), nets.with_flat(flat), 0.99)
    env.reset()
    _, reward, *_ = env.step(torch.zeros(3, 1, dtype=torch.long))
    assert env.nonfinite.tolist() == [False, True, False]
    assert reward[1].tolist() == [0.0] and torch.isfinite(reward).all() and (reward[[0, 2]] != 0).all()


def test_ddqn_trains_on_a_cartpole_reward_env():
    config = load_config(None, ["agents.ddqn.train_episodes=6", "agents.ddqn.test_episodes=1",
                                "agents.ddqn.batch_size=16", "reward_env.type=1"])
    agent_config, spec, seeds = config.agents.ddqn, real_env_spec("CartPole-v0"), [1, 2]
    rn = config.reward_env
    nets = RewardEnvNets.initialise(seeds, spec, rn.hidden_size, rn.hidden_layer, rn.activation, rn.type)
    train_env = RewardVecEnv(RealVecEnv("CartPole-v0", [s + 100 for s in seeds]), nets, agent_config.gamma)
    test_env = RealVecEnv("CartPole-v0", [s + 200 for s in seeds], agent_config.test_episodes)
    protocol = dataclasses.replace(config.protocol, stop_when_solved=False)
    result = train_population(DDQN(agent_config, spec, seeds), train_env, test_env, agent_config, protocol,
                              on_synthetic=False)
    assert not result.failed.any() and result.train_episodes.tolist() == [6, 6]
    assert [len(r) for r in train_env.real_returns] == [6, 6]
    assert result.train_steps.tolist() == [int(sum(r)) for r in train_env.real_returns]
    assert result.episode_returns[0] != train_env.real_returns[0]   # trained on the RN's reward
    assert torch.isfinite(result.test_return).all()
