"""Train fresh agents only on learned SEs and test them on the real env.

    python -m experiments.evaluate_env MODEL_OR_RUN_DIR [--agent ddqn] [--runs 20] [--seed N] [--baseline]
    python -m experiments.evaluate_env --models DIR_OR_FILES... [--agent A] [--agent-config F] [--runs M] [--vary-hp]
                                       [--baseline] [--evaluator B] [--workers N] [--sync-dir D]
                                       [--scheduler ADDRESS] [--out DIR]

No real-env interaction happens while training on an SE: agents stop by the SE early-out rule or
their episode cap (on a bandit SE, whose episodes are one step, they train for their whole budget:
``train_episodes`` steps or ``protocol.max_train_steps``). ``--baseline`` also trains as many
agents on the real env (stopping once the mean return of their last ``early_out_num`` training
episodes reaches the threshold, the paper's real-env rule: env_solved in agents/base_agent.py @
3216697) and reports the ratios of mean (the paper's statistic) and median training steps.

The first form evaluates one model and writes evaluation.json. The second takes N models (files,
learn_env run directories, or folders of them such as zoo/) and trains M agents on each; it writes
evaluation.csv, one tidy row per training run (model, env, agent, hp_mode, run, seed, test_return,
train_steps, train_episodes, wall_seconds; the real-env baseline's model is "real env"), and
summary.txt (mean and median returns and steps per model, and pooled over the models).

The trainings run through the NES evaluator backends (``experiments/evaluation.py``): ``batched``
(default: all runs of one config as one population), ``serial``, ``processes``, ``dask``, or
``files``, whose tasks any number of ``python -m experiments.worker --sync-dir D`` processes answer
(``--workers 0``: only those, e.g. a SLURM array; ``python -m experiments.slurm_scripts evaluate``
writes such a layout). Every backend gives the same rows except wall_seconds. The models' own
saved evaluator settings are not used: the flags and ``--set evaluator.*`` here decide.
"""
import csv
import json
import logging
import statistics
import sys
from pathlib import Path

import torch

from agents import AGENTS
from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_text
from common.rng import derive_seed
from envs.real import real_env_spec
from experiments.cli import (add_evaluator_flags, agent_config_overrides, evaluator_overrides, make_parser,
                             new_run_dir, run_name, setup_logging)
from experiments.evaluation import CSV_COLUMNS, REAL, Run, evaluate_runs, model_runs
from nes.config import EvaluatorConfig, load_config
from nes.evaluators import check_evaluator_inputs
from nes.model_files import config_with_overrides, load_synthetic_env

log = logging.getLogger("evaluate_env")


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("model", type=Path, nargs="?", help="a best.pt model file, or a learn_env run directory holding one")
    parser.add_argument("--models", type=Path, nargs="+", metavar="MODEL",
                        help="many SEs at once: model files, run directories or folders of them (writes evaluation.csv)")
    parser.add_argument("--vary-hp", action="store_true",
                        help="every run samples its own lr, batch size, width and depth (the paper's robustness mode)")
    add_evaluator_flags(parser)
    parser.add_argument("--agent", default="ddqn", help=f"agent to train: {', '.join(sorted(AGENTS))} (default ddqn)")
    parser.add_argument("--agent-config", type=Path, metavar="FILE",
                        help="take the agent's hyperparameters from FILE's agents.<agent> section (e.g. "
                             "default_config/cartpole_td3_discrete.yaml: the agent's tuned real-env values, for transfer)")
    parser.add_argument("--runs", type=int, default=20, help="fresh agents to train (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh agents (default 0)")
    parser.add_argument("--baseline", action="store_true", help="also train --runs agents on the real env")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the model's config, e.g. --set agents.ddqn.vary_hp=true (repeatable)")
    parser.add_argument("--out", type=Path, help="directory for evaluation.json (default: results/<name>)")
    return parser.parse_args(argv)


