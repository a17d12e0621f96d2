"""nes.member_agents: every member's SE trains one agent of each listed kind per repeat, and the
member's score is their mean."""
import math
import statistics

import pytest

from common.errors import UserError
from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from nes.member_evaluation import PLUS, AgentJob, agent_run_config, evaluate_members, job_seed, member_parameters
from nes.member_evaluation import train_agents_in_learned_envs
from tests.helpers import TINY_OVERRIDES

SETS = (*TINY_OVERRIDES, "nes.population=2", "synthetic_env.kind=bandit",
        "agents.ddqn.train_episodes=8", "agents.ddqn.init_episodes=2", "agents.dueling_ddqn.train_episodes=8",
        "agents.dueling_ddqn.init_episodes=2", "agents.dueling_ddqn.test_episodes=2")


def results_of(tmp_path, member_agents: str, batched: bool = True):
    config = load_config(None, [*SETS, f"nes.member_agents={member_agents}"])
    tasks = NESMaster(config, BatchedEvaluator(config), tmp_path, "run").tasks()
    return config, tasks, evaluate_members(tasks, config, math.inf, batched=batched)


def test_listing_the_runs_own_agent_changes_nothing(tmp_path):
    _, _, alone = results_of(tmp_path / "a", "")
    _, _, listed = results_of(tmp_path / "b", "ddqn")
    assert [(r.score, r.score_orig) for r in alone] == [(r.score, r.score_orig) for r in listed]


def test_a_members_score_is_the_mean_over_its_agent_kinds(tmp_path):
    config, tasks, mixed = results_of(tmp_path, "ddqn,dueling_ddqn")
    task = tasks[1]
    per_kind = []
    for kind in (0, 1):
        job = AgentJob(1, PLUS, 0, kind)
        outcome = train_agents_in_learned_envs(agent_run_config(config, kind), member_parameters(task, PLUS)[None],
                                               [job_seed(task, job, config)], math.inf)
        per_kind.append(outcome.scores[0])
    assert mixed[1].score_plus == statistics.mean(per_kind)


def test_mixed_kinds_score_alike_batched_and_one_agent_at_a_time(tmp_path):
    _, _, batched = results_of(tmp_path / "a", "ddqn,dueling_ddqn")
    _, _, serial = results_of(tmp_path / "b", "ddqn,dueling_ddqn", batched=False)
    assert [(r.score, r.score_orig) for r in batched] == [(r.score, r.score_orig) for r in serial]


@pytest.mark.parametrize("agents, message", [("ddqn,nope", "unknown agent 'nope'"),
                                             ("ddqn,td3", "td3")])
def test_an_agent_that_cannot_train_here_is_refused_in_one_line(agents, message):
    with pytest.raises(UserError, match=message):
        load_config(None, [*SETS, f"nes.member_agents={agents}"])
