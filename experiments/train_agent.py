"""Train a population of agents on a real gymnasium env (one agent = a population of one).

    python -m experiments.train_agent --agent td3 --env Pendulum-v1 [--population P] [--steps N]
                                      [--config F] [--set k=v ...] [--seed N] [--out DIR]

Members train in one batched computation, each with its own seed, and are tested on the real env
every ``protocol.test_every`` episodes. Writes a run directory (config.yaml; metrics.csv with one
row per member and episode; summary.json; agents/member_<i>.pt) and prints its path last.
"""
import csv
import json
import logging
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from agents import AGENTS
from agents.population import SeedRoles, train_fresh_population
from agents.training import EpisodeReport
from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_torch_save, atomic_write_text
from common.rng import derive_seed
from common.schema import to_dict
from envs.real import SUPPORTED_ENVS, real_env_spec
from envs.real_vec import RealVecEnv
from experiments.cli import add_config_flags, config_from_args, fresh_run_dir, make_parser, run_name, setup_logging
from nes.config import save_config

AGENT_FILE_KIND = "agent"
METRICS_COLUMNS = ("member", "episode", "env_steps", "return", "test_return")

log = logging.getLogger("train_agent")


def parse_args(argv):
    parser = make_parser(__doc__)
    add_config_flags(parser, None)
    parser.add_argument("--agent", help=f"agent to train: {', '.join(sorted(AGENTS))} (default: the config's)")
    parser.add_argument("--env", help=f"real env: {', '.join(SUPPORTED_ENVS)} (default: the config's)")
    parser.add_argument("--population", type=int, default=1, help="independent agents trained together (default 1)")
    parser.add_argument("--steps", type=int, help="training-step budget per agent (protocol.max_train_steps)")
    parser.add_argument("--out", type=Path, help="run directory (default: results/<env>__<agent>__<seed>__<time>)")
    return parser.parse_args(argv)


def cli_overrides(args) -> list[str]:
    overrides = [f"agent={args.agent}"] if args.agent else []
    overrides += [f"env={args.env}"] if args.env else []
    overrides += [f"protocol.max_train_steps={args.steps}"] if args.steps is not None else []
    return overrides


class MetricsWriter:
    """metrics.csv, one row per member and episode, flushed as training goes."""

    def __init__(self, path: Path):
        self.handle = open(path, "w", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(METRICS_COLUMNS)
        self.first_solved: dict[int, tuple[int, int]] = {}

    def __call__(self, report: EpisodeReport, threshold: float) -> None:
        for member in torch.nonzero(report.trained | report.tested).flatten().tolist():
            test = float(report.test_returns[member])
            self.writer.writerow([member, int(report.episode[member]), int(report.steps[member]),
                                  f"{float(report.returns[member]):.6g}" if report.trained[member] else "",
                                  "" if math.isnan(test) else f"{test:.6g}"])
            if test >= threshold and member not in self.first_solved:
                self.first_solved[member] = (int(report.episode[member]), int(report.steps[member]))
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def member_summaries(result, first_solved: dict, seeds: list[int]) -> list[dict]:
    rows = []
    for m, seed in enumerate(seeds):
        episode, steps = first_solved.get(m, (None, None))
        if steps is None and result.solved[m]:
            # Solved only in the final test, which follows the last training episode.
            episode, steps = int(result.train_episodes[m]) - 1, int(result.train_steps[m])
        rows.append({"member": m, "seed": seed, "test_return": float(result.test_return[m]),
                     "train_steps": int(result.train_steps[m]), "train_episodes": int(result.train_episodes[m]),
                     "solved": bool(result.solved[m]), "failed": bool(result.failed[m]),
                     "first_solved_episode": episode, "first_solved_steps": steps})
    return rows


def save_agents(agent, config, run_dir: Path, seeds: list[int]) -> list[str]:
    folder = run_dir / "agents"
    folder.mkdir()
    paths = []
    for member, seed in enumerate(seeds):
        path = folder / f"member_{member}.pt"
        atomic_torch_save({"kind": AGENT_FILE_KIND, "agent": config.agent, "env": config.env, "seed": seed,
                           "config": to_dict(config), "state_dict": agent.member_state_dict(member)}, path)
        paths.append(str(path))
    return paths


@exits_cleanly_on_user_error
def main(argv=None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.population < 1:
        raise UserError(f"--population must be >= 1, got {args.population}")
    config = config_from_args(args, cli_overrides(args))
    torch.set_num_threads(config.evaluator.threads)
    run_dir = fresh_run_dir(args.out, run_name(config.env, config.agent, config.seed))
    save_config(config, run_dir / "config.yaml")

    spec = real_env_spec(config.env)
    agent_config = config.agent_config()
    seeds = [derive_seed(config.seed, member) for member in range(args.population)]
    roles = SeedRoles.of(seeds)
    metrics = MetricsWriter(run_dir / "metrics.csv")
    bar = tqdm(total=agent_config.train_episodes, desc=f"{config.agent} on {config.env}", unit="ep",
               dynamic_ncols=True, file=sys.stderr)
    tested: dict[int, float] = {}

    def on_episode(report: EpisodeReport) -> None:
        metrics(report, spec.solved_reward)
        tested.update({m: float(report.test_returns[m]) for m in torch.nonzero(report.tested).flatten().tolist()})
        bar.update(max(0, int(report.episode.max()) + 1 - bar.n))   # the furthest member's episodes
        bar.set_postfix(steps=int(report.steps.max()), ret=f"{float(report.returns[report.trained].mean()):.1f}",
                        test=f"{statistics.fmean(tested.values()):.1f}" if tested else "-")

    start = time.monotonic()
    try:
        trained = train_fresh_population(config.agent, agent_config, config.env, roles,
                                         RealVecEnv(config.env, roles.train_env), config.protocol, on_synthetic=False,
                                         on_episode=on_episode)
    finally:
        bar.close()
        metrics.close()
    wall = time.monotonic() - start
    members = member_summaries(trained.result, metrics.first_solved, seeds)
    solved_steps = [m["first_solved_steps"] for m in members if m["first_solved_steps"] is not None]
    summary = {"env": config.env, "agent": config.agent, "population": args.population, "seed": config.seed,
               "threshold": spec.solved_reward, "wall_seconds": round(wall, 2),
               "median_test_return": statistics.median(m["test_return"] for m in members),
               "share_solved": len(solved_steps) / len(members),
               "median_first_solved_steps": statistics.median(solved_steps) if solved_steps else None,
               "members": members,
               "paths": {"run_dir": str(run_dir), "config": str(run_dir / "config.yaml"),
                         "metrics": str(run_dir / "metrics.csv"),
                         "agents": save_agents(trained.agent, config, run_dir, seeds)}}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    log.info("median test return %.1f; %d of %d reached %.0f", summary["median_test_return"], len(solved_steps),
             len(members), spec.solved_reward)
    print(run_dir)
    return run_dir


if __name__ == "__main__":
    main()
