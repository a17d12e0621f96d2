"""Wall time of one tiny NES per backend, side by side: batched, dask, files (local workers) and
the generated SLURM ``nes`` layout on a live single-node SLURM (needs what tests/test_slurm.py needs).

    python -m tests.benchmark_distributed [--population 16] [--iterations 4] [--workers 2] [--record]

Every backend runs the same config (same seed, so the same work); the table gives per-iteration
wall seconds from each run's metrics.csv (the first iteration apart: it includes starting workers)
and the end-to-end seconds from start (or submission) to the finished run. ``--record`` writes the
table into BENCHMARKS.md.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from experiments.cli import machine_line, record_benchmark
from tests.helpers import entry_point_env, mdp_se_flags, metrics_without_wall_clock, run_entry_point
from tests.slurm_cluster import SlurmCluster, missing_reason


def wall_seconds(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.csv").read_text().strip().splitlines()
    column = lines[0].split(",").index("wall_seconds")
    return [float(line.split(",")[column]) for line in lines[1:]]


def local_run(name: str, sets: list[str], out: Path, *flags: str) -> float:
    start = time.monotonic()
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(sets), *flags, "--out", out / name, timeout=3600)
    if completed.returncode != 0:
        raise RuntimeError(f"{name} failed: {completed.stderr[-2000:]}")
    return time.monotonic() - start


def slurm_run(sets: list[str], out: Path, workers: int) -> tuple[float, float]:
    """(bring-up seconds, submission-to-done seconds); the run lands in out/slurm/run."""
    start = time.monotonic()
    cluster = SlurmCluster(out / "slurm_daemons").start()
    bring_up = time.monotonic() - start
    try:
        completed = run_entry_point("experiments.slurm_scripts", "nes", *mdp_se_flags(sets), "--workers", workers,
                                    "--idle-exit", "120", "--out", out / "slurm_layout")
        if completed.returncode != 0:
            raise RuntimeError(completed.stderr)
        start = time.monotonic()
        subprocess.run(["bash", str(out / "slurm_layout" / "submit.sh")], env={**entry_point_env(), **cluster.env},
                       check=True, capture_output=True)
        cluster.wait_until_empty(timeout=3600)
        return bring_up, time.monotonic() - start
    finally:
        cluster.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-episodes", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in every run it starts (one OpenMP thread), so the machine line says so
    reason = missing_reason()
    if reason:
        sys.exit(f"cannot start a SLURM here: {reason}")
    sets = [f"nes.population={args.population}", f"nes.max_iterations={args.iterations}", "nes.time_mult=1000",
            f"agents.ddqn.train_episodes={args.train_episodes}", "agents.ddqn.test_episodes=2", "seed=1"]
    out = Path(tempfile.mkdtemp(prefix="benchmark_distributed_"))
    w = str(args.workers)
    end_to_end = {
        "batched (one process)": local_run("batched", sets, out),
        f"dask (LocalCluster, {w} workers)": local_run("dask", sets, out, "--evaluator", "dask", "--workers", w),
        f"files (master + {w} local workers)": local_run("files", sets, out, "--evaluator", "files", "--workers", w),
    }
    bring_up, end_to_end[f"SLURM nes layout (master job + {w}-task array)"] = slurm_run(sets, out, args.workers)
    runs = dict(zip(end_to_end, [out / "batched", out / "dask", out / "files", out / "slurm_layout" / "run"]))
    reference = metrics_without_wall_clock(out / "batched" / "metrics.csv")
    same = all(metrics_without_wall_clock(d / "metrics.csv") == reference for d in runs.values())
    lines = [f"Tiny NES: CartPole-v0 SE, DDQN, population {args.population} (48 agents per iteration), "
             f"train_episodes={args.train_episodes}, test_episodes=2, {args.iterations} iterations, seed 1.  ",
             machine_line(), f"Identical metrics on every backend: {same}. SLURM bring-up "
             f"(munged + slurmctld + slurmd until the node is idle): {bring_up:.1f} s.", "",
             "| backend | first iteration (s) | later iterations, mean (s) | end to end (s) |", "|---|---|---|---|"]
    for name, run_dir in runs.items():
        walls = wall_seconds(run_dir)
        lines.append(f"| {name} | {walls[0]:.1f} | {statistics.mean(walls[1:]):.1f} | {end_to_end[name]:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.record:
        record_benchmark("distributed-slurm", text)


if __name__ == "__main__":
    main()
