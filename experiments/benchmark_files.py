"""What the ``files`` backend costs the NES master: the same iterations on ``batched`` and on ``files``.

    python -m experiments.benchmark_files [--population 16] [--iterations 6] [--train-episodes 3] [--record]

Both run the same NES iterations (same seed, so identical scores; checked) through the NES master,
``files`` with one local worker, which trains the same batched population as ``batched`` does in
process. The difference of their iteration times is the backend's whole overhead (task and result
files, the worker noticing tasks, the master noticing results); the files evaluator also times its
own part: writing the tasks, the lag from the last result's write to the master holding all
results, and closing the iteration. The first iteration (the worker starting) is reported apart.
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import MDP_SE_CONFIG, machine_line, make_parser, record_benchmark, setup_logging
from nes.config import load_config
from nes.evaluators import make_evaluator
from nes.master import NESMaster


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--population", type=int, default=16, help="NES population P (default 16)")
    parser.add_argument("--iterations", type=int, default=6, help="NES iterations per backend (default 6)")
    parser.add_argument("--train-episodes", type=int, default=3, help="episode cap per agent (default 3: tiny tasks)")
    parser.add_argument("--seed", type=int, default=0, help="run seed")
    parser.add_argument("--record", action="store_true", help="write the figures into BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.population < 1 or args.iterations < 2 or args.train_episodes < 1:
        raise UserError("--population and --train-episodes must be >= 1, --iterations >= 2")
    return args


def run_backend(args, backend: str, work_dir: Path):
    """(metrics rows, evaluator) of ``args.iterations`` NES iterations on ``backend``."""
    config = load_config(MDP_SE_CONFIG, [
        f"nes.population={args.population}", f"seed={args.seed}", f"nes.max_iterations={args.iterations}",
        f"agents.ddqn.train_episodes={args.train_episodes}", "nes.time_mult=1000", "nes.quit_when_solved=false",
        f"evaluator.backend={backend}", "evaluator.workers=1"])
    torch.set_num_threads(config.evaluator.threads)
    run_dir = work_dir / backend
    run_dir.mkdir()
    evaluator = make_evaluator(config, run_dir)
    try:
        state = NESMaster(config, evaluator, run_dir, f"benchmark-{backend}").run()
    finally:
        evaluator.close()
    return state.metrics, evaluator


def report(args, batched, files, evaluator) -> str:
    later = slice(1, None)
    batched_s = statistics.mean(row["wall_seconds"] for row in batched[later])
    files_s = statistics.mean(row["wall_seconds"] for row in files[later])
    # Beyond compute: the iteration's wall time minus the members' training time (one worker
    # trains them all as one population, so every member reports that same time).
    beyond = {name: [row["wall_seconds"] - row["mean_member_seconds"] for row in rows[later]]
              for name, rows in (("batched", batched), ("files", files))}
    overheads = evaluator.overheads[later]
    own = [o["write_seconds"] + o["collect_lag_seconds"] + o["finish_seconds"] for o in overheads]
    same = [_scores(row) for row in batched] == [_scores(row) for row in files]
    return "\n".join([
        f"Command: `python -m experiments.benchmark_files --population {args.population} --iterations "
        f"{args.iterations} --train-episodes {args.train_episodes}`  ",
        machine_line(),
        f"Date: {time.strftime('%Y-%m-%d')}; load average at the end {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores",
        "",
        "| measure | value |",
        "|---|---|",
        f"| seconds per NES iteration, batched (P={args.population}, iterations 2-{args.iterations}) | "
        f"{batched_s:.3f} |",
        f"| seconds per NES iteration, files with 1 local worker | {files_s:.3f} |",
        f"| difference (noisy: the two runs follow each other on a shared machine) | {files_s - batched_s:+.3f} |",
        f"| **files: seconds per iteration beyond the members' compute, mean (max)** | "
        f"**{statistics.mean(beyond['files']):.3f}** ({max(beyond['files']):.3f}) |",
        f"| batched: the same, mean (max) | {statistics.mean(beyond['batched']):.3f} ({max(beyond['batched']):.3f}) |",
        f"| master's own part: task writes + result lag + closing the iteration, mean (max) | "
        f"{statistics.mean(own):.3f} ({max(own):.3f}) |",
        f"| of which task writes, mean | {statistics.mean(o['write_seconds'] for o in overheads):.3f} |",
        f"| first iteration (worker start-up), batched vs files | {batched[0]['wall_seconds']:.2f} vs "
        f"{files[0]['wall_seconds']:.2f} |",
        f"| identical scores from both backends | {'yes' if same else 'NO'} |",
    ])


def _scores(row: dict) -> tuple:
    return row["mean_score_orig"], row["max_score"], row["mean_score"], row["synthetic_env_steps"]


@exits_cleanly_on_user_error
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    with tempfile.TemporaryDirectory(prefix="benchmark_files.") as work:
        batched, _ = run_backend(args, "batched", Path(work))
        files, evaluator = run_backend(args, "files", Path(work))
    text = report(args, batched, files, evaluator)
    print(text)
    if args.record:
        record_benchmark(f"files-backend-p{args.population}", text)
    if "| identical scores from both backends | yes |" not in text:
        raise SystemExit("batched and files backends disagree")


if __name__ == "__main__":
    main()
