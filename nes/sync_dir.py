"""The sync directory of the ``files`` backend: its layout, file format, claims, leases and waiting.

Masters and workers share nothing but a directory (a shared filesystem on a cluster); no ports.

    D/runs/<run_id>/config            the run's merged config, written by its master
    D/runs/<run_id>/tasks/<it>        the tasks of iteration it still to be run (NES: psi, the members' eps)
    D/runs/<run_id>/claims/<it>-<m>   a worker's claim on it (holds the worker's name)
    D/runs/<run_id>/results/<it>-<m>-<worker>  results of a worker's batch (m: its first member)
    D/workers/<name>                  a live worker: its pid; its heartbeat renews the mtime
    D/control/stop                    ``worker --stop``: every worker started before it exits
    D/control/stop-<name>             the one worker <name> exits (its master started it)

Every config, task and result file is one JSON header line, then ``size`` payload bytes. The header
names the file (format, kind, run_id, iteration, member) and holds the sha256 of that identity and
the payload, so a reader detects a truncated, corrupt or foreign file instead of trusting it. Task
payloads are ``torch.save`` dicts (loaded weights-only, tensors exact), results payloads JSON
(Python's float repr round-trips exactly). Two task kinds (``nes/tasks.py``) travel:

- member tasks (NES): ``{time_budget, psi, members, seeds, eps}`` (psi once, eps stacked); results:
  the JSON list of the batch's ``MemberResult``s;
- fixed-env tasks (evaluations): ``{task_kind: "fixed_env", time_budget, members, seeds, psis,
  psi_index}`` (each distinct SE's psi once, stacked, and per task the row of its SE, since an
  evaluation trains many agents in each of many SEs; both None for the real env); results:
  ``{"task_kind": "fixed_env", "results": [FixedEnvResult, ...]}``.

Files are written to a temp name and renamed into place after fsync, so a reader sees all or nothing.
A claim is created with O_CREAT|O_EXCL: of two workers racing for a task exactly one gets it. Its
mtime is its lease: the worker's heartbeat thread renews it through the open descriptor, and a
master that sees it unchanged for ``lease_seconds`` (by its own clock) deletes it, which issues the
task again. A re-run gives the same result (seeds are fixed per member), so a late duplicate is harmless.
"""
import ctypes
import dataclasses
import hashlib
import io
import json
import os
import select
import time
from pathlib import Path

import torch

from common.files import atomic_write
from nes.tasks import FixedEnvResult, FixedEnvTask, MemberResult, MemberTask

FORMAT = "synthenv-sync/1"
FIXED_ENV = "fixed_env"   # the task_kind of fixed-env task and result payloads (member payloads have none)
TEMP_PREFIX = "."


class BadFile(Exception):
    """A sync file that is truncated, corrupt, foreign or of another format."""


def member_name(iteration: int, member: int) -> str:
    return f"{iteration}-{member}"


def parse_member_name(name: str) -> tuple[int, int] | None:
    iteration, sep, member = name.partition("-")
    if not sep or not iteration.isdigit() or not member.isdigit():
        return None
    return int(iteration), int(member)


def visible_names(directory: Path) -> list[str]:
    """File names in ``directory`` without temp files ([] if it does not exist)."""
    try:
        return [name for name in os.listdir(directory) if not name.startswith(TEMP_PREFIX)]
    except FileNotFoundError:
        return []


class RunPaths:
    """Where one run's files live inside a sync directory."""

    def __init__(self, sync_dir: Path, run_id: str):
        self.root = Path(sync_dir) / "runs" / run_id
        self.config, self.tasks, self.claims, self.results = (self.root / "config", self.root / "tasks",
                                                              self.root / "claims", self.root / "results")

    def make(self) -> None:
        for directory in (self.tasks, self.claims, self.results):
            directory.mkdir(parents=True, exist_ok=True)


def _digest(identity: dict, payload: bytes) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode() + b"\n" + payload).hexdigest()


def write_file(path: Path, kind: str, run_id: str, iteration: int, member: int, payload: bytes, **extra) -> None:
    identity = {"format": FORMAT, "kind": kind, "run_id": run_id, "iteration": iteration, "member": member}
    header = {**identity, **extra, "size": len(payload), "sha256": _digest(identity, payload)}
    atomic_write(path, lambda handle: handle.write(json.dumps(header).encode() + b"\n" + payload))


