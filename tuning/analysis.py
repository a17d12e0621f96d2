"""Reading a tune run directory: the incumbent, its config file, and the losses over time.

The incumbent is the configuration with the lowest loss on the largest budget that any run has
finished (hpbandster's rule, which uses the space's max budget; a stopped run may not have
reached it). ``best_config.yaml`` is the incumbent as a full config (base config, fixed keys,
sampled values, the largest budget if the budget is a config key, the run's ``--set`` overrides),
ready for ``python -m experiments.learn_env --config`` (or ``train_agent`` for agent spaces).
"""
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from common.schema import to_dict  # noqa: E402
from common.errors import UserError  # noqa: E402
from common.files import atomic_write_text  # noqa: E402
from tuning.runner import load_results  # noqa: E402
from tuning.space import SearchSpace  # noqa: E402
from tuning.worker import SPACE_FILE, TUNE_FILE  # noqa: E402


def analyze(run_dir: Path) -> dict:
    """Write best_config.yaml, losses.png and analysis.json in ``run_dir``; return the summary."""
    run_dir = Path(run_dir)
    if not (run_dir / TUNE_FILE).is_file() or not (run_dir / SPACE_FILE).is_file():
        raise UserError(f"{run_dir} is not a tune run directory (no {TUNE_FILE} / {SPACE_FILE})")
    space = SearchSpace.from_file(run_dir / SPACE_FILE)
    overrides = json.loads((run_dir / TUNE_FILE).read_text())["overrides"]
    result = load_results(run_dir)
    if result is None:
        raise UserError(f"{run_dir} holds no finished BOHB runs yet")
    runs = result.get_all_runs()
    finished = [r for r in runs if r.loss is not None]
    if not finished:
        raise UserError(f"every run in {run_dir} failed; see the exceptions in results.json")
    top = max(r.budget for r in finished)
    incumbent = min((r for r in finished if r.budget == top), key=lambda r: r.loss).config_id
    sample = result.get_id2config_mapping()[incumbent]["config"]
    config = space.config(sample, top, overrides)
    atomic_write_text(run_dir / "best_config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
    plot_losses(runs, run_dir / "losses.png", space.loss.kind)
    summary = {"incumbent": list(incumbent), "values": space.values(sample), "largest_budget": top,
               "losses_per_budget": {f"{r.budget:g}": r.loss for r in result.get_runs_by_id(incumbent)},
               "runs": len(runs), "failed_runs": len(runs) - len(finished), "loss_kind": space.loss.kind,
               "best_config": str(run_dir / "best_config.yaml"), "plot": str(run_dir / "losses.png")}
    atomic_write_text(run_dir / "analysis.json", json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    lines = [f"incumbent {tuple(summary['incumbent'])} ({summary['runs']} runs, {summary['failed_runs']} failed; "
             f"loss: {summary['loss_kind']})"]
    lines += [f"  {key} = {value:.4g}" if isinstance(value, float) else f"  {key} = {value}"
              for key, value in summary["values"].items()]
    lines.append("loss per budget: " + ", ".join(
        f"{budget}: {'failed' if loss is None else f'{loss:.4g}'}" for budget, loss in summary["losses_per_budget"].items()))
    lines.append(f"wrote {summary['best_config']} and {summary['plot']}")
    return "\n".join(lines)


def plot_losses(runs, path: Path, loss_kind: str) -> None:
    """Each run's loss at the wall time it finished, coloured by budget; failed runs as red crosses."""
    figure, axes = plt.subplots(figsize=(7, 4.2))
    budgets = sorted({r.budget for r in runs})
    colours = plt.cm.viridis([i / max(len(budgets) - 1, 1) for i in range(len(budgets))])
    finite = [r.loss for r in runs if r.loss is not None and math.isfinite(r.loss)]
    for budget, colour in zip(budgets, colours):
        done = [r for r in runs if r.budget == budget and r.loss is not None]
        axes.scatter([r.time_stamps["finished"] for r in done], [r.loss for r in done], color=colour, s=22,
                     label=f"budget {budget:g}")
    failed = [r for r in runs if r.loss is None]
    if failed:
        top = max(finite) if finite else 1.0
        axes.scatter([r.time_stamps["finished"] for r in failed], [top] * len(failed), marker="x", color="red",
                     label="failed")
    axes.set_xlabel("wall time (s)")
    axes.set_ylabel(f"loss ({loss_kind})")
    axes.set_title("BOHB runs")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
