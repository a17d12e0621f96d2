"""Speed of population training: P agents trained batched vs the same P trained one after another.

    python -m experiments.benchmark_agents [--agent ddqn=CartPole-v0 --agent td3=Pendulum-v1]
                                           [--population 8 | --population 1,16,48] [--steps 2000]
                                           [--vary-hp [--vary-fields F,...]] [--se MODEL] [--record]

Each agent trains for a fixed step budget with no tests until the end, so both sides do equal work;
a member's result must be the same either way (they are checked). Training is on the agent's real
env, or with ``--se`` on that learned SE (an MDP or bandit SE file; its env must be the pair's, and
its saved config gives the agents' hyperparameters, e.g. the paper's CartPole SE values). Prints,
per agent and population size, seconds and microseconds per agent-step both ways and their ratio;
a population of one trained one after another is a single agent's speed.

``--vary-hp`` samples every member's hyperparameters (``agents.<agent>.vary_hp``) and also times the
same population with the shared values, for the cost of varying them (``varied / uniform``), beside
how much more arithmetic the drawn sizes ask of an update (``update work``: batch size x
parameters, summed over the members).
``--vary-fields`` names the fields drawn (``agents.<agent>.vary_fields``; default the paper's lr,
batch size, width and depth): members that differ only in fields the agent holds per member
(``MEMBER_FIELDS``: lr, gamma, tau, epsilon schedule) train as one batch.
``--record`` writes the table into BENCHMARKS.md (the varied-HP table apart from the other).
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from agents import AGENTS
from agents.population import SeedRoles, train_fresh_population
from common.errors import UserError, exits_cleanly_on_user_error
from common.rng import derive_seed
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from experiments.cli import machine_line, make_parser, record_benchmark, setup_logging
from nes.config import Config, load_config
from nes.learned_envs import all_parameters, psi_of, training_env
from nes.model_files import SE_KIND, config_with_overrides, load_model

DEFAULT_PAIRS = ("ddqn=CartPole-v0", "td3=Pendulum-v1")


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--agent", dest="pairs", action="append", metavar="AGENT=ENV",
                        help=f"agent and real env to time (repeatable; default {' '.join(DEFAULT_PAIRS)})")
    parser.add_argument("--population", default="8", help="agents per population, or a comma-separated list (default 8)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per agent (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the population")
    parser.add_argument("--vary-hp", action="store_true",
                        help="every member samples its own hyperparameters; also times the uniform population")
    parser.add_argument("--vary-fields", metavar="F,...",
                        help="with --vary-hp, the fields each member draws (default the paper's: lr, batch size, "
                             "width, depth)")
    parser.add_argument("--se", type=Path, metavar="MODEL", help="train on this learned SE instead of the real env")
    parser.add_argument("--record", action="store_true", help="write the figures into BENCHMARKS.md")
    return parser.parse_args(argv)


def parse_pair(pair: str) -> tuple[str, str]:
    agent, sep, env = pair.partition("=")
    if not sep:
        raise UserError(f"--agent expects AGENT=ENV, got {pair!r}")
    return agent, env


def parse_populations(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--population expects sizes like 8 or 1,16,48, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise UserError("--population sizes must be >= 1")
    return sizes


@dataclass
class Setup:
    """What one timed training needs: its config and, with ``--se``, the SE's parameter row."""

    config: Config
    se_params: torch.Tensor | None = None


def make_setup(agent: str, env: str, args, vary_hp: bool) -> Setup:
    # No tests and no stop while training: every member does exactly the step budget.
    overrides = [f"agent={agent}", f"seed={args.seed}", f"protocol.max_train_steps={args.steps}",
                 "protocol.test_every=0", "protocol.stop_when_solved=false", "protocol.se_early_out=false",
                 f"agents.{agent}.train_episodes=100000", f"agents.{agent}.test_episodes=1",
                 f"agents.{agent}.vary_hp={str(vary_hp).lower()}"]
    if vary_hp and args.vary_fields:
        overrides.append(f"agents.{agent}.vary_fields={args.vary_fields}")
    if args.se is None:
        return Setup(load_config(None, [f"env={env}", *overrides]))
    kind, nets, se_config = load_model(args.se)
    if kind != SE_KIND:
        raise UserError(f"--se {args.se} holds a reward network, not a synthetic env")
    if se_config.env != env:
        raise UserError(f"--se {args.se} is an SE of {se_config.env}, not of {env}")
    config = config_with_overrides(se_config, overrides, args.se)
    return Setup(config, all_parameters(config, psi_of(config, nets)))


def update_work(agent, config) -> int | None:
    """Batch size x parameters, summed over the members: what one update's arithmetic grows with
    as varied hyperparameters draw sizes. None for an agent without minibatches (tabular)."""
    configs = getattr(agent, "member_configs", None) or [config] * agent.population
    if not hasattr(config, "batch_size"):
        return None
    return sum(c.batch_size * sum(t.numel() for t in agent.member_state_dict(member).values())
               for member, c in enumerate(configs))