def read_file(path: Path, kind: str, run_id: str | None = None, iteration: int | None = None,
              member: int | None = None) -> tuple[dict, bytes]:
    """(header, payload) of a sync file; raises BadFile if it is not exactly what was asked for."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadFile("gone") from None
    line, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(line) if sep else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadFile("not a sync file (no header)")
    identity = {key: header.get(key) for key in ("format", "kind", "run_id", "iteration", "member")}
    if header.get("size") != len(payload):
        raise BadFile(f"truncated ({len(payload)} of {header.get('size')} payload bytes)")
    if header.get("sha256") != _digest(identity, payload):
        raise BadFile("checksum mismatch")
    wanted = {"kind": kind, "run_id": run_id, "iteration": iteration, "member": member}
    for key, value in wanted.items():
        if value is not None and header[key] != value:
            raise BadFile(f"foreign file: {key} is {header[key]!r}, expected {value!r}")
    return header, payload


def tensors_to_bytes(data: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def tensors_from_bytes(payload: bytes) -> dict:
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:
        raise BadFile(f"unreadable task payload ({type(error).__name__})") from None


def write_config(paths: RunPaths, run_id: str, config: dict) -> None:
    write_file(paths.config, "config", run_id, -1, -1, json.dumps(config, sort_keys=True).encode())


def read_config(paths: RunPaths, run_id: str) -> dict:
    return json.loads(read_file(paths.config, "config", run_id)[1])


def write_tasks(paths: RunPaths, tasks: list[MemberTask] | list[FixedEnvTask], time_budget: float) -> None:
    """One iteration's tasks (of one kind) in one file, so workers see the whole set at once."""
    first = tasks[0]
    if not all(type(t) is type(first) and t.iteration == first.iteration for t in tasks):
        raise ValueError("the tasks of one file are of one kind and one iteration")
    members, seeds = [t.member for t in tasks], [t.seed for t in tasks]
    if isinstance(first, MemberTask):
        if not all(torch.equal(t.psi, first.psi) for t in tasks):
            raise ValueError("the member tasks of one iteration share psi")
        data = {"time_budget": time_budget, "psi": first.psi, "members": members, "seeds": seeds,
                "eps": torch.stack([t.eps for t in tasks])}
    else:
        if len({t.psi is None for t in tasks}) > 1:
            raise ValueError("the fixed-env tasks of one file are all in SEs or all on the real env")
        psis, psi_index = None, None
        if first.psi is not None:
            rows: dict[bytes, int] = {}   # each distinct psi once, by its exact bytes
            distinct, psi_index = [], []
            for task in tasks:
                key = task.psi.numpy().tobytes()
                if key not in rows:
                    rows[key] = len(distinct)
                    distinct.append(task.psi)
                psi_index.append(rows[key])
            psis = torch.stack(distinct)
        data = {"task_kind": FIXED_ENV, "time_budget": time_budget, "members": members, "seeds": seeds, "psis": psis,
                "psi_index": psi_index}
    write_file(paths.tasks / str(first.iteration), "tasks", first.run_id, first.iteration, -1, tensors_to_bytes(data))


def read_tasks(path: Path, run_id: str) -> tuple[list[MemberTask] | list[FixedEnvTask], float]:
    """The tasks in ``path`` and their time budget; raises BadFile."""
    header, payload = read_file(path, "tasks", run_id)
    data, iteration = tensors_from_bytes(payload), header["iteration"]
    try:
        kind = data.get("task_kind")
        if kind == FIXED_ENV:
            index = data["psi_index"]
            psis = [None] * len(data["members"]) if index is None else [data["psis"][row] for row in index]
            if not len(psis) == len(data["members"]) == len(data["seeds"]):
                raise BadFile("malformed task payload: one psi and seed per task expected")
            tasks = [FixedEnvTask(run_id=run_id, iteration=iteration, member=member, seed=seed, psi=psi)
                     for member, seed, psi in zip(data["members"], data["seeds"], psis)]
        elif kind is None:
            tasks = [MemberTask(run_id=run_id, iteration=iteration, member=member, seed=seed, psi=data["psi"],
                                eps=eps) for member, seed, eps in zip(data["members"], data["seeds"], data["eps"])]
        else:
            raise BadFile(f"unknown task kind {kind!r}")
        return tasks, data["time_budget"]
    except (KeyError, TypeError, AttributeError, IndexError):
        raise BadFile("malformed task payload") from None


