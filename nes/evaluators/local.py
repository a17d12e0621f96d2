"""In-process backends: ``batched`` (all tasks as one population) and ``serial`` (one at a time)."""
import torch

from nes.config import Config
from nes.work import run_tasks


class BatchedEvaluator:
    """Every agent of every task trains in one batched computation (the default)."""

    batched = True

    def __init__(self, config: Config):
        self.config = config
        torch.set_num_threads(config.evaluator.threads)

    def evaluate(self, tasks: list, time_budget: float) -> list:
        return run_tasks(tasks, self.config, time_budget, batched=self.batched)

    def close(self) -> None:
        pass


class SerialEvaluator(BatchedEvaluator):
    """The same agents trained one after another, batching off: the debugging and speed baseline."""

    batched = False
