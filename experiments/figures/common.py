"""What every figure shares: its inputs (models, run directories), its outputs (PNG, PDF and the
CSV the figure is drawn from, all named after the figure) and a few plotting helpers."""
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import UserError
from nes.config import EvaluatorConfig
from nes.model_files import config_with_overrides, find_model_files, load_model, model_label


def evaluator_of(args) -> EvaluatorConfig:
    """How a figure's agent runs are computed (``--evaluator``, ``--workers``; files: sync dir <out>/sync)."""
    return EvaluatorConfig(backend=args.evaluator, workers=args.workers)


@dataclass
class LoadedModel:
    label: str
    path: Path
    kind: str        # synthetic_env or reward_env
    nets: object
    config: object


def load_models(paths, kind: str, env: str | None, overrides=()) -> list[LoadedModel]:
    """Every model of ``kind`` under ``paths`` (others are skipped), for ``env`` (models of other
    envs are skipped) or, without ``env``, all for the first model's env (a model for another env
    is then a UserError, as is finding none)."""
    models = []
    chosen = env
    for path in find_model_files(paths):
        found, nets, config = load_model(path)
        if found != kind or (chosen and config.env != chosen):
            continue
        env = env or config.env
        if config.env != env:
            raise UserError(f"model {path} is for {config.env}, not for {env}: give one env's models (or --env)")
        config = config_with_overrides(config, overrides, path) if overrides else config
        models.append(LoadedModel(model_label(path), path, found, nets, config))
    if not models:
        what = "synthetic environments" if kind == "synthetic_env" else "reward networks"
        raise UserError(f"no {what}{f' for {env}' if env else ''} in {', '.join(map(str, paths))}")
    return models


def write_csv(path: Path, columns, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v)
                             for k, v in row.items()})


def new_figure(rows: int = 1, cols: int = 1, width: float = 5.0, height: float = 3.6):
    # A bare Figure renders with the Agg canvas: no pyplot state, no display needed.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def save(figure, out_dir: Path, name: str) -> list[Path]:
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for path in paths:
        figure.savefig(path, dpi=120)
    return paths


def gaussian_kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``values`` on ``grid`` with Scott's bandwidth (n^-1/5 sd), at
    least 2% of the grid's range: a sample without spread (every real-env agent at 200) would
    otherwise be a spike that flattens every other curve of its panel."""
    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    width = max(spread * len(values) ** -0.2, max(np.ptp(grid), 1.0) * 0.02)
    z = (grid[:, None] - values[None, :]) / width
    return np.exp(-0.5 * z ** 2).sum(axis=1) / (len(values) * width * math.sqrt(2 * math.pi))


def plot_return_densities(ax, groups: dict[str, np.ndarray], colours: dict[str, str]) -> None:
    """One kernel density per group of real-env test returns, and under them a rug of each
    group's runs in its own row, so that a handful of runs stays visible as runs."""
    everything = np.concatenate(list(groups.values()))
    margin = 0.1 * max(np.ptp(everything), 1.0)
    grid = np.linspace(everything.min() - margin, everything.max() + margin, 300)
    for row, (name, values) in enumerate(groups.items()):
        ax.plot(grid, gaussian_kde(values, grid), color=colours[name],
                label=f"{name} (n={len(values)}, mean {values.mean():.1f})")
        # x in data units, y in axes units: the rugs sit just above the x axis at any density scale
        ax.plot(values, np.full(len(values), 0.03 + 0.04 * row), "|", color=colours[name], markersize=8,
                transform=ax.get_xaxis_transform())
    rugs_share = 0.04 * (len(groups) + 1)  # of the axes' height, below the density's zero
    top = ax.get_ylim()[1]
    ax.set_ylim(-top * rugs_share / (1 - rugs_share), top)
    ax.set(xlabel="real-env test return", ylabel="density (ticks: single runs)")
