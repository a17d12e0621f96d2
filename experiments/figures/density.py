"""density: how well SEs train agents, against the real env, with fixed and varied hyperparameters.

For each agent (default DDQN, Dueling DDQN and discrete TD3): ``--runs`` fresh agents with fixed
hyperparameters and ``--runs`` with varied ones (lr, batch size, width, depth sampled per run), which
take the SEs in turn, and ``--runs`` on the real env, all tested on the real env. Spreading a fixed
number of agents over the SEs keeps the figure's cost flat as a model folder grows (with fewer runs
than SEs, it logs the SEs left out). One row of panels per agent: a kernel density of the real-env
test returns, and bars of the training steps and episodes (mean and sd).
"""
import logging
from pathlib import Path

import numpy as np

from common.rng import derive_seed
from common.schema import to_dict
from experiments.evaluation import CSV_COLUMNS, REAL, Run, evaluate_runs
from experiments.figures.common import evaluator_of, load_models, new_figure, plot_return_densities, save, write_csv
from nes.config import load_config

AGENTS = ("ddqn", "dueling_ddqn", "td3_discrete")
VARIANTS = (REAL, "SE, fixed HPs", "SE, varied HPs")

log = logging.getLogger("figures.density")


def planned_runs(models, agents, runs: int, seed: int) -> list[Run]:
    """``runs`` agents per agent and variant; SE run i trains on model i mod len(models)."""
    seeds = [derive_seed(seed, run, 0xD5) for run in range(runs)]
    planned = []
    for agent in agents:
        for vary in (False, True):
            for run, s in enumerate(seeds):
                m = models[run % len(models)]
                config = load_config(to_dict(m.config), [f"agent={agent}", f"agents.{agent}.vary_hp={str(vary).lower()}"])
                planned.append(Run(m.label, config, run, s, m.nets))
        config = load_config(to_dict(models[0].config), [f"agent={agent}", f"agents.{agent}.vary_hp=false"])
        planned += [Run(REAL, config, run, derive_seed(s, 1)) for run, s in enumerate(seeds)]
    # Said once every run's config is known to be valid: bad input gets its one error line only.
    if runs < len(models):
        unused = ", ".join(m.label for m in models[runs:])
        log.warning("--runs %d trains on %d of the %d SEs (%s unused); pass --runs %d to train on each",
                    runs, runs, len(models), unused, len(models))
    return planned


def variant(row: dict) -> str:
    if row["model"] == REAL:
        return REAL
    return VARIANTS[1] if row["hp_mode"] == "fixed" else VARIANTS[2]


def make(args, out_dir: Path) -> str:
    models = load_models(args.models, "synthetic_env", args.env, args.overrides)
    agents = args.agents or AGENTS
    rows = evaluate_runs(planned_runs(models, agents, args.runs, args.seed), evaluator_of(args), out_dir)
    for row in rows:
        row["variant"] = variant(row)
    write_csv(out_dir / "density.csv", ("variant", *CSV_COLUMNS), rows)
    env = models[0].config.env
    figure, axes = new_figure(len(agents), 3, width=4.2, height=3.0)
    colours = dict(zip(VARIANTS, ("tab:grey", "tab:blue", "tab:orange")))
    summary = []
    for (ax_kde, ax_steps, ax_eps), agent in zip(axes, agents):
        mine = {v: [r for r in rows if r["agent"] == agent and r["variant"] == v] for v in VARIANTS}
        plot_return_densities(ax_kde, {v: np.array([r["test_return"] for r in rs]) for v, rs in mine.items()}, colours)
        summary += [f"{agent} {v}: mean return {np.mean([r['test_return'] for r in rs]):.1f}, median steps "
                    f"{np.median([r['train_steps'] for r in rs]):.0f}" for v, rs in mine.items()]
        ax_kde.set(title=f"{agent}, {env}: test returns")
        ax_kde.legend(fontsize="x-small", title="trained on", title_fontsize="x-small")
        for ax, key, label in ((ax_steps, "train_steps", "training steps"), (ax_eps, "train_episodes", "training episodes")):
            values = [[r[key] for r in rs] for rs in mine.values()]
            ax.bar(range(3), [np.mean(v) for v in values], yerr=[np.std(v) for v in values], capsize=4,
                   color=[colours[v] for v in VARIANTS])
            ax.set_xticks(range(3), ["real env", "SE fixed", "SE varied"])
            ax.set(ylabel=f"{label} (mean ± sd)", title=f"{agent}: {label}")
        for ax in (ax_kde, ax_steps, ax_eps):
            ax.grid(alpha=0.3)
    save(figure, out_dir, "density")
    return "; ".join(summary)
