"""success and step_size: the share of NES runs that have solved their env, over NES iterations.

Reads learn_env run directories (``config.yaml`` and ``metrics.csv``). A run counts as solved from
the first iteration whose agents, trained on the SE of that iteration, reached the env's threshold
on the real env on average (``mean_test_return_orig``, the NES master's "solved"); a run that
stopped there stays solved. At each iteration the share is over all runs of the group, so a run
that ended unsolved counts as unsolved to the end.
"""
from pathlib import Path

import numpy as np

from experiments.figures.common import new_figure, save, write_csv
from experiments.runs import find_runs, solved_at

COLUMNS = ("env", "group", "iteration", "runs", "solved_share")


def success_rows(runs, group_of) -> list[dict]:
    """One row per (env, group, iteration): the share of that group's runs solved by then."""
    groups: dict[tuple, list] = {}
    for run in runs:
        config, first, length = solved_at(run)
        groups.setdefault((config.env, group_of(config)), []).append((first, length))
    rows = []
    for (env, group), members in sorted(groups.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        horizon = max(length for _, length in members)
        for iteration in range(horizon):
            share = np.mean([first is not None and first <= iteration for first, _ in members])
            rows.append({"env": env, "group": group, "iteration": iteration, "runs": len(members),
                         "solved_share": float(share)})
    return rows


def plot(rows: list[dict], out_dir: Path, name: str, legend_title: str) -> None:
    envs = sorted({r["env"] for r in rows})
    figure, axes = new_figure(1, len(envs))
    for ax, env in zip(axes[0], envs):
        for group in dict.fromkeys(r["group"] for r in rows if r["env"] == env):
            mine = [r for r in rows if r["env"] == env and r["group"] == group]
            ax.step([r["iteration"] + 1 for r in mine], [100 * r["solved_share"] for r in mine], where="post",
                    label=f"{group} ({mine[0]['runs']} runs)")
        ax.set(xlabel="NES iterations", ylabel="NES runs solved (%)", title=f"{env}: NES runs solved so far", ylim=(-3, 103))
        ax.legend(title=legend_title, fontsize="small", loc="best")
        ax.grid(alpha=0.3)
    save(figure, out_dir, name)


# What NES maximised changes what "solved by iteration k" means, so each objective is its own curve.
OBJECTIVE_LABELS = {"test_reward": "scored by test return", "steps_to_threshold": "scored by steps to threshold",
                    "auc": "scored by training-return area"}


def success_group(config) -> str:
    # A bandit SE is another thing to learn than the paper's SE: its runs are their own curve.
    kind = "RN" if config.learn == "reward_env" else "bandit SE" if config.synthetic_env.kind == "bandit" else "SE"
    return f"{kind} runs, {config.agent} agents, {OBJECTIVE_LABELS[config.nes.objective]}"


def make_success(args, out_dir: Path) -> str:
    rows = success_rows(find_runs(args.models), success_group)
    write_csv(out_dir / "success.csv", COLUMNS, rows)
    plot(rows, out_dir, "success", "runs")
    return _final_shares(rows)


def make_step_size(args, out_dir: Path) -> str:
    rows = success_rows(find_runs(args.models), lambda config: f"step size {config.nes.step_size:g}"
                        + (" / P" if config.nes.nes_step_size else ""))
    write_csv(out_dir / "step_size.csv", COLUMNS, rows)
    plot(rows, out_dir, "step_size", "NES step size")
    return _final_shares(rows)


def _final_shares(rows) -> str:
    last = {}
    for r in rows:
        last[(r["env"], r["group"])] = r
    return "; ".join(f"{env} {group}: {100 * r['solved_share']:.0f}% of {r['runs']} solved"
                     for (env, group), r in last.items())
