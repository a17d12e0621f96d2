"""One recipe for training a fresh agent population: every inner-loop training goes through here.

Each member has one base seed, and everything random about its training derives from it by role:
its agent, its training env and its real-env test env (``SeedRoles``). Backends that split a
population differently (batched, serial, worker processes, a cluster) give the same numbers
because every site builds a member's agent and envs from these three seeds and nothing else.
"""
import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from agents import make_agent
from agents.training import TrainingResult, train_population
from common.rng import derive_seed
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv

# The role numbers are part of every recorded result: changing one changes every number.
AGENT_ROLE, TRAIN_ENV_ROLE, TEST_ENV_ROLE = 0, 1, 2


@dataclass(frozen=True)
class SeedRoles:
    """Per-member seeds of a population's three random consumers, derived from the members' base seeds."""

    agent: list[int]
    train_env: list[int]
    test_env: list[int]

    @classmethod
    def of(cls, seeds: Sequence[int]) -> "SeedRoles":
        return cls(agent=[derive_seed(s, AGENT_ROLE) for s in seeds],
                   train_env=[derive_seed(s, TRAIN_ENV_ROLE) for s in seeds],
                   test_env=[derive_seed(s, TEST_ENV_ROLE) for s in seeds])


@dataclass
class TrainedPopulation:
    """The trained agents (to save or inspect them) and their per-member outcome."""

    agent: object
    result: TrainingResult


def train_fresh_population(agent_name: str, agent_config, env_id: str, roles: SeedRoles, train_env, protocol, *,
                           on_synthetic: bool, deadline: float = math.inf, on_episode=None) -> TrainedPopulation:
    """Fresh ``agent_name`` agents (seeds ``roles.agent``) trained on ``train_env`` and tested on the
    real env ``env_id`` (seeds ``roles.test_env``), by ``agents.training.train_population``.

    ``train_env`` is built by the caller from ``roles.train_env`` (a real env, an SE or a reward
    network on the real env); this function owns it from the call on and closes it, with the test
    env, however training ends.
    """
    with ExitStack() as closing:
        closing.callback(train_env.close)
        agent = make_agent(agent_name, agent_config, real_env_spec(env_id), roles.agent)
        test_env = RealVecEnv(env_id, roles.test_env, agent_config.test_episodes)
        closing.callback(test_env.close)
        result = train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=on_synthetic,
                                  deadline=deadline, on_episode=on_episode)
    return TrainedPopulation(agent, result)
