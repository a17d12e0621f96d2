"""Measure BOHB's parallel mode against its serial mode: the same runs, side by side.

    python -m experiments.benchmark_tune [--iterations N] [--repeats R] [--set k=v ...]

Runs the same tune (same space, seed, budgets and overrides, so the same BOHB runs) with one
in-process worker and with 2 worker processes, alternating, ``--repeats`` times each; prints the
wall times and the ratio serial / parallel, and records them in BENCHMARKS.md.
"""
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.errors import exits_cleanly_on_user_error
from experiments.cli import REPO_ROOT, machine_line, make_parser, record_benchmark

SPACE = REPO_ROOT / "default_config" / "bohb" / "cartpole_synthetic_env.yaml"
DEFAULT_SETS = ("nes.population=4", "nes.time_mult=1000", "agents.ddqn.train_episodes=10",
                "agents.ddqn.test_episodes=2")


def tune_seconds(workers: int, args, out: Path) -> float:
    command = [sys.executable, "-m", "experiments.tune", "--space", str(SPACE), "--iterations", str(args.iterations),
               "--workers", str(workers), "--min-budget", "1", "--max-budget", "3", "--eta", "3",
               "--ping-interval", "1", "--out", str(out)]
    for assignment in args.overrides or DEFAULT_SETS:
        command += ["--set", assignment]
    start = time.monotonic()
    subprocess.run(command, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


@exits_cleanly_on_user_error
def main(argv=None) -> None:
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--iterations", type=int, default=2, help="BOHB iterations per tune run")
    parser.add_argument("--repeats", type=int, default=2, help="tune runs per mode")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    times = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.repeats):
            for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
                times[workers].append(tune_seconds(workers, args, Path(folder) / f"w{workers}_{r}"))
    serial, parallel = statistics.median(times[1]), statistics.median(times[2])
    sets = " ".join(f"--set {a}" for a in (args.overrides or DEFAULT_SETS))
    text = "\n".join([
        f"`python -m experiments.benchmark_tune --iterations {args.iterations} --repeats {args.repeats}` "
        f"(space {SPACE.relative_to(REPO_ROOT)}, budgets 1-3 NES iterations, eta 3, {sets})", "",
        machine_line(), "",
        "| mode | wall seconds per tune run (each) | median |", "|---|---|---|",
        f"| serial (1 in-process worker) | {', '.join(f'{t:.1f}' for t in times[1])} | {serial:.1f} |",
        f"| parallel (2 worker processes) | {', '.join(f'{t:.1f}' for t in times[2])} | {parallel:.1f} |", "",
        f"Serial / parallel: **{serial / parallel:.2f}x**."])
    print(text)
    record_benchmark("bohb-parallel", text)


if __name__ == "__main__":
    main()
