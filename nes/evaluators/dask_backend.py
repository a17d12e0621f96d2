"""``dask`` backend: task batches submitted to a Dask scheduler.

With ``evaluator.scheduler`` empty it starts a ``distributed.LocalCluster`` of ``evaluator.workers``
one-thread worker processes, bound to 127.0.0.1 only and without a dashboard. Otherwise it connects
to the scheduler at that address (e.g. one started by dask-jobqueue's ``SLURMCluster``).

Tasks are split into one chunk per connected worker, and each chunk trains as one batched
population, as in the ``processes`` backend. A worker that dies has its chunk rescheduled by Dask
onto another (or its restarted) worker; every task carries its own seed, so the redone chunk gives
the same results.
"""
import logging

import torch

from common.errors import UserError
from nes.config import Config
from nes.work import run_tasks

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30


def _evaluate_chunk(tasks: list, config: Config, time_budget: float) -> list:
    torch.set_num_threads(config.evaluator.threads)
    return run_tasks(tasks, config, time_budget, batched=True)


class DaskEvaluator:
    def __init__(self, config: Config):
        from distributed import Client, LocalCluster

        self.config = config
        # The scheduler runs in this process and narrates every connection at INFO; keep it to warnings.
        logging.getLogger("distributed").setLevel(logging.WARNING)
        address = config.evaluator.scheduler
        self.cluster = None
        if address:
            try:
                self.client = Client(address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as error:
                raise UserError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        else:
            self.cluster = LocalCluster(n_workers=config.evaluator.workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        log.info("dask scheduler %s", self.client.scheduler.address)

    def _worker_count(self) -> int:
        self.client.wait_for_workers(1)
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def evaluate(self, tasks: list, time_budget: float) -> list:
        workers = self._worker_count()
        chunks = [chunk for chunk in (tasks[i::workers] for i in range(workers)) if chunk]
        futures = [self.client.submit(_evaluate_chunk, chunk, self.config, time_budget, pure=False)
                   for chunk in chunks]
        return [result for chunk_results in self.client.gather(futures) for result in chunk_results]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
