"""The population ICM: shapes, learning a fixed set of transitions, member independence, masking."""
import torch

from agents.icm import ICMOptions, PopulationICM
from envs.real import real_env_spec

CARTPOLE = real_env_spec("CartPole-v0")
PENDULUM = real_env_spec("Pendulum-v1")
SEEDS = [11, 12, 13]


def transitions(spec, population: int, batch: int, seed: int = 0):
    """Random states, actions and next states of a fixed (learnable) dynamics, shared by all members."""
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(batch, spec.state_dim, generator=generator)
    if spec.discrete_actions:
        actions = torch.randint(spec.action_dim, (batch,), generator=generator)
        push = (actions.float() * 2 - 1)[:, None]
    else:
        actions = torch.rand(batch, spec.action_dim, generator=generator) * 2 - 1
        push = actions.sum(dim=-1, keepdim=True)
    next_states = states * 0.9 + 0.3 * push
    expand = lambda t: t.expand(population, *t.shape).clone()  # noqa: E731
    return expand(states), expand(actions), expand(next_states)


def test_shapes_for_discrete_and_continuous_actions():
    icm = PopulationICM(ICMOptions(), CARTPOLE, SEEDS)
    states, actions, next_states = transitions(CARTPOLE, 3, 5)
    reward = icm.intrinsic_reward(states, actions, next_states)
    assert reward.shape == (3, 5) and (reward > 0).all()
    assert torch.equal(reward, icm.intrinsic_reward(states, actions[..., None], next_states))
    assert icm.learn(states, actions[..., None], next_states, torch.ones(3, dtype=torch.bool)).tolist() == [False] * 3

    icm = PopulationICM(ICMOptions(icm_feature_size=7), PENDULUM, SEEDS[:2])
    states, actions, next_states = transitions(PENDULUM, 2, 4)
    assert actions.shape == (2, 4, 1)
    assert icm.intrinsic_reward(states, actions, next_states).shape == (2, 4)
    assert icm.learn(states, actions, next_states, torch.ones(2, dtype=torch.bool)).shape == (2,)


def test_members_start_from_different_networks_and_the_reward_scales_with_eta():
    states, actions, next_states = transitions(CARTPOLE, 3, 8)
    reward = PopulationICM(ICMOptions(), CARTPOLE, SEEDS).intrinsic_reward(states, actions, next_states)
    assert not torch.equal(reward[0], reward[1])
    doubled = PopulationICM(ICMOptions(icm_eta=1.0), CARTPOLE, SEEDS).intrinsic_reward(states, actions, next_states)
    torch.testing.assert_close(doubled, 2 * reward)


def test_the_intrinsic_reward_shrinks_as_the_icm_learns_a_fixed_transition_set():
    icm = PopulationICM(ICMOptions(), CARTPOLE, SEEDS)
    states, actions, next_states = transitions(CARTPOLE, 3, 64)
    everyone = torch.ones(3, dtype=torch.bool)
    before = icm.intrinsic_reward(states, actions, next_states).mean(dim=1)
    for _ in range(150):
        icm.learn(states, actions, next_states, everyone)
    after = icm.intrinsic_reward(states, actions, next_states).mean(dim=1)
    assert (after < 0.05 * before).all(), (before, after)


def test_a_member_learns_the_same_alone_as_in_a_population():
    states, actions, next_states = transitions(CARTPOLE, 3, 16)
    states[0] += 1.0  # members see different data: member 1 must not depend on its neighbours'
    together, alone = PopulationICM(ICMOptions(), CARTPOLE, SEEDS), PopulationICM(ICMOptions(), CARTPOLE, SEEDS[1:2])
    for _ in range(5):
        together.learn(states, actions, next_states, torch.ones(3, dtype=torch.bool))
        alone.learn(states[1:2], actions[1:2], next_states[1:2], torch.ones(1, dtype=torch.bool))
    for in_population, by_itself in zip(together.parameters(), alone.parameters()):
        assert torch.equal(in_population[1], by_itself[0])
    assert torch.equal(together.intrinsic_reward(states, actions, next_states)[1],
                       alone.intrinsic_reward(states[1:2], actions[1:2], next_states[1:2])[0])


def test_only_active_members_change_and_they_change_as_if_everyone_learned():
    states, actions, next_states = transitions(CARTPOLE, 3, 16)
    masked, full = PopulationICM(ICMOptions(), CARTPOLE, SEEDS), PopulationICM(ICMOptions(), CARTPOLE, SEEDS)
    initial = [p.clone() for p in masked.parameters()]
    garbage = states.clone()
    garbage[1] = float("nan")  # an inactive member's rows are never read
    flags = masked.learn(garbage, actions, next_states, torch.tensor([True, False, True]))
    full.learn(states, actions, next_states, torch.ones(3, dtype=torch.bool))
    assert flags.tolist() == [False, False, False]
    for p_masked, p_full, p_initial in zip(masked.parameters(), full.parameters(), initial):
        assert torch.equal(p_masked[1], p_initial[1])
        assert torch.equal(p_masked[[0, 2]], p_full[[0, 2]])
    assert masked.optimizer.steps.tolist() == [1, 0, 1]
    assert all(not m[1].any() for m in masked.optimizer.exp_avg)


def test_a_nonfinite_loss_is_flagged_and_leaves_that_member_untouched():
    icm = PopulationICM(ICMOptions(), CARTPOLE, SEEDS)
    states, actions, next_states = transitions(CARTPOLE, 3, 8)
    states[2, 0, 0] = float("inf")
    initial = [p.clone() for p in icm.parameters()]
    assert icm.learn(states, actions, next_states, torch.ones(3, dtype=torch.bool)).tolist() == [False, False, True]
    for p, p_initial in zip(icm.parameters(), initial):
        assert torch.equal(p[2], p_initial[2]) and not torch.equal(p[0], p_initial[0])
