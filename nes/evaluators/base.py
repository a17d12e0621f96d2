"""The one evaluation interface: the NES master asks for a population's scores, nothing more."""
from typing import Protocol

from nes.tasks import MemberResult, MemberTask


class Evaluator(Protocol):
    """Scores member tasks; which process, machine or batch runs them is the backend's business."""

    def evaluate(self, tasks: list[MemberTask], time_budget: float) -> list[MemberResult]:
        """Results for ``tasks`` in any order; each member may spend ``time_budget`` seconds."""

    def close(self) -> None:
        """Release workers and other resources."""
