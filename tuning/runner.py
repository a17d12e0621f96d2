"""One tune session: nameserver, BOHB master, its workers, and the result files.

Layouts (``TuneSettings``):
  serial:    ``workers <= 1``: one worker thread in this process;
  parallel:  ``workers = K >= 2``: K worker processes (``python -m experiments.tune --worker``)
             that this master starts, and restarts if one dies;
  external:  ``workers = 0, external_workers = K``: the master waits for K workers started
             elsewhere (SLURM tasks) that find it through the run directory.
The nameserver listens on ``host`` (127.0.0.1 unless a multi-node run needs a reachable address)
with a free port. A worker that dies mid-job is noticed by hpbandster's dispatcher at its next
ping (every ``ping_interval`` seconds): the job is recorded as failed ("Worker died
unexpectedly."), every other result stays, and the run goes on with the remaining workers.

Resuming: earlier sessions' ``configs.json`` / ``results.json`` move to ``earlier/<k>/`` and warm
start the new master (hpbandster's ``previous_result``); the new session logs to fresh files.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from hpbandster.core.master import Master
from hpbandster.core.nameserver import NameServer
from hpbandster.core.result import Result, json_result_logger, logged_results_to_HBS_result
from hpbandster.optimizers.iterations import SuccessiveHalving
from tqdm import tqdm

from common.files import atomic_write_text
from nes.config import save_config
from tuning.compat import PlainConfigGenerator
from tuning.space import SearchSpace
from tuning.worker import SPACE_FILE, TUNE_FILE, NESWorker

log = logging.getLogger(__name__)

EARLIER = "earlier"
REPO_ROOT = Path(__file__).resolve().parents[1]


class SessionStopped(RuntimeError):
    """The session ended early; its results so far are on disk."""


@dataclass
class TuneSettings:
    iterations: int
    workers: int = 1
    external_workers: int = 0
    seed: int = 0
    ping_interval: int = 10
    host: str = "127.0.0.1"
    overrides: list = field(default_factory=list)


class BOHBMaster(Master):
    """BOHB: Hyperband's successive-halving brackets, with configurations from BOHB's KDE model."""

    def __init__(self, configspace, eta: float, min_budget: float, max_budget: float, **kwargs):
        generator = PlainConfigGenerator(configspace=configspace)
        super().__init__(config_generator=generator, **kwargs)
        self.eta = eta
        # Budgets max_budget * eta^-k, k = brackets-1 .. 0: a geometric ladder ending at max_budget.
        self.brackets = int(np.floor(np.log(max_budget / min_budget) / np.log(eta) + 1e-9)) + 1
        self.budgets = max_budget * np.power(eta, -np.linspace(self.brackets - 1, 0, self.brackets))
        self.config.update({"eta": eta, "min_budget": min_budget, "max_budget": max_budget,
                            "budgets": self.budgets.tolist(), "max_SH_iter": self.brackets})

    def stages(self, iteration: int) -> list[int]:
        """Configurations per successive-halving stage of BOHB iteration ``iteration``."""
        s = self.brackets - 1 - (iteration % self.brackets)
        first = int(np.floor(self.brackets / (s + 1)) * self.eta ** s)
        return [max(int(first * self.eta ** (-i)), 1) for i in range(s + 1)]

    def get_next_iteration(self, iteration, iteration_kwargs={}):
        stages = self.stages(iteration)
        return SuccessiveHalving(HPB_iter=iteration, num_configs=stages, budgets=self.budgets[-len(stages):],
                                 config_sampler=self.config_generator.get_config, **iteration_kwargs)

    def total_runs(self, iterations: int) -> int:
        return sum(sum(self.stages(i)) for i in range(iterations))


class ProgressLogger(json_result_logger):
    """hpbandster's JSON result logger (configs.json, results.json) that also moves a progress bar."""

    def __init__(self, directory: Path, bar: tqdm):
        super().__init__(str(directory), overwrite=False)
        self.bar, self.best, self.failed = bar, float("inf"), 0

    def __call__(self, job):
        super().__call__(job)
        if job.result is None:
            self.failed += 1
            log.warning("run %s on budget %g failed: %s", job.id, job.kwargs["budget"],
                        (job.exception or "").strip().splitlines()[-1:])
        else:
            self.best = min(self.best, job.result["loss"])
        self.bar.update(1)
        self.bar.set_postfix(best_loss=f"{self.best:.3g}", failed=self.failed)


def segments(run_dir: Path) -> list[Path]:
    """Folders holding one session's result files each, oldest first (the current one last)."""
    earlier = sorted((run_dir / EARLIER).glob("*"), key=lambda p: int(p.name)) if (run_dir / EARLIER).is_dir() else []
    current = [run_dir] if (run_dir / "results.json").is_file() else []
    return [p for p in earlier if (p / "results.json").is_file()] + current


