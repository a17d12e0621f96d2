"""agents.population: the seed roles every trainer shares, and envs closed however training ends."""
import pytest

from agents.population import SeedRoles, train_fresh_population
from common.rng import derive_seed
from envs.real_vec import RealVecEnv
from nes.config import load_config
from tests.helpers import TINY_OVERRIDES


def test_seed_roles_are_the_recorded_derivations():
    # Every recorded number depends on these: agent 0, train env 1, test env 2.
    roles = SeedRoles.of([5, 9])
    assert roles == SeedRoles(agent=[derive_seed(5, 0), derive_seed(9, 0)],
                              train_env=[derive_seed(5, 1), derive_seed(9, 1)],
                              test_env=[derive_seed(5, 2), derive_seed(9, 2)])


class ClosingSpy(RealVecEnv):
    closed = 0

    def close(self) -> None:
        ClosingSpy.closed += 1
        super().close()


def test_the_train_and_test_envs_are_closed_when_training_fails(monkeypatch):
    config = load_config(None, TINY_OVERRIDES)
    roles = SeedRoles.of([1, 2])
    monkeypatch.setattr("agents.population.RealVecEnv", ClosingSpy)  # the test env
    ClosingSpy.closed = 0

    def fail(report):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        train_fresh_population(config.agent, config.agent_config(), config.env, roles,
                               ClosingSpy(config.env, roles.train_env), config.protocol, on_synthetic=False,
                               on_episode=fail)
    assert ClosingSpy.closed == 2
