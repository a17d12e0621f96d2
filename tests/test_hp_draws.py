"""nes.hp_draws: each NES iteration draws K hyperparameter samples, shared by every member, and
repeat r of a member trains with sample r mod K."""
import dataclasses
import math

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from nes.member_evaluation import (ORIG, PLUS, AgentJob, agent_run_config, evaluate_members, hp_draw_seed, job_seed,
                                   member_parameters, train_agents_in_learned_envs)
from nes.tasks import MemberTask
from tests.helpers import TINY_OVERRIDES

SETS = (*TINY_OVERRIDES, "nes.population=2", "synthetic_env.kind=bandit", "agents.ddqn.train_episodes=8",
        "agents.ddqn.init_episodes=2")
VARIED = ("lr", "batch_size", "hidden_size", "hidden_layer")


def setup(tmp_path, *overrides):
    config = load_config(None, [*SETS, *overrides])
    return config, NESMaster(config, BatchedEvaluator(config), tmp_path, "run").tasks()


def drawn(config, task, repeat: int):
    job = AgentJob(task.member, PLUS, repeat)
    return agent_run_config(config, 0, hp_draw_seed(task, job, config)).agent_config()


def varied_fields(agent_config) -> tuple:
    return tuple(getattr(agent_config, name) for name in VARIED)


def test_without_draws_agents_keep_their_section(tmp_path):
    config, tasks = setup(tmp_path)
    assert hp_draw_seed(tasks[0], AgentJob(0, PLUS, 0), config) is None
    assert agent_run_config(config, 0, None).agent_config() == config.agent_config()


def test_every_member_of_an_iteration_trains_with_the_same_draw_and_the_next_iteration_draws_anew(tmp_path):
    config, tasks = setup(tmp_path, "nes.hp_draws=1")
    first, second = drawn(config, tasks[0], 0), drawn(config, tasks[1], 0)
    assert first == second
    assert varied_fields(first) != varied_fields(config.agent_config())
    later = dataclasses.replace(tasks[0], iteration=1)
    assert varied_fields(drawn(config, later, 0)) != varied_fields(first)


def test_repeats_cycle_through_the_iterations_k_draws(tmp_path):
    config, tasks = setup(tmp_path, "nes.hp_draws=2", "nes.num_grad_evals=3")
    samples = [varied_fields(drawn(config, tasks[0], repeat)) for repeat in range(3)]
    assert samples[0] != samples[1]
    assert samples[2] == samples[0]


def test_a_members_score_is_its_agent_trained_alone_with_the_draw(tmp_path):
    config, tasks = setup(tmp_path, "nes.hp_draws=1")
    results = evaluate_members(tasks, config, math.inf)
    task = tasks[1]
    job = AgentJob(1, PLUS, 0)
    alone = train_agents_in_learned_envs(agent_run_config(config, 0, hp_draw_seed(task, job, config)),
                                         member_parameters(task, PLUS)[None], [job_seed(task, job, config)], math.inf)
    assert results[1].score_plus == alone.scores[0]


def test_draws_score_alike_batched_and_one_agent_at_a_time(tmp_path):
    config, tasks = setup(tmp_path, "nes.hp_draws=2", "nes.num_grad_evals=2")
    batched = evaluate_members(tasks, config, math.inf)
    serial = evaluate_members(tasks, config, math.inf, batched=False)
    assert [(r.score, r.score_orig) for r in batched] == [(r.score, r.score_orig) for r in serial]


def test_the_orig_agent_trains_with_the_first_draw(tmp_path):
    config, tasks = setup(tmp_path, "nes.hp_draws=2")
    task: MemberTask = tasks[0]
    orig = hp_draw_seed(task, AgentJob(0, ORIG, 0), config)
    assert orig == hp_draw_seed(task, AgentJob(0, PLUS, 0), config)


def test_the_draw_replaces_per_agent_sampling_inside_nes(tmp_path):
    config, tasks = setup(tmp_path, "nes.hp_draws=1", "agents.ddqn.vary_hp=true")
    assert not drawn(config, tasks[0], 0).vary_hp
    assert drawn(config, tasks[0], 0) == drawn(config, tasks[1], 0)
