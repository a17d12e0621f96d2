"""Compare learned reward networks (RNs) with the plain real reward and with ICM curiosity.

    python -m experiments.compare_reward_envs --env CartPole-v0 --models DIR [DIR ...] [--agent ddqn]
                                              [--runs 10] [--vary-hp] [--steps N] [--threshold R]
                                              [--seed S] [--out DIR]

``--models`` takes RN model files or learn_env run directories (a directory means its best.pt or,
before a run has saved one, the RN of its latest.pt). Each variant trains ``--runs`` fresh agents as
one population on the real env: one variant per RN (rewards from the RN), ``plain`` (the real
reward) and ``ICM`` (the real reward plus the agent's curiosity reward; DDQN, Dueling DDQN, TD3
and PPO). The agent's hyperparameters come from each RN file's config (its section of the agent
given with ``--agent``); the plain and ICM variants use the first model's. Every variant uses the
same seeds. Agents are tested on the real env after every episode and go on to the step budget
or their episode cap (no stop when solved).

Writes (the last printed line is the output directory): curves.csv (variant, step, mean,
ci_low, ci_high, runs), curves.png and curves.pdf (mean test return against real-env training
steps with a 95% t-interval), points.csv (every test of every run), table.txt and table.json
(steps to the threshold, the env's unless ``--threshold`` names one, share reaching it, final test return, the step ratio plain /
variant).
"""
import csv
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from agents import AGENTS, make_agent
from agents.icm import ICMOptions
from agents.training import train_population
from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_text, load_torch_file
from common.rng import derive_seed
from common.schema import to_dict
from envs.real import SUPPORTED_ENVS, check_env_id, real_env_spec
from envs.real_vec import RealVecEnv
from envs.reward_env import RewardVecEnv
from experiments.cli import fresh_run_dir, make_parser, run_name, setup_logging
from experiments.curves import (common_grid, format_table, learning_curve, plot_curves, step_ratio, threshold_summary,
                                write_curves_csv)
from models.reward_env_nets import RewardEnvNets
from nes.config import Config, load_config
from nes.learned_envs import initial_nets
from nes.master import CHECKPOINT_KIND
from nes.model_files import load_reward_env

PLAIN, ICM = "plain", "ICM"
_SEED_TAG = 0xC0
log = logging.getLogger("compare_reward_envs")


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--env", required=True, help=f"real env: {', '.join(SUPPORTED_ENVS)}")
    parser.add_argument("--models", type=Path, nargs="+", required=True, metavar="MODEL",
                        help="RN model files or learn_env run directories")
    parser.add_argument("--agent", help=f"agent: {', '.join(sorted(AGENTS))} (default: the first model's)")
    parser.add_argument("--runs", type=int, default=10, help="fresh agents per variant (default 10)")
    parser.add_argument("--vary-hp", action="store_true", help="each run samples its own lr, batch size, width, depth")
    parser.add_argument("--steps", type=int, help="real-env training steps per run (default: the model's "
                        "protocol.max_train_steps, 0 meaning the episode cap)")
    parser.add_argument("--no-icm", action="store_true",
                        help="leave out the ICM variant (its curiosity networks cost several times a plain run)")
    parser.add_argument("--threshold", type=float,
                        help="test return the table counts steps to (default: the env's solved threshold)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the runs (default 0)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: results/<env>__compare_reward_envs__<seed>__<time>)")
    return parser.parse_args(argv)


@dataclasses.dataclass
class RewardModel:
    path: Path
    nets: RewardEnvNets
    config: Config
    label: str = ""


def model_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in ("best.pt", "latest.pt"):
        if (path / name).is_file():
            return path / name
    raise UserError(f"run directory {path} holds neither best.pt nor latest.pt")


