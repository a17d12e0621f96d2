"""Evaluator backends, chosen by ``evaluator.backend``; the NES master never knows which one runs."""
import dataclasses
from pathlib import Path

from nes.config import BACKENDS, Config
from nes.evaluators.base import Evaluator
from nes.evaluators.dask_backend import DaskEvaluator
from nes.evaluators.files import FilesEvaluator
from nes.evaluators.local import BatchedEvaluator, SerialEvaluator
from nes.evaluators.processes import ProcessEvaluator

# Keyed by nes.config.BACKENDS, the one list of backend names (config validation and --help use it).
EVALUATORS = dict(zip(BACKENDS, (BatchedEvaluator, SerialEvaluator, ProcessEvaluator, FilesEvaluator, DaskEvaluator),
                      strict=True))


def make_evaluator(config: Config, run_dir: Path | None = None) -> Evaluator:
    """The configured backend; ``run_dir`` gives the files backend its default sync dir (<run_dir>/sync)."""
    if config.evaluator.backend == "files" and not config.evaluator.sync_dir and run_dir is not None:
        config = dataclasses.replace(config, evaluator=dataclasses.replace(config.evaluator,
                                                                           sync_dir=str(Path(run_dir) / "sync")))
    return EVALUATORS[config.evaluator.backend](config)
