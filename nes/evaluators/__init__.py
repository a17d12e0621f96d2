"""Evaluator backends, chosen by ``evaluator.backend``; the NES master never knows which one runs."""
import dataclasses
import os
import socket
import urllib.parse
from pathlib import Path

from common.errors import UserError
from nes.config import BACKENDS, Config, EvaluatorConfig
from nes.evaluators.base import Evaluator
from nes.evaluators.dask_backend import DaskEvaluator
from nes.evaluators.files import FilesEvaluator
from nes.evaluators.local import BatchedEvaluator, SerialEvaluator
from nes.evaluators.processes import ProcessEvaluator

# Keyed by nes.config.BACKENDS, the one list of backend names (config validation and --help use it).
EVALUATORS = dict(zip(BACKENDS, (BatchedEvaluator, SerialEvaluator, ProcessEvaluator, FilesEvaluator, DaskEvaluator),
                      strict=True))


SCHEDULER_PROBE_TIMEOUT_S = 5.0


def check_evaluator_inputs(evaluator: EvaluatorConfig) -> None:
    """What can be checked of the backend's inputs without making anything: a files backend's sync
    dir must be a directory, or creatable, and writable; a Dask scheduler's TCP address must accept
    a connection. Commands check this before they create their output directory or log a word, so a
    bad input is one line and leaves nothing behind (and a dead scheduler is found in seconds, not
    after the client's whole connect timeout)."""
    if evaluator.backend == "files" and evaluator.sync_dir:
        _check_sync_dir_path(Path(evaluator.sync_dir))
    if evaluator.backend == "dask" and evaluator.scheduler:
        _probe_scheduler(evaluator.scheduler)


def _probe_scheduler(address: str) -> None:
    parts = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UserError(f"Dask scheduler address {address!r} has no valid port") from None
    if parts.scheme != "tcp" or not host or port is None:
        return  # other transports (tls, ucx, inproc): the client itself says what is wrong
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {error.strerror or error}") from None


def _check_sync_dir_path(path: Path) -> None:
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        where = "" if existing == path else f" ({existing} is a file)"
        raise UserError(f"sync dir {path} is not a directory{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"sync dir {path} is not writable")


def make_evaluator(config: Config, run_dir: Path | None = None) -> Evaluator:
    """The configured backend; ``run_dir`` gives the files backend its default sync dir (<run_dir>/sync)."""
    if config.evaluator.backend == "files" and not config.evaluator.sync_dir and run_dir is not None:
        config = dataclasses.replace(config, evaluator=dataclasses.replace(config.evaluator,
                                                                           sync_dir=str(Path(run_dir) / "sync")))
    return EVALUATORS[config.evaluator.backend](config)
