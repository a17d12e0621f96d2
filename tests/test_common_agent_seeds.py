"""nes.common_agent_seeds: the perturbed members' agents share one iteration's seeds, so members
that get the same SE get the same score; the agents on psi keep their own seeds."""
import dataclasses
import math

import torch

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from nes.member_evaluation import evaluate_members
from tests.helpers import TINY_OVERRIDES

SETS = (*TINY_OVERRIDES, "nes.population=4", "synthetic_env.kind=bandit", "agents.ddqn.train_episodes=20",
        "agents.ddqn.init_episodes=2", "agents.ddqn.test_episodes=3")


def scores_with_equal_members(tmp_path, common: bool):
    """(plus scores, orig test returns) of four members whose perturbations are all zero."""
    config = load_config(None, [*SETS, f"nes.common_agent_seeds={str(common).lower()}"])
    tasks = NESMaster(config, BatchedEvaluator(config), tmp_path, "run").tasks()
    tasks = [dataclasses.replace(t, eps=torch.zeros_like(t.eps)) for t in tasks]
    results = evaluate_members(tasks, config, math.inf)
    return [r.score_plus for r in results], [r.test_return_orig for r in results]


def test_members_with_one_se_score_alike_with_common_seeds_and_apart_without(tmp_path):
    common_plus, common_orig = scores_with_equal_members(tmp_path / "common", common=True)
    own_plus, own_orig = scores_with_equal_members(tmp_path / "own", common=False)
    assert len(set(common_plus)) == 1
    assert len(set(own_plus)) > 1
    assert common_orig == own_orig   # the agents on psi are the same either way
    assert common_plus[0] == own_plus[0]   # member 0's seeds are the common ones
