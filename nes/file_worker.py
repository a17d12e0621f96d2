"""A ``files`` backend worker: claims tasks of any run in a sync directory and answers them.

The tasks are NES member tasks or the fixed-env tasks of an evaluation (``nes/tasks.py``); the
worker runs either through ``nes/work.py``.

It needs no config of its own: each run's master writes the run's config beside its tasks. A worker
claims up to its share of an iteration's tasks at once (the tasks over the live workers, or
``batch``) and trains all their agents as one batched population. A heartbeat thread renews its
claims while it computes. It exits when told (``D/control/stop`` newer than its start, or
``D/control/stop-<name>``), when its parent ends (``exit_with_parent``, for a master's local
workers), or after ``idle_exit`` seconds without a task. On SIGTERM (``scancel``) it gives its
claims back at once, so they need not wait for their lease to expire.
"""
import logging
import math
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError
from common.files import atomic_write_text
from nes.config import Config, load_config
from nes.sync_dir import (Backoff, BadFile, ChangeWaiter, RunPaths, read_config, read_tasks, release_claim, try_claim,
                          visible_names, write_results)
from nes.tasks import FixedEnvTask, MemberTask
from nes.work import run_tasks

log = logging.getLogger(__name__)

REGISTRATION_BEAT = 5.0      # seconds between renewals of D/workers/<name>
LIVE_WINDOW = 30.0           # a registration renewed within this many seconds counts as a live worker


def default_name() -> str:
    array = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{socket.gethostname()}-{os.getpid()}" + (f"-a{array}" if array else "")


def request_stop(sync_dir: Path, name: str | None = None) -> Path:
    """Tell every worker started before now (or only the worker ``name``) to exit."""
    control = Path(sync_dir) / "control"
    control.mkdir(parents=True, exist_ok=True)
    path = control / (f"stop-{name}" if name else "stop")
    atomic_write_text(path, f"{time.time()}\n")
    return path


def check_sync_dir(sync_dir: Path, create: bool) -> Path:
    """The sync directory, made if ``create``; a missing or unwritable one is a one-line UserError."""
    sync_dir = Path(sync_dir)
    if sync_dir.exists() and not sync_dir.is_dir():
        raise UserError(f"sync dir {sync_dir} is not a directory")
    if not sync_dir.exists() and not create:
        raise UserError(f"sync dir {sync_dir} does not exist (start the master first, or create it)")
    try:
        sync_dir.mkdir(parents=True, exist_ok=True)
        probe = sync_dir / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(f"sync dir {sync_dir} is not writable: {error.strerror}") from None
    return sync_dir


@dataclass
class Claim:
    path: Path
    fd: int
    task: MemberTask | FixedEnvTask
    time_budget: float


class Heartbeat(threading.Thread):
    """Renews the worker's registration and the mtime (its lease) of every claim it holds."""

    def __init__(self, registration: Path):
        super().__init__(daemon=True)
        self.registration, self.claims, self.period = registration, [], REGISTRATION_BEAT
        self.lock, self.wake, self.stopped = threading.Lock(), threading.Event(), False

    def hold(self, claims: list[Claim], lease_seconds: float) -> None:
        """Renew these claims from now on (at a quarter of their lease)."""
        with self.lock:
            self.claims = list(claims)
            self.period = min(REGISTRATION_BEAT, lease_seconds / 4) if claims else REGISTRATION_BEAT
        self.wake.set()

    def stop(self) -> None:
        self.hold([], 1.0)
        self.stopped = True
        self.wake.set()

    def run(self) -> None:
        while True:
            self.wake.wait(self.period)
            self.wake.clear()
            if self.stopped:
                return
            try:
                with self.lock:
                    for claim in self.claims:
                        os.utime(claim.fd)
                self.registration.touch()
            except OSError as error:   # a passing filesystem hiccup must not end the heartbeat
                log.warning("heartbeat: %s", error)


