"""``files`` backend: tasks go through a shared sync directory to independently started workers.

The master writes the run's config and each iteration's tasks (NES member tasks, or the fixed-env
tasks of an evaluation) into the sync directory
(nes/sync_dir.py has the layout and the protocol), then waits for the results. Any number of
workers (``python -m experiments.worker --sync-dir D``: by hand, a SLURM array, or the
``evaluator.workers`` local processes this evaluator starts itself) claim and answer them. While
waiting, the master issues again every task whose claim lease ran out (its worker was killed or
lost) and restarts local workers that died. Files that are truncated, corrupt or meant for another
run are logged and skipped. Every task carries its own seed, so a redone task gives the same
result and the run the same numbers as the ``batched`` backend.
"""
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.errors import UserError
from common.schema import to_dict
from nes.config import Config
from nes.file_worker import check_sync_dir, request_stop
from nes.sync_dir import (Backoff, BadFile, ChangeWaiter, LeaseWatch, RunPaths, claim_owner, member_name,
                          parse_member_name, read_config, read_results, results_iteration, visible_names, write_config,
                          write_tasks)
from nes.tasks import RESULT_OF

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_LOCAL_WORKER_FAILURES = 10
STOP_GRACE_SECONDS = 5.0
# Keys that may differ between two masters of one run id (a resumed run): how it is computed.
MAY_DIFFER = ("evaluator",)


class LocalWorkers:
    """``experiments.worker`` processes this master started, kept running while it has tasks out."""

    def __init__(self, sync_dir: Path, count: int, prefix: str, threads: int, idle_exit: float):
        self.sync_dir, self.count, self.prefix = sync_dir, count, prefix
        self.threads, self.idle_exit = threads, idle_exit
        self.processes: dict[str, subprocess.Popen] = {}
        self.started, self.failures = 0, 0

    def start_missing(self) -> None:
        while len(self.processes) < self.count:
            self.started += 1
            name = f"{self.prefix}.w{self.started}"
            command = [sys.executable, "-m", "experiments.worker", "--sync-dir", str(self.sync_dir.resolve()),
                       "--name", name, "--idle-exit", str(self.idle_exit), "--threads", str(self.threads),
                       "--exit-with-parent"]
            self.processes[name] = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)

    def reap(self) -> list[str]:
        """Names of the workers that ended since the last call (their claims are void)."""
        ended = [name for name, process in self.processes.items() if process.poll() is not None]
        for name in ended:
            code = self.processes.pop(name).returncode
            (self.sync_dir / "workers" / name).unlink(missing_ok=True)   # a killed worker leaves it behind
            if code != 0:
                self.failures += 1
                log.warning("local worker %s ended with exit code %s; starting another", name, code)
        if self.failures > MAX_LOCAL_WORKER_FAILURES:
            raise RuntimeError(f"local workers failed {self.failures} times; giving up")
        return ended

    def stop(self) -> None:
        """Stop files first (an idle worker exits at once); a busy one gets SIGTERM, then SIGKILL."""
        for name in self.processes:
            request_stop(self.sync_dir, name)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in self.processes.items():
            for last_resort in (process.terminate, process.kill):
                try:
                    process.wait(timeout=max(0.5, deadline - time.monotonic()))
                    break
                except subprocess.TimeoutExpired:
                    last_resort()
            process.wait()
            (self.sync_dir / "control" / f"stop-{name}").unlink(missing_ok=True)
        self.processes = {}