def holds_worker_results(out_dir: Path) -> bool:
    """A files backend's default sync dir may hold results a restarted master reuses: kept."""
    return (out_dir / "sync").is_dir()


def resolve_model(path: Path) -> Path:
    return path / "best.pt" if path.is_dir() else path


def evaluator_config(args) -> EvaluatorConfig:
    """The evaluator section from ``--set evaluator.*`` and the flags, validated (a model's saved
    one says how it was learned, not how to evaluate it)."""
    own = [assignment for assignment in args.overrides if assignment.startswith("evaluator.")]
    evaluator = load_config(None, own + evaluator_overrides(args)).evaluator
    check_evaluator_inputs(evaluator)
    return evaluator


def side_records(rows: list[dict], threshold: float) -> tuple[list[dict], float]:
    """Per-run records of one side (SE or real env) and the longest training's wall seconds."""
    kept = [{"run": r["run"], "test_return": r["test_return"], "train_steps": r["train_steps"],
             "train_episodes": r["train_episodes"], "solved": r["test_return"] >= threshold} for r in rows]
    return kept, max(r["wall_seconds"] for r in rows)


def summarise(records: list[dict], threshold: float) -> dict:
    returns = [r["test_return"] for r in records]
    return {"runs": len(records), "median_test_return": statistics.median(returns),
            "mean_test_return": statistics.fmean(returns),
            "share_solved": sum(r >= threshold for r in returns) / len(returns),
            "median_train_steps": statistics.median(r["train_steps"] for r in records),
            "mean_train_steps": statistics.fmean(r["train_steps"] for r in records),
            "median_train_episodes": statistics.median(r["train_episodes"] for r in records)}


def table(rows: dict[str, dict]) -> str:
    head = (f"{'trained on':<12}{'runs':>6}{'solved':>9}{'median ret':>12}{'mean ret':>10}{'mean steps':>12}"
            f"{'med steps':>11}{'med eps':>9}")
    lines = [head, "-" * len(head)]
    for name, s in rows.items():
        lines.append(f"{name:<12}{s['runs']:>6}{s['share_solved']:>8.0%} {s['median_test_return']:>11.1f}"
                     f"{s['mean_test_return']:>10.1f}{s['mean_train_steps']:>12.0f}{s['median_train_steps']:>11.0f}"
                     f"{s['median_train_episodes']:>9.0f}")
    return "\n".join(lines)


@exits_cleanly_on_user_error
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.agent not in AGENTS:
        raise UserError(f"unknown agent '{args.agent}'; choose one of {', '.join(sorted(AGENTS))}")
    if args.runs < 1:
        raise UserError(f"--runs must be >= 1, got {args.runs}")
    if (args.model is None) == (args.models is None):
        raise UserError("give one model (positional) or --models, not both and not neither")
    args.overrides = agent_config_overrides(args.agent_config, [args.agent]) + args.overrides
    evaluator = evaluator_config(args)
    if args.models is not None:
        return evaluate_many(args, evaluator)
    model_path = resolve_model(args.model)
    nets, config = load_synthetic_env(model_path)
    config = config_with_overrides(config, [f"agent={args.agent}", *args.overrides], model_path)
    torch.set_num_threads(evaluator.threads)
    threshold = real_env_spec(config.env).solved_reward
    seeds = [derive_seed(args.seed, run, 0xE7A1) for run in range(args.runs)]
    planned = [Run("SE", config, run, s, nets) for run, s in enumerate(seeds)]
    planned += [Run(REAL, config, run, s + 1) for run, s in enumerate(seeds)] if args.baseline else []
    name = run_name(config.env, "evaluate_env", args.seed)
    with new_run_dir(args.out, name, started=holds_worker_results) as out_dir:
        trained = evaluate_runs(planned, evaluator, out_dir)
    se_records, se_wall = side_records(trained[:args.runs], threshold)
    report = {"model": str(model_path), "env": config.env, "agent": args.agent, "seed": args.seed,
              "synthetic": {"summary": summarise(se_records, threshold), "wall_seconds": round(se_wall, 2),
                            "runs": se_records}}
    rows = {"SE": report["synthetic"]["summary"]}
    if args.baseline:
        real_records, real_wall = side_records(trained[args.runs:], threshold)
        report["real"] = {"summary": summarise(real_records, threshold), "wall_seconds": round(real_wall, 2),
                          "runs": real_records}
        rows["real env"] = report["real"]["summary"]
        se_steps, real_steps = rows["SE"]["median_train_steps"], rows["real env"]["median_train_steps"]
        report["step_ratio_real_over_se"] = real_steps / se_steps if se_steps else None
        # The paper compares mean steps (16,888 real against 6,819 SE); medians resist outliers.
        se_mean, real_mean = rows["SE"]["mean_train_steps"], rows["real env"]["mean_train_steps"]
        report["mean_step_ratio_real_over_se"] = real_mean / se_mean if se_mean else None
    atomic_write_text(out_dir / "evaluation.json", json.dumps(report, indent=2) + "\n")
    print(table(rows))
    if args.baseline and report["step_ratio_real_over_se"]:
        print(f"median training steps: real env / SE = {report['step_ratio_real_over_se']:.2f}")
    if args.baseline and report["mean_step_ratio_real_over_se"]:
        print(f"mean training steps: real env / SE = {report['mean_step_ratio_real_over_se']:.2f}")
    print(out_dir)