def rn_from_checkpoint(path: Path, payload: dict) -> tuple[RewardEnvNets, Config]:
    """The RN at a learn_env checkpoint: psi in the shape its config gives."""
    if not isinstance(payload.get("config"), dict):
        raise UserError(f"checkpoint {path} is malformed: it has no config")
    try:
        config = load_config(payload["config"])
    except UserError as error:
        raise UserError(f"checkpoint {path} has a bad config: {error}") from None
    if config.learn != "reward_env":
        raise UserError(f"checkpoint {path} is from a run that learns a {config.learn}, not a reward network")
    template = initial_nets(config, real_env_spec(config.env), 0)
    psi = payload.get("psi")
    if not isinstance(psi, torch.Tensor) or tuple(psi.shape) != (template.num_params,):
        shape = tuple(psi.shape) if isinstance(psi, torch.Tensor) else type(psi).__name__
        raise UserError(f"checkpoint {path} has psi of shape {shape}; its config's reward network has "
                        f"{template.num_params} parameters")
    return template.with_flat(psi[None].float()), config


def load_model(given: Path, env: str) -> RewardModel:
    path = model_file(given)
    payload = load_torch_file(path, "model file")
    if payload.get("kind") == CHECKPOINT_KIND:
        nets, config = rn_from_checkpoint(path, payload)
    else:
        nets, config = load_reward_env(path)
    if config.env != env:
        raise UserError(f"model {path} is a reward network for {config.env}, not for --env {env}")
    return RewardModel(path, nets, config)


def label_models(models: list[RewardModel]) -> None:
    """Label by RN type; a type that appears twice also names the model's folder (and a number
    if one folder gives it twice)."""
    for m in models:
        m.label = m.nets.reward_type
    for relabel in (lambda m, k: f"{m.label} ({m.path.parent.name})", lambda m, k: f"{m.label} #{k}"):
        labels = [m.label for m in models]
        for i, m in enumerate(models):
            if labels.count(labels[i]) > 1:
                m.label = relabel(m, labels[:i + 1].count(labels[i]))


def variant_config(base: Config, agent: str, args, icm: bool) -> Config:
    """``base`` with the comparison's agent, budget and protocol: a test after every episode, no stop."""
    overrides = [f"agent={agent}"]
    overrides += [f"agents.{agent}.vary_hp=true"] if args.vary_hp else []
    overrides += [f"protocol.max_train_steps={args.steps}"] if args.steps is not None else []
    if issubclass(AGENTS[agent].Config, ICMOptions):
        overrides.append(f"agents.{agent}.icm={str(icm).lower()}")
    config = load_config(to_dict(base), overrides)
    protocol = dataclasses.replace(config.protocol, test_every=1, stop_when_solved=False, se_early_out=False)
    return dataclasses.replace(config, protocol=protocol)


def train_variant(label: str, config: Config, seeds: list[int], nets: RewardEnvNets | None) -> dict:
    """Train one agent per seed with the RN ``nets`` (None: the real reward); every test as a point."""
    spec = real_env_spec(config.env)
    agent_config = config.agent_config()
    agent = make_agent(config.agent, agent_config, spec, [derive_seed(s, 0) for s in seeds])
    real = RealVecEnv(config.env, [derive_seed(s, 1) for s in seeds])
    train_env = real if nets is None else RewardVecEnv(
        real, nets.with_flat(nets.to_flat().repeat(len(seeds), 1)), agent_config.gamma)
    test_env = RealVecEnv(config.env, [derive_seed(s, 2) for s in seeds], agent_config.test_episodes)
    points: list[list[tuple[int, float]]] = [[] for _ in seeds]
    bar = tqdm(total=agent_config.train_episodes, desc=label, unit="ep", dynamic_ncols=True, file=sys.stderr)

    def on_episode(report) -> None:
        for m in torch.nonzero(report.tested).flatten().tolist():
            points[m].append((int(train_env.steps_used[m]), float(report.test_returns[m])))
        bar.update(1)

    start = time.monotonic()
    try:
        result = train_population(agent, train_env, test_env, agent_config, config.protocol, on_synthetic=False,
                                  on_episode=on_episode)
    finally:
        bar.close()
        train_env.close()
        test_env.close()
    for m, run in enumerate(points):
        # A run that hit the step budget gets its final test after the episode loop.
        final_step, final = int(train_env.steps_used[m]), float(result.test_return[m])
        if not result.failed[m] and (not run or run[-1][0] != final_step):
            run.append((final_step, final))
    return {"points": points, "final_returns": result.test_return.tolist(),
            "wall_seconds": round(time.monotonic() - start, 2)}


