"""Speed of population training: P agents trained batched vs the same P trained one after another.

    python -m experiments.benchmark_agents [--agent ddqn=CartPole-v0 --agent td3=Pendulum-v1]
                                           [--population 8] [--steps 2000] [--record]

Each agent trains on its real env for a fixed step budget with no tests until the end, so both
sides do equal work; a member's result must be the same either way (they are checked). Prints
seconds and the ratio per agent; ``--record`` writes them into BENCHMARKS.md.
"""
import sys
import time

import torch

from agents import AGENTS
from agents.population import SeedRoles, train_fresh_population
from common.errors import UserError, exits_cleanly_on_user_error
from common.rng import derive_seed
from envs.real_vec import RealVecEnv
from experiments.cli import machine_line, make_parser, record_benchmark, setup_logging
from nes.config import load_config

DEFAULT_PAIRS = ("ddqn=CartPole-v0", "td3=Pendulum-v1")


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--agent", dest="pairs", action="append", metavar="AGENT=ENV",
                        help=f"agent and real env to time (repeatable; default {' '.join(DEFAULT_PAIRS)})")
    parser.add_argument("--population", type=int, default=8, help="agents per population (default 8)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per agent (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the population")
    parser.add_argument("--record", action="store_true", help="write the figures into BENCHMARKS.md")
    return parser.parse_args(argv)


def parse_pair(pair: str) -> tuple[str, str]:
    agent, sep, env = pair.partition("=")
    if not sep:
        raise UserError(f"--agent expects AGENT=ENV, got {pair!r}")
    return agent, env


def train(config, seeds: list[int]):
    """Train ``seeds`` as one population for the step budget; (test returns, steps, seconds).

    The seconds include building the agents and envs (milliseconds beside the training)."""
    roles = SeedRoles.of(seeds)
    start = time.perf_counter()
    result = train_fresh_population(config.agent, config.agent_config(), config.env, roles,
                                    RealVecEnv(config.env, roles.train_env), config.protocol,
                                    on_synthetic=False).result
    seconds = time.perf_counter() - start
    return result.test_return, result.train_steps, seconds


def benchmark(agent: str, env: str, args) -> dict:
    # No tests and no stop when solved during training: both sides then do exactly the step budget.
    config = load_config(None, [f"agent={agent}", f"env={env}", f"seed={args.seed}",
                                f"protocol.max_train_steps={args.steps}", "protocol.test_every=0",
                                "protocol.stop_when_solved=false", f"agents.{agent}.train_episodes=100000",
                                f"agents.{agent}.test_episodes=1"])
    seeds = [derive_seed(args.seed, member) for member in range(args.population)]
    batched_returns, batched_steps, batched_s = train(config, seeds)
    alone = [train(config, [seed]) for seed in seeds]
    serial_s = sum(seconds for _, _, seconds in alone)
    equal = (torch.equal(batched_returns, torch.cat([r for r, _, _ in alone]))
             and torch.equal(batched_steps, torch.cat([s for _, s, _ in alone])))
    return {"agent": agent, "env": env, "batched_s": batched_s, "serial_s": serial_s,
            "steps": int(batched_steps.sum()), "equal": equal}


def report(args, rows: list[dict]) -> str:
    lines = [f"Command: `python -m experiments.benchmark_agents "
             f"{' '.join('--agent ' + r['agent'] + '=' + r['env'] for r in rows)} "
             f"--population {args.population} --steps {args.steps}`  ",
             machine_line(),
             f"Date: {time.strftime('%Y-%m-%d')}", "",
             "| agent | env | agents | steps each | batched s | one after another s | speed-up | same results |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['agent']} | {r['env']} | {args.population} | {args.steps} | {r['batched_s']:.1f} | "
                     f"{r['serial_s']:.1f} | {r['serial_s'] / r['batched_s']:.1f}x | {'yes' if r['equal'] else 'NO'} |")
    return "\n".join(lines)


@exits_cleanly_on_user_error
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.population < 1 or args.steps < 1:
        raise UserError("--population and --steps must be >= 1")
    pairs = [parse_pair(p) for p in (args.pairs or DEFAULT_PAIRS)]
    for agent, env in pairs:
        if agent not in AGENTS:
            raise UserError(f"unknown agent '{agent}'; choose one of {', '.join(sorted(AGENTS))}")
    torch.set_num_threads(1)
    rows = [benchmark(agent, env, args) for agent, env in pairs]
    text = report(args, rows)
    print(text)
    if args.record:
        record_benchmark("benchmark_agents", text)
    if not all(r["equal"] for r in rows):
        raise SystemExit("batched and one-after-another training disagree")


if __name__ == "__main__":
    main()
