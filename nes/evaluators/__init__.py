"""Evaluator backends, chosen by ``evaluator.backend``; the NES master never knows which one runs."""
import dataclasses
from pathlib import Path

from common.config import Config
from nes.evaluators.base import Evaluator
from nes.evaluators.dask_backend import DaskEvaluator
from nes.evaluators.files import FilesEvaluator
from nes.evaluators.local import BatchedEvaluator, SerialEvaluator
from nes.evaluators.processes import ProcessEvaluator

BACKENDS = {"batched": BatchedEvaluator, "serial": SerialEvaluator, "processes": ProcessEvaluator,
            "files": FilesEvaluator, "dask": DaskEvaluator}


def make_evaluator(config: Config, run_dir: Path | None = None) -> Evaluator:
    """The configured backend; ``run_dir`` gives the files backend its default sync dir (<run_dir>/sync)."""
    if config.evaluator.backend == "files" and not config.evaluator.sync_dir and run_dir is not None:
        config = dataclasses.replace(config, evaluator=dataclasses.replace(config.evaluator,
                                                                           sync_dir=str(Path(run_dir) / "sync")))
    return BACKENDS[config.evaluator.backend](config)
