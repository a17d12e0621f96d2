"""Draw one of the paper's figures from learned models (the zoo, your runs, or the paper's files).

    python -m experiments.figures NAME --models PATH [PATH ...] [--out DIR] [--env ENV] [--runs N]
                                  [--agents A,B] [--steps N] [--transitions N] [--seed S]
                                  [--evaluator B] [--workers N] [--agent-config FILE] [--set KEY=VALUE ...]

Writes NAME.png, NAME.pdf and NAME.csv (the numbers drawn) into --out and prints a one-line
summary and the output directory. Figures:
"""
import logging
import sys
from pathlib import Path

import torch

from agents import AGENTS
from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import agent_config_overrides, make_parser, new_run_dir, run_name, setup_logging
from experiments.figures import DEFAULT_RUNS, DEFAULT_RUNS_OF, FIGURES
from nes.config import BACKENDS

log = logging.getLogger("figures")


def parse_args(argv):
    listing = "\n".join(f"  {name:<17}{text}" for name, (_, text) in FIGURES.items())
    parser = make_parser(__doc__ + listing, with_config=False)
    parser.add_argument("name", help=f"figure: {', '.join(FIGURES)}")
    parser.add_argument("--models", type=Path, nargs="+", required=True, metavar="PATH",
                        help="model files, learn_env run directories, or folders of them (e.g. zoo/cartpole)")
    parser.add_argument("--out", type=Path, help="output directory (default: results/figures__<name>__<seed>__<time>)")
    parser.add_argument("--env", help="the env whose models to use (default: the first model's)")
    parser.add_argument("--runs", type=int, help="fresh agents per model and variant (default 10); density: "
                                                 "agents per variant, taking the SEs in turn (default 4)")
    parser.add_argument("--agents", type=lambda text: tuple(text.split(",")),
                        help="agents, comma-separated (density default: ddqn,dueling_ddqn,td3_discrete; "
                             "rn_curves: own agent,transfer agent)")
    parser.add_argument("--steps", type=int, help="rn_curves: real-env training steps per run")
    parser.add_argument("--transitions", type=int, default=20000,
                        help="model_based: real random-policy transitions to fit on (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the agents (default 0)")
    parser.add_argument("--evaluator", choices=BACKENDS, default="processes",
                        help="how agent runs are computed (default processes: spread over --workers local processes)")
    parser.add_argument("--workers", type=int, default=2, help="processes of --evaluator processes or dask, local "
                        "workers of files (sync dir <out>/sync) (default 2)")
    parser.add_argument("--agent-config", type=Path, metavar="FILE",
                        help="agents' hyperparameters from FILE's agents.<agent> sections, e.g. "
                             "default_config/cartpole_se_transfer.yaml (the transfer agents' sections of the paper's "
                             "default_config_cartpole_syn_env.yaml @ 0bb3dd9)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of every model's config, e.g. --set agents.ddqn.train_episodes=50")
    return parser.parse_args(argv)


@exits_cleanly_on_user_error
def main(argv=None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.name not in FIGURES:
        raise UserError(f"unknown figure '{args.name}'; choose one of {', '.join(FIGURES)}")
    unknown = [agent for agent in args.agents or () if agent not in AGENTS]
    if unknown:
        raise UserError(f"--agents: unknown agent {unknown[0]!r}; choose from {', '.join(sorted(AGENTS))}")
    if args.runs is None:
        args.runs = DEFAULT_RUNS_OF.get(args.name, DEFAULT_RUNS)
    args.overrides = agent_config_overrides(args.agent_config) + args.overrides
    for flag, value in (("--runs", args.runs), ("--workers", args.workers), ("--transitions", args.transitions),
                        ("--steps", 1 if args.steps is None else args.steps)):
        if value < 1:
            raise UserError(f"{flag} must be >= 1, got {value}")
    torch.set_num_threads(1)
    make, _ = FIGURES[args.name]
    # Bad input found while reading the models leaves nothing behind (a files backend's sync dir
    # with workers' results stays, for a figure run again).
    with new_run_dir(args.out, run_name("figures", args.name, args.seed),
                     started=lambda out_dir: (out_dir / "sync").is_dir()) as out_dir:
        summary = make(args, out_dir)
    print(summary)
    print(out_dir)
    return out_dir


if __name__ == "__main__":
    main()
