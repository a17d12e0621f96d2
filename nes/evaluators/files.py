"""``files`` backend: member tasks go through a shared sync directory to independently started workers.

The master writes the run's config and each iteration's member tasks into the sync directory
(nes/sync_dir.py has the layout and the protocol), then waits for the results. Any number of
workers (``python -m experiments.worker --sync-dir D``: by hand, a SLURM array, or the
``evaluator.workers`` local processes this evaluator starts itself) claim and answer them. While
waiting, the master issues again every task whose claim lease ran out (its worker was killed or
lost) and restarts local workers that died. Files that are truncated, corrupt or meant for another
run are logged and skipped. Member seeds are fixed by (run seed, iteration, member), so a redone
task gives the same result and the run the same numbers as the ``batched`` backend.
"""
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.config import Config, to_dict
from common.errors import UserError
from nes.file_worker import check_sync_dir, request_stop
from nes.sync_dir import (Backoff, BadFile, ChangeWaiter, LeaseWatch, RunPaths, claim_owner, member_name,
                          parse_member_name, read_config, read_result, visible_names, write_config, write_task)
from nes.tasks import MemberResult, MemberTask

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_LOCAL_WORKER_FAILURES = 10
STOP_GRACE_SECONDS = 10.0
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
            command = [sys.executable, "-m", "experiments.worker", "--sync-dir", str(self.sync_dir.resolve()), "--name", name,
                       "--idle-exit", str(self.idle_exit), "--threads", str(self.threads), "--exit-with-parent"]
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
        for name in self.processes:
            request_stop(self.sync_dir, name)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
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
        self.time_budget = config.nes.time_max
        self.overheads: list[dict] = []    # per iteration: seconds spent writing, collecting, cleaning up

    def evaluate(self, tasks: list[MemberTask], time_budget: float) -> list[MemberResult]:
        run_id, iteration = tasks[0].run_id, tasks[0].iteration
        paths = RunPaths(self.sync_dir, run_id)
        self.unfinished, self.time_budget = run_id, time_budget
        write_start = time.perf_counter()
        self.publish_config(paths, run_id)
        self.sweep(paths, iteration)
        # A resumed master finds the results its workers wrote after it was killed: they are reused.
        results, rejected, written_at = {}, {}, {}
        self.collect(paths, tasks, results, rejected, written_at)
        for task in tasks:
            if task.member not in results:
                write_task(paths, task, time_budget)
        write_seconds = time.perf_counter() - write_start
        self.wait_for_results(paths, tasks, results, rejected, written_at)
        collected_at, last_written_at = time.time(), max(written_at.values(), default=0.0)
        cleanup_start = time.perf_counter()
        for directory in (paths.tasks, paths.claims, paths.results):   # tasks first: no new claims
            for name in visible_names(directory):
                if (parse_member_name(name) or (None,))[0] == iteration:
                    (directory / name).unlink(missing_ok=True)
        self.unfinished = None
        self.overheads.append({"write_seconds": write_seconds, "cleanup_seconds": time.perf_counter() - cleanup_start,
                               "collect_lag_seconds": max(0.0, collected_at - last_written_at)})
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
        """Remove what earlier iterations left behind (late duplicate results, stale claims)."""
        for directory in (paths.tasks, paths.claims, paths.results):
            for name in visible_names(directory):
                parsed = parse_member_name(name)
                if parsed is not None and parsed[0] < iteration:
                    (directory / name).unlink(missing_ok=True)

    def wait_for_results(self, paths, tasks, results, rejected, written_at) -> None:
        leases, backoff = LeaseWatch(self.lease_seconds), Backoff()
        while True:
            self.collect(paths, tasks, results, rejected, written_at)
            if len(results) == len(tasks):
                return
            ended = self.local.reap()
            self.reissue(paths, tasks, results, leases, ended)
            self.local.start_missing()
            self.waiter.wait([paths.results, paths.claims], backoff.next())

    def collect(self, paths: RunPaths, tasks, results: dict[int, MemberResult], rejected: dict,
                written_at: dict[int, float]) -> None:
        """Add every valid new result file to ``results``; log and skip bad or foreign ones once."""
        present = set(visible_names(paths.results))
        expected = {member_name(t.iteration, t.member): t for t in tasks}
        for name in present - set(expected):
            parsed = parse_member_name(name)
            if name not in rejected and (parsed is None or parsed[0] >= tasks[0].iteration):
                rejected[name] = None
                log.warning("ignoring %s in the sync dir: not a result this run is waiting for", paths.results / name)
        for name in present & set(expected):
            task = expected[name]
            if task.member in results:
                continue
            path = paths.results / name
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if rejected.get(name) == signature:
                continue
            try:
                result, when = read_result(path, task.run_id, task.iteration, task.member)
            except BadFile as error:
                rejected[name] = signature
                log.warning("ignoring result file %s: %s", path, error)
                continue
            results[task.member], written_at[task.member] = result, when

    def reissue(self, paths, tasks, results, leases: LeaseWatch, ended_workers: list[str]) -> None:
        """Delete the claims of pending members whose lease expired or whose local worker ended."""
        for task in tasks:
            if task.member in results:
                continue
            name = member_name(task.iteration, task.member)
            claim = paths.claims / name
            if not claim.exists():
                if not (paths.tasks / name).exists():
                    write_task(paths, task, self.time_budget)
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
