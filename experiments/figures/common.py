"""What every figure shares: its inputs (models, run directories), its outputs (PNG, PDF and the
CSV the figure is drawn from, all named after the figure) and a few plotting helpers."""
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.config import EvaluatorConfig, to_dict, with_overrides
from common.errors import UserError
from envs.model_files import find_model_files, load_model, model_label


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
        config = with_overrides(to_dict(config), overrides) if overrides else config
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
    """Gaussian kernel density of ``values`` on ``grid`` with Scott's bandwidth (n^-1/5 sd); a
    sample without spread gets a bandwidth of 1% of the grid's range, so it still draws."""
    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    width = spread * len(values) ** -0.2 if spread > 0 else max(np.ptp(grid), 1.0) * 0.01
    z = (grid[:, None] - values[None, :]) / width
    return np.exp(-0.5 * z ** 2).sum(axis=1) / (len(values) * width * math.sqrt(2 * math.pi))