def load_results(run_dir: Path) -> Result | None:
    """Every session's runs as one hpbandster Result (None if nothing has finished yet)."""
    parts = [logged_results_to_HBS_result(str(p)) for p in segments(run_dir)]
    parts = [p for p in parts if p.data]
    if not parts:
        return None
    budgets = sorted({b for p in parts for b in p.HB_config["budgets"]})
    config = {**parts[-1].HB_config, "min_budget": budgets[0], "max_budget": budgets[-1], "budgets": budgets,
              "time_ref": 0.0}
    data, offset = {}, 0.0
    for k, part in enumerate(parts):
        # Config ids restart in every session: the session number keeps them apart. Times run on
        # from where the previous session's last run finished.
        for config_id, datum in part.data.items():
            for stamps in datum.time_stamps.values():
                stamps.update({name: t + offset for name, t in stamps.items()})
            data[(k, *config_id)] = datum
        offset = max(s["finished"] for d in data.values() for s in d.time_stamps.values())
    return Result([data], config)


def archive_session(run_dir: Path) -> None:
    """Move the last session's result files to earlier/<k>/ before a new session starts."""
    if not (run_dir / "configs.json").is_file():
        return
    target = run_dir / EARLIER / str(len(list((run_dir / EARLIER).glob("*"))) if (run_dir / EARLIER).is_dir() else 0)
    target.mkdir(parents=True)
    for name in ("configs.json", "results.json"):
        if (run_dir / name).is_file():
            (run_dir / name).rename(target / name)


class WorkerProcesses:
    """K ``--worker`` processes, restarted when one dies, so the run never waits on none at all."""

    def __init__(self, run_dir: Path, count: int, max_restarts: int):
        self.run_dir, self.restarts_left = run_dir, max_restarts
        self.stopping = threading.Event()
        self.processes = [self._start() for _ in range(count)]
        self.thread = threading.Thread(target=self._watch, daemon=True, name="worker watch")
        self.thread.start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "experiments.tune", "--worker", "--out", str(self.run_dir)],
                                cwd=REPO_ROOT, stdin=subprocess.DEVNULL)

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            for i, process in enumerate(self.processes):
                if process.poll() is None or self.stopping.is_set():
                    continue
                if self.restarts_left == 0:
                    if all(p.poll() is not None for p in self.processes):
                        log.error("every worker process died and the restart budget is spent; stopping")
                        os.kill(os.getpid(), signal.SIGINT)  # wakes the master's wait
                        return
                    continue
                self.restarts_left -= 1
                log.warning("worker process %d exited with %s; starting a replacement", process.pid,
                            process.returncode)
                self.processes[i] = self._start()

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        for process in self.processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout)


def run_session(space: SearchSpace, run_dir: Path, settings: TuneSettings) -> Result:
    """One BOHB session in ``run_dir``, warm-started from the earlier sessions there."""
    previous = load_results(run_dir)
    archive_session(run_dir)
    session = len(segments(run_dir))
    run_id = f"s{session}"
    space_data = {**space.data, "base_config": "base_config.yaml"}
    atomic_write_text(run_dir / "base_config.yaml", space.base_config.read_text() if space.base_config else "{}\n")
    atomic_write_text(run_dir / SPACE_FILE, json.dumps(space_data, indent=2) + "\n")  # JSON is YAML too
    configspace = space.configspace(seed=settings.seed + session)
    defaults = space.default_sample()
    save_config(space.config(defaults, space.budget.max, settings.overrides), run_dir / "default_sample_config.yaml")
    np.random.seed(settings.seed + session)  # BOHB's model draws from numpy's global generator

    nameserver = NameServer(run_id=run_id, working_directory=str(run_dir), host=settings.host, port=0)
    host, port = nameserver.start()
    atomic_write_text(run_dir / TUNE_FILE, json.dumps(
        {"run_id": run_id, "session": session, "host": host, "port": port,
         **asdict(settings)}, indent=2) + "\n")
    bar = tqdm(desc="BOHB", unit="run", dynamic_ncols=True, file=sys.stderr)
    master = workers = None
    try:
        master = BOHBMaster(configspace, space.budget.eta, space.budget.min, space.budget.max, run_id=run_id,
                            nameserver=host, nameserver_port=port, host=host, working_directory=str(run_dir),
                            ping_interval=settings.ping_interval, result_logger=ProgressLogger(run_dir, bar),
                            previous_result=previous, logger=logging.getLogger("tuning.hpbandster"))
        bar.total = master.total_runs(settings.iterations)
        if settings.workers >= 2:
            workers = WorkerProcesses(run_dir, settings.workers, max_restarts=3 * settings.workers)
        elif settings.workers == 1:
            NESWorker(space, run_dir, run_id, settings.overrides, nameserver=host, nameserver_port=port,
                      host=host).run(background=True)
        needed = settings.workers if settings.workers >= 1 else settings.external_workers
        result = master.run(n_iterations=settings.iterations, min_n_workers=needed)
        log.info("BOHB finished %d runs; shutting down the workers", len(result.get_all_runs()))
        return result
    except KeyboardInterrupt:
        raise SessionStopped(f"tune session stopped before it finished (interrupted, or every worker died); "
                             f"continue it with --resume {run_dir}") from None
    finally:
        bar.close()
        if master is not None:
            master.shutdown(shutdown_workers=True)
        if workers is not None:
            workers.stop()
        nameserver.shutdown()
        log.info("session %s closed", run_id)
