"""The one computation every evaluator backend runs: a list of tasks of one kind, to their results.

Member tasks (NES) go to ``evaluate_members``, fixed-env tasks (evaluations) to
``train_in_fixed_envs``. With ``batched`` all tasks of the call train as one population,
otherwise one at a time.
"""
from nes.config import Config
from nes.fixed_env_training import train_in_fixed_envs
from nes.member_evaluation import evaluate_members
from nes.tasks import FixedEnvTask, MemberTask

RUNNERS = {MemberTask: evaluate_members, FixedEnvTask: train_in_fixed_envs}


def run_tasks(tasks: list, config: Config, time_budget: float, batched: bool = True) -> list:
    """Results of ``tasks`` (all of one kind) in their order."""
    kinds = {type(task) for task in tasks}
    if len(kinds) != 1 or not kinds <= RUNNERS.keys():
        names = sorted(kind.__name__ for kind in kinds)
        raise ValueError(f"run_tasks takes a non-empty list of tasks of one kind, got {names}")
    return RUNNERS[kinds.pop()](tasks, config, time_budget, batched=batched)
