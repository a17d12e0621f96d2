"""The hpbandster worker: evaluates one BOHB sample on one budget (see ``tuning/losses.py``).

A worker finds the nameserver through the tune run directory (``tune.json`` names the run id and
the nameserver; hpbandster's ``HPB_run_<id>_pyro.pkl`` holds its address), so the same worker
runs in-process (serial mode), as a process the master started (parallel mode) or as a SLURM
task on another node (``python -m experiments.tune --worker --out DIR``).
"""
import json
import logging
import os
import socket
import time
from pathlib import Path

import Pyro4
from hpbandster.core.worker import Worker

from common.errors import UserError
from common.files import atomic_write_text
from tuning import losses
from tuning.space import SearchSpace

log = logging.getLogger(__name__)

TUNE_FILE = "tune.json"
SPACE_FILE = "space.yaml"


def evaluation_name(config_id, budget: float) -> str:
    return "_".join(map(str, config_id)) + f"_b{budget:g}"


class NESWorker(Worker):
    """Runs whole NES runs (or agent trainings) for the BOHB master; errors go back as failed runs."""

    def __init__(self, space: SearchSpace, run_dir: Path, run_id: str, overrides=(), **kwargs):
        super().__init__(run_id=run_id, logger=logging.getLogger("tuning.hpbandster_worker"), **kwargs)
        self.space, self.run_dir, self.overrides = space, Path(run_dir), list(overrides)
        self.status_path = self.run_dir / "workers" / f"{socket.gethostname()}_{os.getpid()}_{id(self)}.json"
        self.status_path.parent.mkdir(exist_ok=True)
        self._write_status(None)

    def _write_status(self, job: str | None) -> None:
        """Which job this worker runs now: for the user, and for the worker-death test."""
        atomic_write_text(self.status_path, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                        "job": job, "since": time.time()}))

    def compute(self, config_id, config, budget, working_directory):
        name = evaluation_name(config_id, budget)
        self._write_status(name)
        try:
            result = losses.evaluate(self.space, config, budget, self.run_dir / "evaluations" / self.run_id / name,
                                     self.overrides)
            result["info"]["worker"] = f"{socket.gethostname()}:{os.getpid()}"
            return result
        finally:
            self._write_status(None)


def read_tune_file(run_dir: Path, wait_seconds: float) -> dict:
    """The run's ``tune.json``, waiting for the master to write it (a SLURM worker may start first)."""
    path = Path(run_dir) / TUNE_FILE
    deadline = time.monotonic() + wait_seconds
    while not path.is_file():
        if time.monotonic() > deadline:
            raise UserError(f"no tune run in {run_dir}: {TUNE_FILE} did not appear within {wait_seconds:.0f} s")
        time.sleep(1)
    return json.loads(path.read_text())


def run_worker(run_dir: Path, overrides=(), wait_seconds: float = 300) -> None:
    """One BOHB worker for the tune run in ``run_dir``; returns when the master shuts it down."""
    run_dir = Path(run_dir)
    tune = read_tune_file(run_dir, wait_seconds)
    space = SearchSpace.from_file(run_dir / SPACE_FILE)
    # Listen where the master can reach us: loopback for a local run, this node's address otherwise.
    host = "127.0.0.1" if tune["host"] == "127.0.0.1" else socket.gethostbyname(socket.gethostname())
    worker = NESWorker(space, run_dir, tune["run_id"], list(tune["overrides"]) + list(overrides), host=host)
    worker.load_nameserver_credentials(str(run_dir), num_tries=int(wait_seconds), interval=1)
    try:
        worker.run(background=False)
    except (Pyro4.errors.CommunicationError, Pyro4.errors.NamingError):
        # The master shut the nameserver down while this worker was leaving: the run is over.
        log.info("nameserver gone; worker exits")
    finally:
        worker.status_path.unlink(missing_ok=True)
