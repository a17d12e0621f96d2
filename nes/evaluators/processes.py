"""``processes`` backend: members spread over local worker processes, batched inside each."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import torch

from common.config import Config
from nes.member_evaluation import evaluate_members
from nes.tasks import MemberResult, MemberTask


def _start_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _evaluate_chunk(tasks, config, time_budget):
    return evaluate_members(tasks, config, time_budget, batched=True)


class ProcessEvaluator:
    def __init__(self, config: Config):
        self.config = config
        self.workers = config.evaluator.workers
        # spawn, not fork: forking a process that already ran torch can deadlock its thread pools.
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(config.evaluator.threads,))

    def evaluate(self, tasks: list[MemberTask], time_budget: float) -> list[MemberResult]:
        chunks = [tasks[i::self.workers] for i in range(self.workers)]
        futures = [self.pool.submit(_evaluate_chunk, chunk, self.config, time_budget) for chunk in chunks if chunk]
        return [result for future in futures for result in future.result()]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