def results_name(iteration: int, first_member: int, worker: str) -> str:
    return f"{iteration}-{first_member}-{worker}"


def results_iteration(name: str) -> int | None:
    """The iteration of a results file named by ``results_name`` (None for any other name)."""
    parsed = parse_member_name("-".join(name.split("-", 2)[:2]))
    return parsed[0] if parsed is not None and name.count("-") >= 2 else None


def write_results(paths: RunPaths, results: list[MemberResult] | list[FixedEnvResult], worker: str) -> None:
    """One worker's batch of results of one iteration in one file (one fsync for the batch)."""
    first = results[0]
    if not all(type(r) is type(first) for r in results):
        raise ValueError("the results of one file are of one kind")
    rows = [dataclasses.asdict(result) for result in results]
    data = rows if isinstance(first, MemberResult) else {"task_kind": FIXED_ENV, "results": rows}
    payload = json.dumps(data).encode()
    write_file(paths.results / results_name(first.iteration, first.member, worker), "results", first.run_id,
               first.iteration, -1, payload, written_at=time.time())


def read_results(path: Path, run_id: str, iteration: int) -> tuple[list[MemberResult] | list[FixedEnvResult], float]:
    """The results in ``path`` and the wall time they were written at; raises BadFile."""
    header, payload = read_file(path, "results", run_id, iteration)
    try:
        data = json.loads(payload)
        if isinstance(data, dict) and data.get("task_kind") == FIXED_ENV:
            results = [FixedEnvResult(**row) for row in data["results"]]
        else:
            results = [MemberResult(**row) for row in data]
    except (json.JSONDecodeError, TypeError, KeyError):
        raise BadFile("unreadable results payload") from None
    if any((r.run_id, r.iteration) != (run_id, iteration) for r in results):
        raise BadFile("foreign file: it holds results of another run or iteration")
    return results, header.get("written_at", 0.0)


def try_claim(path: Path, owner: str) -> int | None:
    """An open descriptor of the new claim file, or None if another worker holds the claim."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except (FileExistsError, FileNotFoundError):
        return None
    os.write(fd, owner.encode())
    return fd


def release_claim(path: Path, fd: int) -> None:
    """Close our claim and delete it if it is still ours (the master may have re-issued it)."""
    try:
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            os.unlink(path)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def claim_owner(path: Path) -> str | None:
    try:
        return Path(path).read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


class LeaseWatch:
    """Decides lease expiry by the watcher's own monotonic clock (no clock sync across nodes needed)."""

    def __init__(self, lease_seconds: float):
        self.lease_seconds = lease_seconds
        self.seen: dict[Path, tuple[tuple, float]] = {}

    def expired(self, path: Path) -> bool:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self.seen.pop(path, None)
            return False
        signature, now = (stat.st_ino, stat.st_mtime_ns), time.monotonic()
        previous = self.seen.get(path)
        if previous is None or previous[0] != signature:
            self.seen[path] = (signature, now)
            return False
        return now - previous[1] > self.lease_seconds


class Backoff:
    """Exponential back-off: 5 ms, 10 ms, ... capped at 0.5 s; ``reset`` after progress."""

    def __init__(self, first: float = 0.005, cap: float = 0.5):
        self.first, self.cap, self.delay = first, cap, first

    def reset(self) -> None:
        self.delay = self.first

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.cap, self.delay * 2)
        return delay


_IN_EVENTS = 0x8 | 0x80 | 0x100 | 0x200  # IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE


class ChangeWaiter:
    """Sleep until a watched directory changes or the timeout passes.

    Uses Linux inotify (through libc) where it exists, so a local change wakes the waiter at once;
    elsewhere, and for changes made by other nodes of a network filesystem, the timeout (the
    caller's back-off) is what notices them.
    """

    def __init__(self):
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
            self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            self.fd = -1

    def wait(self, directories, timeout: float) -> None:
        if self.fd < 0:
            time.sleep(timeout)
            return
        for directory in directories:
            # Adding a watch again is a no-op; a directory deleted and made again gets a new one.
            self.libc.inotify_add_watch(self.fd, str(directory).encode(), _IN_EVENTS)
        readable, _, _ = select.select([self.fd], [], [], timeout)
        if readable:
            try:
                while os.read(self.fd, 65536):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
