"""SyntheticVecEnv: P SEs x B episodes, autoreset, frozen members and NaN flags."""
import numpy as np
import torch

from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets

SPEC = real_env_spec("CartPole-v0")
SAMPLER_SEEDS = [41, 42, 43]


def make_nets(seeds=(1, 2, 3)) -> SyntheticEnvNets:
    return SyntheticEnvNets.initialise(list(seeds), SPEC, 16, 1, "leakyrelu")


def make_env(nets: SyntheticEnvNets, sampler_seeds, episodes=2, autoreset=True) -> SyntheticVecEnv:
    return SyntheticVecEnv(nets, SPEC, InitialStateSampler("CartPole-v0", list(sampler_seeds)), episodes, autoreset)


def set_done_bias(nets: SyntheticEnvNets, member: int, bias: float) -> None:
    nets.nets["done_net"].biases[-1][member].fill_(bias)


def test_autoreset_restarts_ended_episodes_and_returns_their_final_observation():
    nets = make_nets(seeds=(1, 2))
    set_done_bias(nets, 0, 1e4)     # member 0: every step ends its episodes
    set_done_bias(nets, 1, -1e4)    # member 1: never
    env = make_env(nets, SAMPLER_SEEDS[:2], episodes=3)
    start = env.reset()
    actions = torch.zeros(2, 3, dtype=torch.long)
    obs, reward, terminated, truncated, final_obs = env.step(actions)
    expected_next, _, _ = nets(actions, start)
    assert terminated.tolist() == [[True] * 3, [False] * 3] and not truncated.any()
    assert torch.equal(final_obs, expected_next)
    reference = InitialStateSampler("CartPole-v0", SAMPLER_SEEDS[:2])
    reference.sample([0, 1], 3)
    assert torch.equal(obs[0], torch.from_numpy(reference.sample([0], 3)[0]))
    assert torch.equal(obs[1], final_obs[1])
    assert env.elapsed.tolist() == [[0, 0, 0], [1, 1, 1]]


def test_autoreset_truncates_at_the_step_limit_and_restarts():
    nets = make_nets(seeds=(2,))
    set_done_bias(nets, 0, -1e4)
    env = make_env(nets, SAMPLER_SEEDS[:1], episodes=1)
    env.reset()
    actions = torch.zeros(1, 1, dtype=torch.long)
    truncations = []
    for step in range(1, SPEC.max_steps + 1):
        _, _, terminated, truncated, _ = env.step(actions)
        assert not terminated.any()
        truncations.append(bool(truncated[0, 0]))
    assert truncations == [False] * (SPEC.max_steps - 1) + [True]
    assert env.elapsed.tolist() == [[0]]


def test_without_autoreset_an_ended_episode_keeps_its_final_state():
    nets = make_nets(seeds=(1,))
    set_done_bias(nets, 0, 1e4)
    env = make_env(nets, SAMPLER_SEEDS[:1], autoreset=False)
    env.reset()
    obs, _, terminated, _, final_obs = env.step(torch.zeros(1, 2, dtype=torch.long))
    assert terminated.all() and torch.equal(obs, final_obs)


def test_inactive_members_keep_their_state_and_get_no_reward():
    env = make_env(make_nets(), SAMPLER_SEEDS)
    start = env.reset()
    obs, reward, terminated, truncated, _ = env.step(torch.ones(3, 2, dtype=torch.long),
                                                     torch.tensor([True, False, True]))
    assert torch.equal(obs[1], start[1])
    assert torch.equal(reward[1], torch.zeros(2))
    assert not terminated[1].any() and not truncated[1].any()
    assert env.elapsed[1].tolist() == [0, 0]


def test_nan_parameters_flag_only_that_member_and_leave_the_others_as_alone():
    nets = make_nets()
    flat = nets.to_flat()
    flat[1] = float("nan")
    nets.load_flat(flat)
    env = make_env(nets, SAMPLER_SEEDS)
    others = make_env(nets.with_flat(flat[[0, 2]]), [SAMPLER_SEEDS[0], SAMPLER_SEEDS[2]])
    env.reset(), others.reset()
    actions = torch.zeros(3, 2, dtype=torch.long)
    for _ in range(3):
        obs, reward, _, _, final_obs = env.step(actions)
        other_obs, other_reward, _, _, _ = others.step(actions[[0, 2]])
        assert torch.isfinite(obs).all() and torch.isfinite(reward).all() and torch.isfinite(final_obs).all()
        assert torch.equal(obs[[0, 2]], other_obs)
        assert torch.equal(reward[[0, 2]], other_reward)
    assert env.nonfinite.tolist() == [False, True, False]
    assert others.nonfinite.tolist() == [False, False]


def test_reset_of_some_members_leaves_the_others_untouched():
    env = make_env(make_nets(), SAMPLER_SEEDS)
    start = env.reset()
    env.step(torch.zeros(3, 2, dtype=torch.long))
    before = env.states.clone()
    after = env.reset(torch.tensor([False, True, False]))
    assert torch.equal(after[[0, 2]], before[[0, 2]])
    assert not torch.equal(after[1], start[1])
    assert np.all(np.abs(after[1].numpy()) <= 0.05)