def write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({**row, "test_return": f"{row['test_return']:.6g}"} for row in rows)


def summary_table(rows: list[dict]) -> str:
    """One line per model, env, agent and hyperparameter mode; where several models share the rest,
    one more line pools their runs ("all N models"): the paper's figures pool the runs of all SEs."""
    head = (f"{'model':<28}{'env':<14}{'agent':<14}{'hp':<8}{'runs':>5}{'mean ret':>10}{'median ret':>11}"
            f"{'mean steps':>11}{'med steps':>10}{'med eps':>8}")
    lines = [head, "-" * len(head)]
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["env"], r["agent"], r["hp_mode"]), []).append(r)
    pooled = {}
    for (model, *rest), mine in groups.items():
        if model != REAL:
            pooled.setdefault(tuple(rest), []).append(mine)
    for rest, per_model in pooled.items():
        if len(per_model) > 1:
            groups[(f"all {len(per_model)} models", *rest)] = [r for mine in per_model for r in mine]
    for (model, env, agent, hp_mode), mine in groups.items():
        returns, steps = [r["test_return"] for r in mine], [r["train_steps"] for r in mine]
        lines.append(f"{model[:27]:<28}{env:<14}{agent:<14}{hp_mode:<8}{len(mine):>5}"
                     f"{statistics.fmean(returns):>10.1f}{statistics.median(returns):>11.1f}"
                     f"{statistics.fmean(steps):>11.0f}{statistics.median(steps):>10.0f}"
                     f"{statistics.median(r['train_episodes'] for r in mine):>8.0f}")
    return "\n".join(lines)


def evaluate_many(args, evaluator: EvaluatorConfig) -> Path:
    planned = model_runs(args.models, args.agent, args.runs, args.seed, args.vary_hp, args.overrides, args.baseline)
    envs = sorted({run.config.env for run in planned})
    torch.set_num_threads(evaluator.threads)
    with new_run_dir(args.out, run_name("+".join(envs), "evaluate_env", args.seed),
                     started=holds_worker_results) as out_dir:
        log.info("%d training runs (%d models x %d agents%s), %s backend", len(planned),
                 len({r.model for r in planned if r.nets is not None}), args.runs,
                 " + real-env baseline" if args.baseline else "", evaluator.backend)
        rows = evaluate_runs(planned, evaluator, out_dir)
    write_rows(out_dir / "evaluation.csv", rows)
    text = summary_table(rows)
    atomic_write_text(out_dir / "summary.txt", text + "\n")
    print(text)
    print(out_dir)
    return out_dir


if __name__ == "__main__":
    main()