def write_points(path: Path, outcomes: dict, seeds: list[int]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("variant", "run", "seed", "step", "test_return"))
        for label, outcome in outcomes.items():
            for run, points in enumerate(outcome["points"]):
                writer.writerows((label, run, seeds[run], step, f"{value:.6g}") for step, value in points)


def ratio_fields(plain: dict, variant: dict) -> dict:
    ratio, kind = step_ratio(plain, variant)
    return {"step_ratio_plain_over_variant": ratio, "step_ratio_kind": kind}


@exits_cleanly_on_user_error
def main(argv=None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    check_env_id(args.env)
    if args.runs < 1:
        raise UserError(f"--runs must be >= 1, got {args.runs}")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    models = [load_model(path, args.env) for path in args.models]
    label_models(models)
    agent = args.agent or models[0].config.agent
    if agent not in AGENTS:
        raise UserError(f"unknown agent '{agent}'; choose one of {', '.join(sorted(AGENTS))}")
    variants = [(m.label, variant_config(m.config, agent, args, icm=False), m.nets) for m in models]
    variants.append((PLAIN, variant_config(models[0].config, agent, args, icm=False), None))
    if args.no_icm:
        log.info("no ICM variant: --no-icm")
    elif issubclass(AGENTS[agent].Config, ICMOptions):
        variants.append((ICM, variant_config(models[0].config, agent, args, icm=True), None))
    else:
        log.info("no ICM variant: agent '%s' has no curiosity option (ddqn, dueling_ddqn, td3 and ppo have)", agent)
    torch.set_num_threads(models[0].config.evaluator.threads)
    out_dir = fresh_run_dir(args.out, run_name(args.env, "compare_reward_envs", args.seed))

    threshold = real_env_spec(args.env).solved_reward if args.threshold is None else args.threshold
    seeds = [derive_seed(args.seed, run, _SEED_TAG) for run in range(args.runs)]
    outcomes = {}
    for label, config, nets in variants:
        outcomes[label] = train_variant(label, config, seeds, nets)
        log.info("%s: %d runs in %.0f s", label, args.runs, outcomes[label]["wall_seconds"])

    grid = common_grid([run for outcome in outcomes.values() for run in outcome["points"]])
    curves = [learning_curve(label, outcome["points"], grid) for label, outcome in outcomes.items()]
    write_curves_csv(out_dir / "curves.csv", curves)
    write_points(out_dir / "points.csv", outcomes, seeds)
    title = f"{agent} on {args.env}{' (varied hyperparameters)' if args.vary_hp else ''}"
    plot_curves(curves, [out_dir / "curves.png", out_dir / "curves.pdf"], title, threshold)
    rows = {label: threshold_summary(o["points"], o["final_returns"], threshold) for label, o in outcomes.items()}
    text = format_table(rows, PLAIN, threshold)
    atomic_write_text(out_dir / "table.txt", text + "\n")
    report = {"env": args.env, "agent": agent, "runs": args.runs, "seed": args.seed, "seeds": seeds,
              "vary_hp": args.vary_hp, "steps": args.steps, "threshold": threshold,
              "models": {m.label: str(m.path) for m in models},
              "variants": {label: {**rows[label], **ratio_fields(rows[PLAIN], rows[label]),
                                   "wall_seconds": outcomes[label]["wall_seconds"]} for label in outcomes}}
    atomic_write_text(out_dir / "table.json", json.dumps(report, indent=2) + "\n")
    print(text)
    print(out_dir)
    return out_dir


if __name__ == "__main__":
    main()
