"""The one evaluation interface: the NES master asks for a population's scores, nothing more."""
from typing import Protocol

from nes.tasks import FixedEnvResult, FixedEnvTask, MemberResult, MemberTask


class Evaluator(Protocol):
    """Runs tasks; which process, machine or batch runs them is the backend's business.

    A call takes tasks of one kind (``nes/tasks.py``): NES member tasks (-> ``MemberResult``), or
    fixed-env tasks of an evaluation (-> ``FixedEnvResult``). All tasks of a call share a run id
    and an iteration (NES: the iteration; an evaluation: its batch).
    """

    def evaluate(self, tasks: list[MemberTask] | list[FixedEnvTask],
                 time_budget: float) -> list[MemberResult] | list[FixedEnvResult]:
        """Results for ``tasks`` in any order; each task may spend ``time_budget`` seconds."""

    def close(self) -> None:
        """Release workers and other resources."""
