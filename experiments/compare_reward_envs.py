"""Compare learned reward networks (RNs) with the plain real reward and with ICM curiosity.

    python -m experiments.compare_reward_envs --env CartPole-v0 --models DIR [DIR ...] [--agent ddqn]
                                              [--agent-config F] [--set k=v ...] [--runs 10] [--vary-hp]
                                              [--steps N] [--threshold R] [--seed S] [--out DIR]

``--models`` takes RN model files or learn_env run directories (a directory means its best.pt or,
before a run has saved one, the RN of its latest.pt). Each variant trains ``--runs`` fresh agents as
one population on the real env: one variant per RN (rewards from the RN), ``plain`` (the real
reward) and ``ICM`` (the real reward plus the agent's curiosity reward; DDQN, Dueling DDQN, TD3
and PPO). The agent's hyperparameters come from each RN file's config (its section of the agent
given with ``--agent``), then ``--agent-config`` (that section of another file, e.g. the paper's
comparison agent in default_config/paper/) and ``--set``; the plain and ICM variants use the first
model's. Every variant uses the same seeds. Agents are tested on the real env after every episode
and go on to the step budget or their episode cap (no stop when solved).

Writes (the last printed line is the output directory): curves.csv (variant, step, mean,
ci_low, ci_high, runs), curves.png and curves.pdf (mean test return against real-env training
steps with a 95% t-interval), points.csv (every test of every run), table.txt and table.json
(steps to the threshold, the env's unless ``--threshold`` names one; share reaching it; the step
where the mean curve first reaches it, as the paper reads its comparison; final test return; the
step ratio plain / variant).
"""
import csv
import json
import logging
import sys
from pathlib import Path

import torch

from agents import AGENTS
from agents.icm import ICMOptions
from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_text, load_torch_file
from envs.real import SUPPORTED_ENVS, check_env_id, real_env_spec
from experiments.cli import agent_config_overrides, finite_float, fresh_run_dir, make_parser, run_name, setup_logging
from experiments.curves import (common_grid, format_table, learning_curve, mean_curve_reach, plot_curves, step_ratio,
                                threshold_summary, write_curves_csv)
from experiments.reward_variants import (ICM, PLAIN, RewardModel, label_models, run_seeds, train_variant,
                                         variant_config)
from experiments.runs import model_file
from models.reward_env_nets import RewardEnvNets
from nes.config import Config, load_config
from nes.learned_envs import initial_nets, nets_from_psi, psi_size
from nes.master import CHECKPOINT_KIND
from nes.model_files import config_with_overrides, load_reward_env

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
    parser.add_argument("--agent-config", type=Path, metavar="FILE",
                        help="the agent's hyperparameters from FILE's agents.<agent> section, e.g. "
                             "default_config/paper/cartpole_rn_comparison.yaml (the paper's comparison agent)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of every model's config, e.g. --set protocol.time_limit_is_terminal=true "
                             "(repeatable)")
    parser.add_argument("--no-icm", action="store_true",
                        help="leave out the ICM variant (its curiosity networks cost several times a plain run)")
    parser.add_argument("--threshold", type=finite_float,
                        help="test return the table counts steps to (default: the env's solved threshold)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the runs (default 0)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: results/<env>__compare_reward_envs__<seed>__<time>)")
    return parser.parse_args(argv)


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
    if not isinstance(psi, torch.Tensor) or tuple(psi.shape) != (psi_size(config, template),):
        shape = tuple(psi.shape) if isinstance(psi, torch.Tensor) else type(psi).__name__
        raise UserError(f"checkpoint {path} has psi of shape {shape}; its config's reward network has "
                        f"{psi_size(config, template)} parameters")
    return nets_from_psi(config, template, psi[None].float()), config


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
    overrides = agent_config_overrides(args.agent_config, [agent]) + args.overrides
    for model in models:
        model.config = config_with_overrides(model.config, overrides, model.path) if overrides else model.config
    variants = [(m.label, variant_config(m.config, agent, args, icm=False), m.nets) for m in models]
    variants.append((PLAIN, variant_config(models[0].config, agent, args, icm=False), None))
    no_icm_reason = None
    if args.no_icm:
        no_icm_reason = "--no-icm"
    elif issubclass(AGENTS[agent].Config, ICMOptions):
        variants.append((ICM, variant_config(models[0].config, agent, args, icm=True), None))
    else:
        no_icm_reason = f"agent '{agent}' has no curiosity option (ddqn, dueling_ddqn, td3 and ppo have)"
    torch.set_num_threads(models[0].config.evaluator.threads)
    out_dir = fresh_run_dir(args.out, run_name(args.env, "compare_reward_envs", args.seed))
    # Logged only now: a bad --out is the one line a bad input gets.
    if no_icm_reason:
        log.info("no ICM variant: %s", no_icm_reason)

    threshold = real_env_spec(args.env).solved_reward if args.threshold is None else args.threshold
    seeds = run_seeds(args.seed, args.runs)
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
    rows = {curve.label: {**threshold_summary(o["points"], o["final_returns"], threshold),
                          "mean_curve_reaches_threshold_at": mean_curve_reach(curve, threshold)}
            for curve, o in zip(curves, outcomes.values())}
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