class FileWorker:
    def __init__(self, sync_dir: Path, name: str | None = None, idle_exit: float = 300.0, batch: int = 0,
                 exit_with_parent: bool = False):
        self.sync_dir, self.name = Path(sync_dir), name or default_name()
        self.idle_exit, self.batch, self.exit_with_parent = idle_exit, batch, exit_with_parent
        self.started = time.time()
        self.parent = os.getppid()
        self.configs: dict[str, tuple[int, Config | None]] = {}   # run id -> (config file mtime, config)
        self.registration = self.sync_dir / "workers" / self.name
        self.held: list[Claim] = []
        self.tasks_cache: tuple = (None, None)   # (which tasks file, (tasks, time budget))
        self.answered = 0
        self.claiming, self.deferred_signal = False, 0   # see _on_sigterm

    # ---- the loop ------------------------------------------------------------------------------------
    def run(self) -> str:
        """Serve until told to stop or idle; returns why it stopped."""
        self.registration.parent.mkdir(parents=True, exist_ok=True)
        self.registration.write_text(f"{os.getpid()}\n")
        heartbeat = Heartbeat(self.registration)
        heartbeat.start()
        waiter, backoff, idle_since = ChangeWaiter(), Backoff(), time.monotonic()
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            while True:
                reason = self.reason_to_stop(idle_since)
                if reason:
                    return reason
                run_id, claims = self.claim_batch()
                if claims:
                    heartbeat.hold(claims, self.configs[run_id][1].evaluator.lease_seconds)
                    self.answer(run_id, claims)
                    heartbeat.hold([], 1.0)
                    # The claims stay in place (the master removes them with the iteration), so
                    # nobody runs an answered task again; closing them only ends their lease.
                    for claim in claims:
                        os.close(claim.fd)
                        self.held.remove(claim)
                    idle_since = time.monotonic()
                    backoff.reset()
                    continue
                # New runs, new tasks and deleted claims (tasks issued again) wake the worker early.
                watched = [self.sync_dir / "runs"]
                for run_id in self.run_ids():
                    watched += [RunPaths(self.sync_dir, run_id).tasks, RunPaths(self.sync_dir, run_id).claims]
                waiter.wait([path for path in watched if path.is_dir()], backoff.next())
        finally:
            signal.signal(signal.SIGTERM, previous)
            heartbeat.stop()
            # No thread of ours may outlive the loop: a daemon thread still running when the
            # interpreter shuts down is stopped mid-call, which can abort the process.
            heartbeat.join(timeout=REGISTRATION_BEAT)
            for claim in self.held:
                release_claim(claim.path, claim.fd)
            self.held = []
            waiter.close()
            self.registration.unlink(missing_ok=True)

    def reason_to_stop(self, idle_since: float) -> str | None:
        control = self.sync_dir / "control"
        if (control / f"stop-{self.name}").exists():
            return "told to stop"
        try:
            if float((control / "stop").read_text()) >= self.started:
                return "told to stop (all workers)"
        except (FileNotFoundError, ValueError):
            pass
        if self.exit_with_parent and os.getppid() != self.parent:
            return "its parent ended"
        if time.monotonic() - idle_since >= self.idle_exit:
            return f"idle for {self.idle_exit:g} s"
        return None

    # ---- claiming ------------------------------------------------------------------------------------
    def run_ids(self) -> list[str]:
        return sorted(visible_names(self.sync_dir / "runs"))

    def live_workers(self) -> int:
        directory, now, live = self.sync_dir / "workers", time.time(), 0
        for name in visible_names(directory):
            try:
                live += now - os.stat(directory / name).st_mtime < LIVE_WINDOW
            except FileNotFoundError:
                pass
        return max(1, live)

    def config_of(self, run_id: str) -> Config | None:
        """The run's config from its sync files (cached; re-read when its master rewrites it)."""
        paths = RunPaths(self.sync_dir, run_id)
        try:
            mtime = os.stat(paths.config).st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self.configs.get(run_id)
        if cached is None or cached[0] != mtime:
            try:
                config = load_config(read_config(paths, run_id))
            except (BadFile, UserError) as error:
                log.warning("skipping run %s: its config cannot be used (%s)", run_id, error)
                config = None
            self.configs[run_id] = (mtime, config)
        return self.configs[run_id][1]

    def claim_batch(self) -> tuple[str | None, list[Claim]]:
        """Claim up to this worker's share of one run's current iteration."""
        for run_id in self.run_ids():
            paths = RunPaths(self.sync_dir, run_id)
            iterations = [int(name) for name in visible_names(paths.tasks) if name.isdigit()]
            if not iterations:
                continue
            iteration = max(iterations)
            claimed = set(visible_names(paths.claims))
            tasks = self.tasks_of(paths, run_id, iteration)
            if self.config_of(run_id) is None or not tasks:
                continue
            members, time_budget = tasks
            if all(f"{iteration}-{task.member}" in claimed for task in members):
                continue
            share = math.ceil(len(members) / self.live_workers())
            share = min(share, self.batch) if self.batch else share
            claims = []
            for task in members:
                if len(claims) >= share:
                    break
                name = f"{iteration}-{task.member}"
                if name not in claimed:
                    claim = self.try_hold(paths.claims / name, task, time_budget)
                    claims += [claim] if claim else []
            if claims and not (paths.tasks / str(iteration)).exists():   # the iteration ended meanwhile
                self.give_back(claims)
                claims = []
            if claims:
                return run_id, claims
        return None, []

    def try_hold(self, path: Path, task, time_budget: float) -> Claim | None:
        """Claim one task and hold it (None if another worker has it). A SIGTERM meanwhile waits
        until the claim is in ``held``: one between creating the claim file and recording it would
        leave a claim that nobody gives back, and its task would wait out the whole lease."""
        self.claiming = True
        try:
            fd = try_claim(path, self.name)
            if fd is None:
                return None
            claim = Claim(path, fd, task, time_budget)
            self.held.append(claim)
            return claim
        finally:
            self.claiming = False
            if self.deferred_signal:
                raise SystemExit(128 + self.deferred_signal)

    def tasks_of(self, paths: RunPaths, run_id: str, iteration: int) -> tuple[list, float] | None:
        """The iteration's tasks file, read once (None if it is gone or unusable)."""
        path = paths.tasks / str(iteration)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        key = (run_id, iteration, stat.st_ino, stat.st_mtime_ns)   # a resumed master writes it again
        if self.tasks_cache[0] != key:
            try:
                self.tasks_cache = (key, read_tasks(path, run_id))
            except BadFile as error:
                if str(error) != "gone":
                    log.warning("tasks file %s is unusable (%s)", path, error)
                self.tasks_cache = (key, None)
        return self.tasks_cache[1]

    def give_back(self, claims: list[Claim]) -> None:
        for claim in claims:
            release_claim(claim.path, claim.fd)
            self.held.remove(claim)

    def _on_sigterm(self, signum, frame):
        """Exit (the ``finally`` of ``run`` gives the claims back), or, while a claim is being made,
        once it is held. Python runs signal handlers in the main thread, between bytecodes, so a
        flag is enough; a signal mask would not be (the heartbeat thread would take the signal)."""
        if self.claiming:
            self.deferred_signal = signum
        else:
            raise SystemExit(128 + signum)

    # ---- answering -----------------------------------------------------------------------------------
    def answer(self, run_id: str, claims: list[Claim]) -> None:
        config = self.configs[run_id][1]
        tasks = [claim.task for claim in claims]
        log.info("worker %s: run %s iteration %d, %d member(s) from %d", self.name, run_id, tasks[0].iteration,
                 len(tasks), tasks[0].member)
        results = run_tasks(tasks, config, max(claim.time_budget for claim in claims), batched=True)
        try:
            write_results(RunPaths(self.sync_dir, run_id), results, self.name)
            self.answered += len(results)
        except FileNotFoundError:
            log.info("run %s ended before these results came; dropped", run_id)
