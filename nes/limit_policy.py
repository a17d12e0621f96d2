"""The limit policy of a bandit SE: argmax_a r(s, a) of its reward network, tested on the real env.

Every step of a bandit SE is terminal, so an agent that learns action values converges to
Q(s, a) = r(s, a) on the SE's start states, and its greedy policy to the limit policy (a policy
gradient agent climbs to it too). NES trains each member's agents for a fixed budget, and an SE can
score well for agents stopped there while its limit policy fails; ``synthetic_env.limit_policy_score``
scores such a member by the worse of the two, or by their mean (``limit_policy_combine``).
"""
import torch

from common.rng import derive_seed
from envs.real_vec import RealVecEnv
from models.bandit_env_nets import BanditEnvNets

LIMIT_TEST_ROLE = 11  # keeps the limit policy's test episodes apart from the agents' own


def limit_policy_returns(nets: BanditEnvNets, env_id: str, seeds: list[int], episodes: int) -> torch.Tensor:
    """(P,) mean real-env return of each member's limit policy over ``episodes`` episodes, seeded
    from the members' agent seeds."""
    test_env = RealVecEnv(env_id, [derive_seed(s, LIMIT_TEST_ROLE) for s in seeds], episodes)
    try:
        return test_env.test(nets.greedy_actions, torch.ones(nets.population, dtype=torch.bool))
    finally:
        test_env.close()
