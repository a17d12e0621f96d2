"""Learn one SE per seed and evaluate every solved one: how often, how fast and how good (issue 32).

    python -m experiments.benchmark_learning --env E --seeds A-B [--config F] [--set k=v ...]
        [--agent-set k=v ...] [--jobs N] [--out DIR] [--runs R] [--sb3-runs R] [--sb3-steps S]
        [--evaluations NAMES] [--record]

Learning: ``learn_env --config F --seed S --out DIR/seed_S`` for each seed S from A to B, N at a
time (one torch thread each), recording whether it solved, its NES wall time and iterations, the
real-env steps it spent until solved and its peak memory (DIR/seeds.jsonl). F defaults to the env's
default_config/<name>_bandit_se.yaml (cartpole for CartPole-v0; learn_env's default), else its
<name>_synthetic_env.yaml (the paper's MDP SE); ``--set`` is passed on to every learn_env. A
benchmark started again with the same DIR skips the seeds it finished and resumes the ones it was
running.

Evaluation of every solved SE (``experiments/learning_evaluations.py`` says which hyperparameters):
R fresh agents each of DDQN (the config's hyperparameters, fixed and varied), Dueling DDQN, discrete
TD3 and PPO (varied), trained only on the SE and tested on the real env; R DDQN agents on the real
env (the baseline); and, when stable_baselines3 is installed, SB3's DQN and PPO trained on the SE
through gymnasium for at most --sb3-steps steps (--sb3-runs each; 0: none). ``--agent-set``
overrides our agents' configs on the SEs (not the baseline's), e.g. a longer budget than NES trained
with. ``--evaluations`` runs some of them (``none``: learning only). With N > 1 the agents train in
N processes.

Writes DIR/benchmark.csv (one row per seed and evaluation), DIR/table.md and prints the table and
DIR; ``--record`` also puts the table into BENCHMARKS.md (between ``<!-- learning-E:start/end -->``).
Exits with 1 if a learn_env run failed (its log is in DIR/logs; the same command retries it).
"""
import logging
import re
import sys
import time
from datetime import date
from pathlib import Path

import torch

from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_csv, atomic_write_text
from envs.real import check_env_id, real_env_spec
from experiments import sb3_transfer
from experiments.cli import RESULTS, machine_line, make_parser, record_benchmark, setup_logging
from experiments.learning_evaluations import config_file, evaluate, planned_evaluations
from experiments.learning_seeds import learn_seeds, seed_dir
from experiments.learning_table import csv_rows, report
from nes.config import EvaluatorConfig, load_config

log = logging.getLogger("benchmark_learning")
SB3_MAX_STEPS = 20_000  # issue 32: another library's agent learns on an SE in at most 20k steps


