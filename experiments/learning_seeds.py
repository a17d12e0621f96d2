"""Learning one SE per seed as ``learn_env`` subprocesses, and what each run cost.

Seed S runs ``python -m experiments.learn_env --config F --seed S --out DIR/seed_S`` with one torch
thread, its output in DIR/logs/seed_S.log. When it ends, its record (``SeedRecord``) is appended to
DIR/seeds.jsonl: a seed found there is finished and is not run again, and a seed whose run
directory holds a checkpoint but no record (the benchmark was stopped midway) goes on with
``learn_env --resume``.

Peak memory is the child's own ``ru_maxrss`` from ``os.wait4``: ``getrusage(RUSAGE_CHILDREN)`` is a
maximum over every child reaped so far, so with several seeds at a time it would blame the largest
run on all of them. ``wait4`` reports the child and the descendants it reaped (a ``processes``
backend's workers): the largest single process of its tree, not their sum.
"""
import csv
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from experiments.cli import REPO_ROOT

log = logging.getLogger(__name__)
RECORDS = "seeds.jsonl"


@dataclasses.dataclass(frozen=True)
class SeedRecord:
    seed: int
    solved: bool
    iterations: int                       # NES iterations run
    wall_seconds: float                   # NES wall time, as learn_env's summary.json counts it (over resumes)
    process_seconds: float                # wall time of the last learn_env process, start-up included
    peak_rss_mb: float                    # of the last learn_env process (see the module docstring)
    real_env_steps: int                   # spent by the whole run
    real_env_steps_to_solve: int | None   # spent up to the first iteration that saved best.pt


def seed_dir(out: Path, seed: int) -> Path:
    """Seed ``seed``'s learn_env run directory (its best.pt is the SE, when solved)."""
    return out / f"seed_{seed}"


def read_records(out: Path) -> dict[int, SeedRecord]:
    """The finished seeds in ``out``, by seed."""
    path = out / RECORDS
    if not path.exists():
        return {}
    records = (SeedRecord(**json.loads(line)) for line in path.read_text().splitlines() if line.strip())
    return {record.seed: record for record in records}


def learn_seeds(seeds: list[int], config: Path, overrides: list[str], out: Path, jobs: int) -> tuple[dict, list]:
    """Learn every seed of ``seeds`` not finished in ``out`` yet, ``jobs`` at a time.

    Returns (records of every finished seed, by seed; the seeds whose learn_env failed)."""
    records = read_records(out)
    pending = [seed for seed in seeds if seed not in records]
    log.info("%d of %d seeds already learned in %s; %d to run, %d at a time", len(seeds) - len(pending),
             len(seeds), out, len(pending), jobs)
    failed = []
    (out / "logs").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(learn_one, seed, config, overrides, out): seed for seed in pending}
        for future in as_completed(futures):
            seed, record = futures[future], future.result()
            if record is None:
                failed.append(seed)
                log.error("seed %d: learn_env failed; see %s", seed, out / "logs" / f"seed_{seed}.log")
                continue
            records[seed] = record
            with open(out / RECORDS, "a") as handle:  # only this thread writes it
                handle.write(json.dumps(dataclasses.asdict(record)) + "\n")
            log.info("seed %d: %s after %d iterations, %.0f s, peak %.0f MB", seed,
                     "solved" if record.solved else "not solved", record.iterations, record.wall_seconds,
                     record.peak_rss_mb)
    return {seed: records[seed] for seed in seeds if seed in records}, sorted(failed)


def learn_command(seed: int, config: Path, overrides: list[str], run_dir: Path) -> list[str]:
    """learn_env's command line for ``seed``: a fresh run, or the resumption of a stopped one
    (which keeps its saved config, so only the thread count is passed)."""
    command = [sys.executable, "-m", "experiments.learn_env", "--set", "evaluator.threads=1"]
    if (run_dir / "latest.pt").is_file():
        return [*command, "--resume", str(run_dir)]
    if run_dir.exists():
        # Stopped before its first checkpoint: nothing to go on from, and learn_env refuses a used --out.
        log.warning("seed %d: %s holds no checkpoint; starting it again", seed, run_dir)
        shutil.rmtree(run_dir)
    overrides_flags = [flag for assignment in overrides for flag in ("--set", assignment)]
    return [*command, *overrides_flags, "--config", str(config), "--seed", str(seed), "--out", str(run_dir)]


def learn_one(seed: int, config: Path, overrides: list[str], out: Path) -> SeedRecord | None:
    """Run learn_env for ``seed`` to its end; its record, or None if it failed."""
    run_dir = seed_dir(out, seed)
    command = learn_command(seed, config, overrides, run_dir)
    start = time.monotonic()
    with open(out / "logs" / f"seed_{seed}.log", "a") as log_file:
        child = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
        # Reaped here rather than by child.wait(), which discards the child's resource usage.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    if child.returncode != 0 or not (run_dir / "summary.json").is_file():
        return None
    summary = json.loads((run_dir / "summary.json").read_text())
    total, to_solve = real_env_steps(run_dir / "metrics.csv")
    return SeedRecord(seed=seed, solved=bool(summary["solved"]), iterations=int(summary["iterations"]),
                      wall_seconds=float(summary["wall_seconds"]), process_seconds=round(seconds, 2),
                      peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
                      real_env_steps=total, real_env_steps_to_solve=to_solve)


def real_env_steps(metrics: Path) -> tuple[int, int | None]:
    """Real-env steps of the whole run and up to its first solved iteration (None if none was)."""
    with open(metrics, newline="") as handle:
        rows = list(csv.DictReader(handle))
    total, to_solve = 0, None
    for row in rows:
        total += int(row["real_env_steps"])
        if to_solve is None and int(row["saved_best"]):
            to_solve = total
    return total, to_solve
