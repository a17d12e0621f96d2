"""Train fresh agents only on a learned SE and test them on the real env.

    python -m experiments.evaluate_env MODEL_OR_RUN_DIR [--agent ddqn] [--runs 20] [--seed N] [--baseline]

No real-env interaction happens while training on the SE: agents stop by the SE early-out rule or
their episode cap. ``--baseline`` also trains as many agents on the real env (stopping once a
test after an episode reaches the threshold, the paper's real-env protocol) and reports the ratio
of median training steps.
"""
import dataclasses
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

from agents import AGENTS, make_agent
from agents.training import train_population
from common.config import to_dict, with_overrides
from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_text
from common.rng import derive_seed
from envs.initial_states import InitialStateSampler
from envs.model_files import load_synthetic_env
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from experiments.cli import fresh_run_dir, make_parser, run_name, setup_logging

log = logging.getLogger("evaluate_env")


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("model", type=Path, help="a best.pt model file, or a learn_env run directory holding one")
    parser.add_argument("--agent", default="ddqn", help=f"agent to train: {', '.join(sorted(AGENTS))} (default ddqn)")
    parser.add_argument("--runs", type=int, default=20, help="fresh agents to train (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh agents (default 0)")
    parser.add_argument("--baseline", action="store_true", help="also train --runs agents on the real env")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the model's config, e.g. --set agents.ddqn.vary_hp=true (repeatable)")
    parser.add_argument("--out", type=Path, help="directory for evaluation.json (default: results/<name>)")
    return parser.parse_args(argv)


def resolve_model(path: Path) -> Path:
    return path / "best.pt" if path.is_dir() else path


def run_agents(config, agent_name, seeds, on_synthetic: bool, nets=None) -> tuple[list[dict], float]:
    """Train len(seeds) agents as one population; per-run records and wall seconds."""
    spec = real_env_spec(config.env)
    agent_config = getattr(config.agents, agent_name)
    agent = make_agent(agent_name, agent_config, spec, [derive_seed(s, 0) for s in seeds])
    test_env = RealVecEnv(config.env, [derive_seed(s, 2) for s in seeds], agent_config.test_episodes)
    if on_synthetic:
        sampler = InitialStateSampler(config.env, [derive_seed(s, 1) for s in seeds])
        train_env = SyntheticVecEnv(nets.with_flat(nets.to_flat().repeat(len(seeds), 1)), spec, sampler, autoreset=False)
        protocol = dataclasses.replace(config.protocol, test_every=0, se_early_out=True)
    else:
        train_env = RealVecEnv(config.env, [derive_seed(s, 1) for s in seeds])
        protocol = dataclasses.replace(config.protocol, test_every=1, stop_when_solved=True, se_early_out=False)
    start = time.monotonic()
    result = train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=on_synthetic)
    wall = time.monotonic() - start
    records = [{"run": i, "test_return": float(result.test_return[i]), "train_steps": int(result.train_steps[i]),
                "train_episodes": int(result.train_episodes[i]), "solved": bool(result.solved[i])}
               for i in range(len(seeds))]
    return records, wall


def summarise(records: list[dict], threshold: float) -> dict:
    returns = [r["test_return"] for r in records]
    return {"runs": len(records), "median_test_return": statistics.median(returns),
            "mean_test_return": statistics.fmean(returns),
            "share_solved": sum(r >= threshold for r in returns) / len(returns),
            "median_train_steps": statistics.median(r["train_steps"] for r in records),
            "median_train_episodes": statistics.median(r["train_episodes"] for r in records)}


def table(rows: dict[str, dict]) -> str:
    head = f"{'trained on':<12}{'runs':>6}{'solved':>9}{'median ret':>12}{'mean ret':>10}{'med steps':>11}{'med eps':>9}"
    lines = [head, "-" * len(head)]
    for name, s in rows.items():
        lines.append(f"{name:<12}{s['runs']:>6}{s['share_solved']:>8.0%} {s['median_test_return']:>11.1f}"
                     f"{s['mean_test_return']:>10.1f}{s['median_train_steps']:>11.0f}{s['median_train_episodes']:>9.0f}")
    return "\n".join(lines)


@exits_cleanly_on_user_error
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.agent not in AGENTS:
        raise UserError(f"unknown agent '{args.agent}'; choose one of {', '.join(sorted(AGENTS))}")
    if args.runs < 1:
        raise UserError(f"--runs must be >= 1, got {args.runs}")
    model_path = resolve_model(args.model)
    nets, config = load_synthetic_env(model_path)
    config = with_overrides(to_dict(config), [f"agent={args.agent}", *args.overrides])
    torch.set_num_threads(config.evaluator.threads)
    out_dir = fresh_run_dir(args.out, run_name(config.env, "evaluate_env", args.seed))
    threshold = real_env_spec(config.env).solved_reward
    seeds = [derive_seed(args.seed, run, 0xE7A1) for run in range(args.runs)]
    se_records, se_wall = run_agents(config, args.agent, seeds, on_synthetic=True, nets=nets)
    report = {"model": str(model_path), "env": config.env, "agent": args.agent, "seed": args.seed,
              "synthetic": {"summary": summarise(se_records, threshold), "wall_seconds": round(se_wall, 2),
                            "runs": se_records}}
    rows = {"SE": report["synthetic"]["summary"]}
    if args.baseline:
        real_records, real_wall = run_agents(config, args.agent, [s + 1 for s in seeds], on_synthetic=False)
        report["real"] = {"summary": summarise(real_records, threshold), "wall_seconds": round(real_wall, 2),
                          "runs": real_records}
        rows["real env"] = report["real"]["summary"]
        se_steps, real_steps = rows["SE"]["median_train_steps"], rows["real env"]["median_train_steps"]
        report["step_ratio_real_over_se"] = real_steps / se_steps if se_steps else None
    atomic_write_text(out_dir / "evaluation.json", json.dumps(report, indent=2) + "\n")
    print(table(rows))
    if args.baseline and report["step_ratio_real_over_se"]:
        print(f"median training steps: real env / SE = {report['step_ratio_real_over_se']:.2f}")
    print(out_dir)


if __name__ == "__main__":
    main()
