"""RealVecEnv: the real env for a population; a member's episodes never depend on the others."""
import numpy as np
import pytest
import torch

from envs.real import make_real_env
from envs.real_vec import RealVecEnv
from models.mlp import PopulationMLP

SEEDS = [21, 22, 23]


def mlp_policy(env_id: str, seeds: list[int]):
    """A fixed random greedy MLP policy per member, so the members act differently."""
    dims = {"CartPole-v0": (4, 2), "Acrobot-v1": (6, 3)}[env_id]
    mlp = PopulationMLP.initialise([s + 1000 for s in seeds], *dims, 8, 1, "tanh")
    return lambda obs: mlp(obs).argmax(dim=-1)


def test_first_reset_uses_the_members_own_seeded_gymnasium_reset():
    env = RealVecEnv("CartPole-v0", SEEDS, episodes_per_member=2)
    obs = env.reset()
    single = make_real_env("CartPole-v0")
    for member, seed in enumerate(SEEDS):
        episode_seeds = np.random.default_rng(seed).integers(2**31, size=2)
        for slot, episode_seed in enumerate(episode_seeds):
            expected, _ = single.reset(seed=int(episode_seed))
            assert np.array_equal(obs[member, slot].numpy(), expected)


@pytest.mark.parametrize("env_id", ["CartPole-v0", "Acrobot-v1"])
def test_a_members_test_returns_are_the_same_alone_as_in_a_population(env_id):
    together = RealVecEnv(env_id, SEEDS, episodes_per_member=2)
    alone = RealVecEnv(env_id, [SEEDS[2]], episodes_per_member=2)
    policy_together, policy_alone = mlp_policy(env_id, SEEDS), mlp_policy(env_id, [SEEDS[2]])
    for _ in range(2):
        in_population = together.test(policy_together, torch.ones(3, dtype=torch.bool))
        by_itself = alone.test(policy_alone, torch.ones(1, dtype=torch.bool))
        assert in_population[2].item() == by_itself[0].item()


def test_inactive_members_get_nan_and_do_not_use_up_their_episodes():
    together = RealVecEnv("CartPole-v0", SEEDS, episodes_per_member=2)
    alone = RealVecEnv("CartPole-v0", [SEEDS[1]], episodes_per_member=2)
    policy_together, policy_alone = mlp_policy("CartPole-v0", SEEDS), mlp_policy("CartPole-v0", [SEEDS[1]])
    partial = together.test(policy_together, torch.tensor([True, False, True]))
    assert torch.isnan(partial[1]) and not torch.isnan(partial[[0, 2]]).any()
    full = together.test(policy_together, torch.ones(3, dtype=torch.bool))
    assert full[1].item() == alone.test(policy_alone, torch.ones(1, dtype=torch.bool))[0].item()


def test_cartpole_test_return_is_capped_at_the_step_limit():
    balance = lambda obs: (obs[..., 2] + 0.5 * obs[..., 3] > 0).long()  # noqa: E731
    env = RealVecEnv("CartPole-v0", SEEDS, episodes_per_member=2)
    assert env.test(balance, torch.ones(3, dtype=torch.bool)).tolist() == [200.0, 200.0, 200.0]
    assert env.steps_used.tolist() == [2 * 200] * 3


def test_frozen_slots_do_not_advance():
    env = RealVecEnv("CartPole-v0", SEEDS[:2], episodes_per_member=1)
    start = env.reset()
    actions = torch.ones(2, 1, dtype=torch.long)
    obs, reward, _, _, _ = env.step(actions, torch.tensor([True, False]))
    assert torch.equal(obs[1], start[1]) and reward[1].item() == 0.0
    assert not torch.equal(obs[0], start[0])
    obs_after, _, _, _, _ = env.step(actions, torch.tensor([False, True]))
    one_step_alone = RealVecEnv("CartPole-v0", SEEDS[1:2], episodes_per_member=1)
    one_step_alone.reset()
    expected, _, _, _, _ = one_step_alone.step(actions[1:])
    assert torch.equal(obs_after[1], expected[0])
