"""``processes`` backend: tasks spread over local worker processes, batched inside each.

A worker that dies (killed, out of memory) takes the pool down with it; the evaluator then starts
a fresh pool and redoes the chunks that had not come back. Every task carries its own seed, so
redone work gives the same results.
"""
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import torch

from nes.config import Config
from nes.work import run_tasks

log = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 3


def _start_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _evaluate_chunk(tasks, config, time_budget):
    return run_tasks(tasks, config, time_budget, batched=True)


class ProcessEvaluator:
    def __init__(self, config: Config):
        self.config = config
        self.workers = config.evaluator.workers
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that already ran torch can deadlock its thread pools.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(self.config.evaluator.threads,))

    def evaluate(self, tasks: list, time_budget: float) -> list:
        chunks = [chunk for chunk in (tasks[i::self.workers] for i in range(self.workers)) if chunk]
        done: dict[int, list] = {}
        for restart in range(MAX_POOL_RESTARTS + 1):
            futures = {i: self.pool.submit(_evaluate_chunk, chunks[i], self.config, time_budget)
                       for i in range(len(chunks)) if i not in done}
            try:
                for i, future in futures.items():
                    done[i] = future.result()
                return [result for i in sorted(done) for result in done[i]]
            except BrokenProcessPool:
                for i, future in futures.items():
                    if future.done() and not future.cancelled() and future.exception() is None:
                        done[i] = future.result()
                log.warning("a worker process died; redoing %d of %d task chunks in a fresh pool",
                            len(chunks) - len(done), len(chunks))
                self.pool.shutdown(cancel_futures=True)
                self.pool = self._new_pool()
        raise RuntimeError(f"worker processes kept dying; gave up after {MAX_POOL_RESTARTS} restarts")

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
