"""The search strategies side by side at equal evaluations: success rate and iterations to solve.

    python -m experiments.benchmark_strategies [--problems cliffwalking_rn,cartpole_se,cartpole_bandit_se]
        [--strategies paper_nes,openai_es,pgpe,snes,cma_es] [--seeds 5] [--iterations N]
        [--trainings T] [--set k=v ...] [--out DIR] [--record]

Every strategy trains the same number of agents per NES iteration (``--trainings``, the cost of an
iteration): one agent on psi per member plus one per scored side, so paper_nes (mirrored) gets
population T / 3, openai_es and pgpe (population = samples, two per member) 2T / 3, snes and cma_es
T / 2. Each run is a NES run of the problem's config with the strategy's default settings and
``nes.time_mult`` 1000 (no wall-clock cut, so a busy machine does not change the numbers). Success:

- ``cartpole_se`` (the paper's MDP SE) and ``cartpole_bandit_se`` (learn_env's default config): the
  CartPole-v0 SE is solved (the agents trained on it average >= 195 on the real env, as the
  config's rule decides);
- ``cliffwalking_rn``: Q-learning with the RN reaches the optimum (-13) within ``--rn-target`` real
  steps on average (plain Q-learning needs ~1,600; mean_score_orig >= -target).

Writes DIR/runs.jsonl (one row per run; a restarted benchmark with the same --out skips the runs
already there), DIR/table.md and each run's directory under DIR/runs/; ``--record`` puts the table
into BENCHMARKS.md.
"""
import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import torch

from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import (REPO_ROOT, RESULTS, machine_line, make_parser, record_benchmark, run_name,
                             setup_logging)
from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from nes.strategies import STRATEGIES


@dataclass(frozen=True)
class Problem:
    label: str
    config: Path
    iterations: int   # default iteration cap
    trainings: int    # default agents trained per iteration


PROBLEMS = {
    "cliffwalking_rn": Problem("CliffWalking-v1 RN, Q-learning",
                               REPO_ROOT / "default_config/cliffwalking_reward_env.yaml", 20, 24),
    "cartpole_se": Problem("CartPole-v0 SE, DDQN", REPO_ROOT / "default_config/cartpole_synthetic_env.yaml", 10, 24),
    # learn_env's default: at 64 trainings cma_es runs with the config's own population, 32.
    "cartpole_bandit_se": Problem("CartPole-v0 bandit SE, DDQN", REPO_ROOT / "default_config/cartpole_bandit_se.yaml",
                                  300, 64),
}


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--problems", default="cliffwalking_rn,cartpole_se",
                        help="comma-separated: " + ", ".join(PROBLEMS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated registry names")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 per strategy (default 5)")
    parser.add_argument("--iterations", type=int, help="NES iteration cap (default: the problem's)")
    parser.add_argument("--trainings", type=int,
                        help="agents trained per iteration, every strategy (default: the problem's)")
    parser.add_argument("--rn-target", type=int, default=1000, help="cliffwalking_rn success: mean real steps to -13")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every run (e.g. agents.ddqn.train_episodes=30)")
    parser.add_argument("--out", type=Path, help="output directory (default results/benchmark_strategies__<time>)")
    parser.add_argument("--record", action="store_true", help="write the table into BENCHMARKS.md")
    return parser.parse_args(argv)


def names(text: str, known, flag: str) -> list[str]:
    chosen = [name for name in text.split(",") if name]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise UserError(f"{flag}: unknown '{unknown[0] if unknown else text}'; choose from {', '.join(known)}")
    return chosen


def population_for(strategy: str, trainings: int, config) -> int:
    """The population whose iteration trains ``trainings`` agents (one on psi per member, one per side)."""
    cls = STRATEGIES[strategy]
    sides = 2 if cls.mirrored(config) else 1
    members = trainings // (1 + sides * config.nes.num_grad_evals)
    return 2 * members if cls.always_mirrored else members


