"""synthetic_env.limit_policy_score: a bandit member scores the worse (or the mean) of its agents' test
return and its limit policy's (argmax_a r(s, a)) on the real env."""
import pytest
import torch

from agents.population import SeedRoles
from common.errors import UserError
from envs.real import real_env_spec
from models.bandit_env_nets import BanditEnvNets
from nes.config import load_config
from nes.learned_envs import initial_nets, nets_from_psi, psi_of
from nes.limit_policy import limit_policy_returns
from nes.member_evaluation import train_agents_in_learned_envs
from tests.helpers import TINY_OVERRIDES

SETS = (*TINY_OVERRIDES, "synthetic_env.kind=bandit", "agents.ddqn.train_episodes=20", "agents.ddqn.init_episodes=2",
        "agents.ddqn.test_episodes=3")


def test_the_limit_policy_takes_the_action_of_the_highest_reward():
    nets = BanditEnvNets.initialise([1, 2], real_env_spec("Acrobot-v1"), 8, 1, "tanh", reward_scale=10.0)
    states = nets.start_states(torch.randn(2, 40, nets.latent_dim, generator=torch.Generator().manual_seed(0)))
    rewards = torch.stack([nets.rewards(torch.full((2, 40), a), states) for a in range(3)], dim=-1)
    assert torch.equal(nets.greedy_actions(states), rewards.argmax(dim=-1))


@pytest.mark.parametrize("combine, expected", [
    ("min", torch.minimum),
    ("mean", lambda agents, limit: (agents + limit) / 2),
])
def test_a_members_score_combines_its_agents_and_its_limit_policys(combine, expected):
    plain = load_config(None, SETS)
    limited = load_config(None, [*SETS, "synthetic_env.limit_policy_score=true",
                                 f"synthetic_env.limit_policy_combine={combine}"])
    spec = real_env_spec("CartPole-v0")
    template = initial_nets(plain, spec, 0)
    psis = psi_of(plain, template).repeat(4, 1) + 0.3 * torch.randn(4, template.flat_size(),
                                                                     generator=torch.Generator().manual_seed(1))
    seeds = [11, 12, 13, 14]
    agents = train_agents_in_learned_envs(plain, psis, seeds, float("inf"))
    scored = train_agents_in_learned_envs(limited, psis, seeds, float("inf"))
    limit = limit_policy_returns(nets_from_psi(plain, template, psis), "CartPole-v0", seeds, 3)
    assert scored.scores == expected(torch.tensor(agents.scores, dtype=torch.float64), limit).tolist()
    assert scored.test_returns == scored.scores
    assert scored.scores != agents.scores
    assert SeedRoles.of(seeds).test_env != seeds   # the agents' test episodes are seeded apart


@pytest.mark.parametrize("sets, message", [
    (["synthetic_env.kind=mdp"], "needs a bandit SE"),
    (["env=Pendulum-v1", "agent=td3"], "needs a bandit SE"),
    (["nes.objective=steps_to_threshold"], "needs nes.objective test_reward"),
])
def test_limit_policy_score_where_it_has_no_meaning_is_one_line(sets, message):
    with pytest.raises(UserError, match=message):
        load_config(None, [*SETS, "synthetic_env.limit_policy_score=true", *sets])