class FilesEvaluator:
    def __init__(self, config: Config):
        evaluator = config.evaluator
        if not evaluator.sync_dir:
            raise UserError("the files backend needs evaluator.sync_dir (learn_env uses <run_dir>/sync by default)")
        self.config, self.lease_seconds = config, evaluator.lease_seconds
        self.sync_dir = check_sync_dir(Path(evaluator.sync_dir), create=True)
        self.local = LocalWorkers(self.sync_dir, evaluator.workers, f"{socket.gethostname()}-{os.getpid()}",
                                  evaluator.threads, evaluator.worker_idle_exit)
        self.local.start_missing()   # they import torch while the master sets up
        self.waiter = ChangeWaiter()
        self.published: set[str] = set()
        self.unfinished: str | None = None
        self.overheads: list[dict] = []    # per iteration: seconds spent writing, collecting, cleaning up

    def evaluate(self, tasks: list, time_budget: float) -> list:
        run_id, iteration = tasks[0].run_id, tasks[0].iteration
        paths = RunPaths(self.sync_dir, run_id)
        self.unfinished = run_id
        write_start = time.perf_counter()
        self.publish_config(paths, run_id)
        # A resumed master finds the results its workers wrote after it was killed: they are reused.
        results, seen, written_at = {}, {}, {}
        self.collect(paths, tasks, results, seen, written_at)
        pending = [task for task in tasks if task.member not in results]
        if pending:
            write_tasks(paths, pending, time_budget)
        write_seconds = time.perf_counter() - write_start
        self.sweep(paths, iteration)    # while the workers compute
        self.wait_for_results(paths, tasks, pending, time_budget, results, seen, written_at)
        collected_at = time.time()
        last_written_at = max(written_at.values(), default=collected_at)
        finish_start = time.perf_counter()
        (paths.tasks / str(iteration)).unlink(missing_ok=True)   # no new claims; the rest goes in the next sweep
        self.unfinished = None
        self.overheads.append({"write_seconds": write_seconds,
                               "collect_lag_seconds": max(0.0, collected_at - last_written_at),
                               "finish_seconds": time.perf_counter() - finish_start})
        return [results[task.member] for task in tasks]

    def publish_config(self, paths: RunPaths, run_id: str) -> None:
        """Write the run's config for the workers; refuse a sync dir that holds this run id with another config."""
        if run_id in self.published:
            return
        paths.make()
        mine = to_dict(self.config)
        try:
            theirs = read_config(paths, run_id)
        except BadFile:
            theirs = None
        if theirs is not None and _without(theirs, MAY_DIFFER) != _without(mine, MAY_DIFFER):
            raise UserError(f"sync dir {self.sync_dir} already holds a run '{run_id}' with another config")
        write_config(paths, run_id, mine)
        self.published.add(run_id)

    def sweep(self, paths: RunPaths, iteration: int) -> None:
        """Remove what earlier iterations left behind (their claims and results, late duplicates)."""
        for directory, iteration_of in ((paths.tasks, lambda name: int(name) if name.isdigit() else None),
                                        (paths.claims, lambda name: (parse_member_name(name) or (None,))[0]),
                                        (paths.results, results_iteration)):
            for name in visible_names(directory):
                its_iteration = iteration_of(name)
                if its_iteration is not None and its_iteration < iteration:
                    (directory / name).unlink(missing_ok=True)

    def wait_for_results(self, paths, tasks, pending, time_budget, results, seen, written_at) -> None:
        leases, backoff = LeaseWatch(self.lease_seconds), Backoff()
        while True:
            self.collect(paths, tasks, results, seen, written_at)
            if len(results) == len(tasks):
                return
            ended = self.local.reap()
            self.reissue(paths, pending, time_budget, results, leases, ended)
            self.local.start_missing()
            self.waiter.wait([paths.results, paths.claims], backoff.next())

    def collect(self, paths: RunPaths, tasks, results: dict[int, object], seen: dict,
                written_at: dict[int, float]) -> None:
        """Add the results of every new valid results file; log and skip bad or foreign files once."""
        run_id, iteration, wanted = tasks[0].run_id, tasks[0].iteration, {t.member for t in tasks}
        result_kind = RESULT_OF[type(tasks[0])]
        for name in visible_names(paths.results):
            path, its_iteration = paths.results / name, results_iteration(name)
            if its_iteration is not None and its_iteration < iteration:
                continue   # a late duplicate of an earlier iteration; the next sweep removes it
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen.get(name) == signature:
                continue
            seen[name] = signature
            if its_iteration != iteration:
                log.warning("ignoring %s in the sync dir: not a results file of this iteration", path)
                continue
            try:
                batch, when = read_results(path, run_id, iteration)
            except BadFile as error:
                log.warning("ignoring results file %s: %s", path, error)
                continue
            if not all(isinstance(result, result_kind) for result in batch):
                log.warning("ignoring results file %s: not %ss", path, result_kind.__name__)
                continue
            for result in batch:
                if result.member in wanted and result.member not in results:
                    results[result.member], written_at[result.member] = result, when

    def reissue(self, paths, pending, time_budget, results, leases: LeaseWatch, ended_workers: list[str]) -> None:
        """Delete the claims of pending members whose lease expired or whose local worker ended."""
        if not (paths.tasks / str(pending[0].iteration)).exists():   # someone removed it: write it again
            write_tasks(paths, pending, time_budget)
        for task in pending:
            if task.member in results:
                continue
            claim = paths.claims / member_name(task.iteration, task.member)
            if not claim.exists():
                continue
            owner = claim_owner(claim)
            if owner in ended_workers or leases.expired(claim):
                claim.unlink(missing_ok=True)
                log.warning("member %d of iteration %d: the claim of worker %s %s; issued again", task.member,
                            task.iteration, owner, "ended with it" if owner in ended_workers else "lost its lease")

    def close(self) -> None:
        self.local.stop()
        self.waiter.close()
        for run_id in self.published:
            if run_id != self.unfinished:   # an unfinished iteration's files serve a resumed master
                shutil.rmtree(RunPaths(self.sync_dir, run_id).root, ignore_errors=True)


def _without(config: dict, sections) -> dict:
    return {key: value for key, value in config.items() if key not in sections}
