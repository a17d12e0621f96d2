"""Evaluator backends, chosen by ``evaluator.backend``; the NES master never knows which one runs."""
from common.config import Config
from nes.evaluators.base import Evaluator
from nes.evaluators.dask_backend import DaskEvaluator
from nes.evaluators.local import BatchedEvaluator, SerialEvaluator
from nes.evaluators.processes import ProcessEvaluator

BACKENDS = {"batched": BatchedEvaluator, "serial": SerialEvaluator, "processes": ProcessEvaluator,
            "dask": DaskEvaluator}


def make_evaluator(config: Config) -> Evaluator:
    return BACKENDS[config.evaluator.backend](config)