def run_config(problem: str, strategy: str, seed: int, args):
    spec = PROBLEMS[problem]
    overrides = [*args.overrides, f"seed={seed}", f"nes.strategy={strategy}", "nes.time_mult=1000",
                 f"nes.max_iterations={args.iterations or spec.iterations}", "nes.quit_when_solved=true"]
    base = load_config(spec.config, overrides)
    population = population_for(strategy, args.trainings or spec.trainings, base)
    return load_config(spec.config, [*overrides, f"nes.population={population}"])


def succeeded(problem: str, row: dict, args) -> bool:
    if problem in ("cartpole_se", "cartpole_bandit_se"):
        return bool(row["saved_best"])
    return row["mean_score_orig"] >= -args.rn_target


def one_run(problem: str, strategy: str, seed: int, args, out: Path) -> dict:
    """Run until success or the iteration cap; the row of runs.jsonl."""
    config = run_config(problem, strategy, seed, args)
    run_dir = out / "runs" / problem / strategy / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    master = NESMaster(config, BatchedEvaluator(config), run_dir, run_name(config.env, "benchmark_strategies", seed))
    solved_at, start = None, time.monotonic()
    while master.state.iteration < config.nes.max_iterations and solved_at is None:
        row = master.step()
        solved_at = row["iteration"] if succeeded(problem, row, args) else None
    rows = master.state.metrics
    return {"problem": problem, "strategy": strategy, "seed": seed, "population": config.nes.population,
            "trainings_per_iteration": args.trainings or PROBLEMS[problem].trainings, "solved_at": solved_at,
            "iterations": len(rows), "best_mean_score_orig": max(r["mean_score_orig"] for r in rows),
            "seconds": round(time.monotonic() - start, 1)}


def table(rows: list[dict], problems, strategies) -> str:
    lines = ["| problem | strategy | P | solved | iterations to solve (median) | best mean score_orig (median) "
             "| s / iteration |",
             "|---|---|---|---|---|---|---|"]
    for problem in problems:
        for strategy in strategies:
            mine = [r for r in rows if (r["problem"], r["strategy"]) == (problem, strategy)]
            if not mine:
                continue
            hits = [r["solved_at"] + 1 for r in mine if r["solved_at"] is not None]
            lines.append(f"| {problem} | {strategy} | {mine[0]['population']} | {len(hits)}/{len(mine)} | "
                         f"{statistics.median(hits) if hits else '-'} | "
                         f"{statistics.median(r['best_mean_score_orig'] for r in mine):.1f} | "
                         f"{sum(r['seconds'] for r in mine) / sum(r['iterations'] for r in mine):.1f} |")
    return "\n".join(lines)


@exits_cleanly_on_user_error
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problems = names(args.problems, PROBLEMS, "--problems")
    strategies = names(args.strategies, STRATEGIES, "--strategies")
    for flag in ("seeds", "iterations", "trainings", "rn_target"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1")
    # Every config is built (and checked) before anything is written or trained.
    for problem in problems:
        for strategy in strategies:
            run_config(problem, strategy, 0, args)
    setup_logging()
    torch.set_num_threads(1)
    out = args.out or RESULTS / f"benchmark_strategies__{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["problem"], r["strategy"], r["seed"]) for r in rows}
    for problem in problems:
        for seed in range(args.seeds):
            for strategy in strategies:
                if (problem, strategy, seed) in done:
                    continue
                rows.append(one_run(problem, strategy, seed, args, out))
                with open(log, "a") as handle:
                    handle.write(json.dumps(rows[-1]) + "\n")
                (out / "table.md").write_text(table(rows, problems, strategies) + "\n")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([f"`python -m experiments.benchmark_strategies {command}` ({date.today().isoformat()})  ",
                      machine_line(), "", table(rows, problems, strategies)])
    print(text)
    if args.record:
        record_benchmark("strategies", text)
    print(out)
    return out


if __name__ == "__main__":
    main()
