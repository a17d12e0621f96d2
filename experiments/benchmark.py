"""Speed of one NES iteration: ``batched`` vs ``serial`` on the same member tasks.

    python -m experiments.benchmark [--population 16] [--train-episodes 30] [--record]

Both backends get identical tasks (same psi, noise and seeds) and must return identical scores,
so the work is equal by construction. Prints seconds per iteration, the ratio, inner-loop SE
steps per second and peak memory; ``--record`` writes them into BENCHMARKS.md.
"""
import math
import resource
import sys
import time
from pathlib import Path

import torch

from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import MDP_SE_CONFIG, machine_line, make_parser, record_benchmark, setup_logging
from nes.config import load_config
from nes.master import NESMaster
from nes.member_evaluation import evaluate_members


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--population", type=int, default=16, help="NES population P (default 16)")
    parser.add_argument("--train-episodes", type=int, default=30,
                        help="episode cap per agent, equal for both backends (default 30; keeps serial affordable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the benchmarked iteration")
    parser.add_argument("--record", action="store_true", help="write the figures into BENCHMARKS.md")
    return parser.parse_args(argv)


def timed(tasks, config, batched: bool):
    start = time.perf_counter()
    results = evaluate_members(tasks, config, math.inf, batched=batched)
    return results, time.perf_counter() - start


def report(args, batched_s, serial_s, steps, peak_mb, equal) -> str:
    return "\n".join([
        f"Command: `python -m experiments.benchmark --population {args.population} "
        f"--train-episodes {args.train_episodes}`  ",
        machine_line(),
        f"Date: {time.strftime('%Y-%m-%d')}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| seconds per NES iteration, batched (P={args.population}) | {batched_s:.1f} |",
        f"| seconds per NES iteration, serial (P={args.population}) | {serial_s:.1f} |",
        f"| speed-up batched / serial | {serial_s / batched_s:.1f}x |",
        f"| inner-loop SE steps per second, batched | {steps / batched_s:,.0f} |",
        f"| inner-loop SE steps per second, serial | {steps / serial_s:,.0f} |",
        f"| identical scores from both backends | {'yes' if equal else 'NO'} |",
        f"| peak memory of the process | {peak_mb:.0f} MB |",
    ])


@exits_cleanly_on_user_error
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.population < 1 or args.train_episodes < 1:
        raise UserError("--population and --train-episodes must be >= 1")
    config = load_config(MDP_SE_CONFIG, [f"nes.population={args.population}", f"seed={args.seed}",
                                          f"agents.ddqn.train_episodes={args.train_episodes}"])
    torch.set_num_threads(config.evaluator.threads)
    tasks = NESMaster(config, evaluator=None, run_dir=Path("."), run_id="benchmark").tasks()
    batched, batched_s = timed(tasks, config, batched=True)
    serial, serial_s = timed(tasks, config, batched=False)
    equal = [(r.score, r.score_orig, r.flipped) for r in batched] == [(r.score, r.score_orig, r.flipped) for r in serial]
    steps = sum(r.synthetic_steps for r in batched)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = report(args, batched_s, serial_s, steps, peak_mb, equal)
    print(text)
    if args.record:
        record_benchmark("benchmark", text)
    if not equal:
        raise SystemExit("batched and serial backends disagree")


if __name__ == "__main__":
    main()