def train(setup: Setup, seeds: list[int]):
    """Train ``seeds`` as one population for the step budget; (test returns, steps, seconds,
    update work).

    The seconds include building the agents and envs (milliseconds beside the training)."""
    config = setup.config
    roles = SeedRoles.of(seeds)
    start = time.perf_counter()
    if setup.se_params is None:
        train_env = RealVecEnv(config.env, roles.train_env)
    else:
        params = setup.se_params.expand(len(seeds), -1)
        train_env = training_env(config, real_env_spec(config.env), params, roles.train_env)
    trained = train_fresh_population(config.agent, config.agent_config(), config.env, roles, train_env,
                                     config.protocol, on_synthetic=setup.se_params is not None)
    seconds = time.perf_counter() - start
    work = update_work(trained.agent, config.agent_config())
    return trained.result.test_return, trained.result.train_steps, seconds, work


def benchmark(agent: str, env: str, population: int, args) -> dict:
    setup = make_setup(agent, env, args, args.vary_hp)
    seeds = [derive_seed(args.seed, member) for member in range(population)]
    batched_returns, batched_steps, batched_s, work = train(setup, seeds)
    alone = [train(setup, [seed]) for seed in seeds]
    serial_s = sum(seconds for _, _, seconds, _ in alone)
    equal = (torch.equal(batched_returns, torch.cat([r for r, _, _, _ in alone]))
             and torch.equal(batched_steps, torch.cat([s for _, s, _, _ in alone])))
    steps = int(batched_steps.sum())
    row = {"agent": agent, "env": env, "population": population, "batched_s": batched_s, "serial_s": serial_s,
           "batched_us": batched_s / steps * 1e6, "serial_us": serial_s / steps * 1e6, "equal": equal}
    if args.vary_hp:
        _, uniform_steps, uniform_s, uniform_work = train(make_setup(agent, env, args, vary_hp=False), seeds)
        row["uniform_us"] = uniform_s / int(uniform_steps.sum()) * 1e6
        row["work_ratio"] = None if work is None else work / uniform_work
    return row


def report(args, argv: list[str], rows: list[dict]) -> str:
    fields = args.vary_fields or "the paper's lr, batch size, width, depth"
    varied = f" (varied HPs: {fields})" if args.vary_hp else ""
    lines = [f"Command: `python -m experiments.benchmark_agents {' '.join(argv)}`  ", machine_line(),
             f"Date: {time.strftime('%Y-%m-%d')}; training on {args.se or 'the real env'}{varied}", "",
             "| agent | env | agents | steps each | batched s | one after another s | µs per agent-step, batched "
             "| µs per agent-step, one after another | speed-up | same results |"
             + (" uniform batched µs | varied / uniform | update work, varied / uniform |" if args.vary_hp else ""),
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if args.vary_hp else "")]
    for r in rows:
        line = (f"| {r['agent']} | {r['env']} | {r['population']} | {args.steps} | {r['batched_s']:.1f} | "
                f"{r['serial_s']:.1f} | {r['batched_us']:.0f} | {r['serial_us']:.0f} | "
                f"{r['serial_s'] / r['batched_s']:.1f}x | {'yes' if r['equal'] else 'NO'} |")
        if args.vary_hp:
            work = "-" if r["work_ratio"] is None else f"{r['work_ratio']:.2f}x"
            line += f" {r['uniform_us']:.0f} | {r['batched_us'] / r['uniform_us']:.2f}x | {work} |"
        lines.append(line)
    return "\n".join(lines)


@exits_cleanly_on_user_error
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    populations = parse_populations(args.population)
    if args.steps < 1:
        raise UserError("--steps must be >= 1")
    if args.vary_fields and not args.vary_hp:
        raise UserError("--vary-fields needs --vary-hp")
    pairs = [parse_pair(p) for p in (args.pairs or DEFAULT_PAIRS)]
    for agent, env in pairs:
        if agent not in AGENTS:
            raise UserError(f"unknown agent '{agent}'; choose one of {', '.join(sorted(AGENTS))}")
        make_setup(agent, env, args, args.vary_hp)   # every bad input refused before any training
    setup_logging()
    torch.set_num_threads(1)
    rows = [benchmark(agent, env, population, args) for agent, env in pairs for population in populations]
    text = report(args, argv, rows)
    print(text)
    if args.record:
        record_benchmark("benchmark_agents_varied" if args.vary_hp else "benchmark_agents", text)
    if not all(r["equal"] for r in rows):
        raise SystemExit("batched and one-after-another training disagree")


if __name__ == "__main__":
    main()