def parse_args(argv):
    parser = make_parser(__doc__)
    parser.add_argument("--env", required=True, help="real env of the SEs, e.g. CartPole-v0")
    parser.add_argument("--seeds", required=True, metavar="A-B", help="learning seeds A to B, both included (or one seed)")
    parser.add_argument("--config", type=Path, help="learn_env config (default: default_config/<name>_bandit_se.yaml, "
                                                        "else <name>_synthetic_env.yaml; e.g. cartpole_...)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of every learn_env's config, e.g. --set nes.max_iterations=40 (repeatable)")
    parser.add_argument("--agent-set", dest="agent_sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the agents trained on the SEs (not the baseline), e.g. --agent-set "
                             "agents.ddqn.train_episodes=1000 (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="learn_env runs (and evaluation processes) at a time (default 1)")
    parser.add_argument("--out", type=Path, help="output directory; an existing one is resumed "
                                                 "(default: results/benchmark_learning__<env>__<time>)")
    parser.add_argument("--runs", type=int, default=20, help="agents per SE and evaluation, and of the baseline (default 20)")
    parser.add_argument("--sb3-runs", type=int, default=5,
                        help="Stable-Baselines3 agents per SE and algorithm (default 5; 0: none)")
    parser.add_argument("--sb3-steps", type=int, default=SB3_MAX_STEPS,
                        help=f"SE steps of each SB3 training (default and most {SB3_MAX_STEPS})")
    parser.add_argument("--evaluations", default="all", metavar="NAMES",
                        help="comma-separated evaluations to run, e.g. ddqn_fixed,baseline_ddqn_real_env "
                             "(default all; none: learning only)")
    parser.add_argument("--record", action="store_true", help="write the table into BENCHMARKS.md")
    return parser.parse_args(argv)


def parse_seed_range(text: str) -> list[int]:
    """``"3-7"`` -> [3, 4, 5, 6, 7]; ``"4"`` -> [4]."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
    if not match:
        raise UserError(f"--seeds {text!r} is not a seed range like 0-9 (or one seed)")
    first, last = int(match[1]), int(match[2] if match[2] is not None else match[1])
    if last < first:
        raise UserError(f"--seeds {text}: the range ends before it starts")
    return list(range(first, last + 1))


def checked_inputs(args) -> tuple[list[int], Path, str, set[str]]:
    """The seeds, the config file, its SE kind and the chosen evaluations, after every check that
    needs nothing written."""
    check_env_id(args.env)
    seeds = parse_seed_range(args.seeds)
    for flag, value, low in (("--jobs", args.jobs, 1), ("--runs", args.runs, 1), ("--sb3-runs", args.sb3_runs, 0)):
        if value < low:
            raise UserError(f"{flag} must be >= {low}, got {value}")
    if not 1 <= args.sb3_steps <= SB3_MAX_STEPS:
        raise UserError(f"--sb3-steps must be between 1 and {SB3_MAX_STEPS}, got {args.sb3_steps}")
    config_path = args.config or config_file(args.env, "bandit_se") or config_file(args.env, "synthetic_env")
    if config_path is None:
        raise UserError(f"no default SE config for {args.env}; pass --config")
    config = load_config(config_path, [*args.overrides, f"seed={seeds[0]}"])
    if config.env != args.env:
        raise UserError(f"{config_path} learns for {config.env}, not {args.env}")
    if config.learn != "synthetic_env":
        raise UserError(f"{config_path} learns a {config.learn}; benchmark_learning evaluates synthetic envs")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file, not a directory")
    return seeds, config_path.resolve(), config.synthetic_env.kind, chosen_evaluations(args.evaluations, args.env)


def chosen_evaluations(text: str, env: str) -> set[str]:
    """The names ``--evaluations`` picks from every evaluation ``env`` has (SB3's included)."""
    known = [evaluation.name for evaluation in planned_evaluations(env, with_sb3=True)]
    if text.strip() in ("all", "none"):
        return set(known) if text.strip() == "all" else set()
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        problem = f"unknown {', '.join(map(repr, unknown))}" if unknown else "no name given"
        raise UserError(f"--evaluations: {problem}; choose from {', '.join(known)}, all or none")
    return set(names)


@exits_cleanly_on_user_error
def main(argv=None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    seeds, config_path, se_kind, chosen = checked_inputs(args)
    setup_logging()
    torch.set_num_threads(1)
    # Absolute: the learn_env children run from the repository root.
    out = (args.out or RESULTS / f"benchmark_learning__{args.env}__{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    records, failed = learn_seeds(seeds, config_path, args.overrides, out, args.jobs)
    if not records:
        log.error("no seed finished (learn_env logs in %s)", out / "logs")
        sys.exit(1)
    models = {seed: seed_dir(out, seed) / "best.pt" for seed, record in records.items() if record.solved}
    with_sb3 = args.sb3_runs > 0 and sb3_transfer.available()
    if args.sb3_runs > 0 and not with_sb3:
        log.info("stable_baselines3 is not installed: no SB3 evaluation")
    evaluator = EvaluatorConfig(backend="processes", workers=args.jobs) if args.jobs > 1 else EvaluatorConfig()
    evaluations = {}
    planned = [evaluation for evaluation in planned_evaluations(args.env, with_sb3, se_kind)
               if evaluation.name in chosen]
    for evaluation in planned if models else []:
        runs = args.sb3_runs if evaluation.library == "sb3" else args.runs
        evaluations[evaluation.name] = evaluate(evaluation, models, runs, out, evaluator, args.sb3_steps, args.jobs,
                                                args.agent_sets)
    threshold = real_env_spec(args.env).solved_reward
    atomic_write_csv(out / "benchmark.csv", csv_rows(list(records.values()), evaluations, threshold))
    header = [f"`python -m experiments.benchmark_learning {' '.join(argv)}` ({date.today().isoformat()}), "
              f"config `{config_path.name}`  ", machine_line()]
    text = report(list(records.values()), evaluations, threshold, header)
    atomic_write_text(out / "table.md", text + "\n")
    print(text)
    if args.record:
        record_benchmark(f"learning-{args.env}", text)
    print(out)
    if failed:
        log.error("learn_env failed for seeds %s (logs in %s); the same command runs them again",
                  ", ".join(map(str, failed)), out / "logs")
        sys.exit(1)
    return out


if __name__ == "__main__":
    main()
