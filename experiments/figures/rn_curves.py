"""rn_curves: learning curves on the real env with each learned reward network, with the plain
reward, in three settings: the RNs' own agent, the same agent with varied hyperparameters, and a
transfer agent the RNs were not learned with (``compare_reward_envs`` runs each setting).

Each panel: mean real-env test return against real-env training steps with a 95% t-interval over
``--runs`` agents (the same seeds in every variant). The printed summary gives each variant's final
mean and the step where its mean curve first reaches the env's threshold (the paper's reading).
"""
import types
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from common.errors import UserError
from envs.real import real_env_spec
from experiments.curves import common_grid, learning_curve, mean_curve_reach
from experiments.figures.common import load_models, new_figure, save, write_csv
from experiments.reward_variants import PLAIN, RewardModel, label_models, run_seeds, train_variant, variant_config

TRANSFER = {"ql": "sarsa", "sarsa": "ql", "ddqn": "dueling_ddqn", "dueling_ddqn": "ddqn", "td3": "ppo",
            "td3_discrete": "ddqn", "ppo": "td3"}


def settings(agent: str, transfer: str) -> list[tuple[str, str, bool]]:
    return [(f"{agent}", agent, False), (f"{agent}, varied HPs", agent, True), (f"transfer: {transfer}", transfer, False)]


def make(args, out_dir: Path) -> str:
    loaded = load_models(args.models, "reward_env", args.env, args.overrides)
    models = [RewardModel(m.path, m.nets, m.config) for m in loaded]
    label_models(models)
    env = models[0].config.env
    agent = (args.agents or (models[0].config.agent,))[0]
    transfer = args.agents[1] if args.agents and len(args.agents) > 1 else TRANSFER[agent]
    threshold = real_env_spec(env).solved_reward
    seeds = run_seeds(args.seed, args.runs)
    figure, axes = new_figure(1, 3, width=4.6, height=3.6)
    rows, summary = [], []
    for ax, (title, name, vary) in zip(axes[0], settings(agent, transfer)):
        options = types.SimpleNamespace(vary_hp=vary, steps=args.steps)
        try:
            variants = [(m.label, variant_config(m.config, name, options, icm=False), m.nets) for m in models]
        except UserError as error:
            raise UserError(f"setting '{title}': {error}") from None
        variants.append((PLAIN, variant_config(models[0].config, name, options, icm=False), None))
        outcomes = {label: train_variant(f"{title}: {label}", config, seeds, nets) for label, config, nets in variants}
        grid = common_grid([run for o in outcomes.values() for run in o["points"]])
        for label, outcome in outcomes.items():
            curve = learning_curve(label, outcome["points"], grid)
            line, = ax.step(curve.steps, curve.mean, where="post", label=label,
                            marker="o" if np.isfinite(curve.mean).sum() < 3 else None)  # a lone point still shows
            ax.fill_between(curve.steps, *curve.band(), step="post", alpha=0.2,
                            color=line.get_color(), linewidth=0)
            rows += [{"setting": title, "variant": label, "step": int(curve.steps[i]), "mean": float(curve.mean[i]),
                      "ci_low": float(curve.ci_low[i]), "ci_high": float(curve.ci_high[i]), "runs": int(curve.runs[i])}
                     for i in range(len(curve.steps))]
            reach = mean_curve_reach(curve, threshold)
            summary.append(f"{title} / {label}: final {sum(outcome['final_returns']) / len(seeds):.1f}, mean at "
                           f"{threshold:g} {'never' if reach is None else f'from step {reach}'}")
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        means = [r["mean"] for r in rows if r["setting"] == title and np.isfinite(r["mean"])]
        if means and np.ptp(means) > 20 * max(abs(threshold), 1):
            # Early tests (a CliffWalking agent stuck on the cliff scores -100 per step) would
            # squash the curves near the threshold on a linear axis.
            ax.set_yscale("symlog", linthresh=max(abs(threshold), 1))
            # A t-interval over few runs can reach far above any possible return: clip to the means.
            top = max(max(means), threshold)
            ax.set_ylim(min(means) * 1.2 if min(means) < 0 else 0, top + 0.5 * max(abs(threshold), 1))
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set(xlabel="real-env training steps", ylabel="real-env test return\n(mean, 95% CI within the runs' range)",
               title=f"{env}, {title}")
        ax.legend(fontsize="x-small", title="agent's reward")
        ax.grid(alpha=0.3)
    write_csv(out_dir / "rn_curves.csv", ("setting", "variant", "step", "mean", "ci_low", "ci_high", "runs"), rows)
    save(figure, out_dir, "rn_curves")
    return "; ".join(summary)
