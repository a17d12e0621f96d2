"""Learning curves over independent runs: mean with a 95% t-interval on a common step grid, the
steps each run needs to reach a threshold, the CSV and the figure.

A run is a list of (real-env training steps, test return) points in step order. On a grid step g
the run's value is its last test at or before g (step-function interpolation); before its first
test the run has no value and does not count at g. Over the n runs that count, the interval is
mean +- t_{0.975, n-1} * sd / sqrt(n) with the sample sd (n - 1 in the denominator); it needs
n >= 2 and is NaN otherwise.
"""
import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GRID_POINTS = 200
CSV_COLUMNS = ("variant", "step", "mean", "ci_low", "ci_high", "runs")

Points = list[tuple[int, float]]


def t_central_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with an integer ``df`` >= 1, in closed form (Abramowitz and
    Stegun 26.7.3 and 26.7.4: a finite series in cos(theta), theta = atan(t / sqrt(df)))."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        series, term = 0.0, math.cos(theta)
        for j in range(1, (df - 1) // 2 + 1):  # cos^1, cos^3, ..., cos^(df-2)
            series += term
            term *= 2 * j / (2 * j + 1) * cos2
        return 2 / math.pi * (theta + math.sin(theta) * series)
    series, term = 0.0, 1.0
    for j in range(1, df // 2 + 1):  # cos^0, cos^2, ..., cos^(df-2)
        series += term
        term *= (2 * j - 1) / (2 * j) * cos2
    return math.sin(theta) * series


def t_critical(df: int, level: float = 0.95) -> float:
    """The two-sided critical value: P(|T| <= t) = ``level`` (bisection on the closed form)."""
    low, high = 0.0, 1.0
    while t_central_probability(high, df) < level:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_central_probability(middle, df) < level:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def step_values(points: Points, grid: np.ndarray) -> np.ndarray:
    """A run's last test return at or before each grid step; NaN before its first test."""
    if not points:
        return np.full(len(grid), np.nan)
    steps = np.array([step for step, _ in points])
    values = np.array([value for _, value in points], dtype=float)
    index = np.searchsorted(steps, grid, side="right") - 1
    return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)


def common_grid(runs: list[Points], points: int = GRID_POINTS) -> np.ndarray:
    """Evenly spaced integer steps from 0 to the last test step of any run."""
    last = max((run[-1][0] for run in runs if run), default=0)
    return np.unique(np.linspace(0, last, points).round().astype(np.int64))


@dataclass
class Curve:
    label: str
    steps: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    runs: np.ndarray  # runs that count at each step
    run_low: np.ndarray   # lowest and highest run value at each step (NaN where no run counts)
    run_high: np.ndarray

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """The interval as drawn: clipped to the runs' own range, because a t-interval over a few
        wild runs reaches returns no run had (above the best possible return, say)."""
        return np.fmax(self.ci_low, self.run_low), np.fmin(self.ci_high, self.run_high)


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """Per column of ``values`` (runs, steps), ignoring NaN: mean, interval low, interval high, n."""
    counts = np.sum(~np.isnan(values), axis=0)
    mean, low, high = (np.full(values.shape[1], np.nan) for _ in range(3))
    for column, n in enumerate(counts):
        present = values[~np.isnan(values[:, column]), column]
        if n >= 1:
            mean[column] = present.mean()
        if n >= 2:
            half = t_critical(int(n) - 1, level) * present.std(ddof=1) / math.sqrt(n)
            low[column], high[column] = mean[column] - half, mean[column] + half
    return mean, low, high, counts


def learning_curve(label: str, runs: list[Points], grid: np.ndarray) -> Curve:
    values = np.stack([step_values(run, grid) for run in runs])
    counted = ~np.isnan(values)
    run_low = np.where(counted.any(axis=0), np.where(counted, values, np.inf).min(axis=0), np.nan)
    run_high = np.where(counted.any(axis=0), np.where(counted, values, -np.inf).max(axis=0), np.nan)
    return Curve(label, grid, *mean_interval(values), run_low, run_high)


def write_curves_csv(path: Path, curves: list[Curve]) -> None:
    """The numbers the figure is drawn from; an undefined mean or interval is an empty cell."""
    cell = lambda x: "" if math.isnan(x) else f"{x:.6g}"  # noqa: E731
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for c in curves:
            for i, step in enumerate(c.steps):
                writer.writerow([c.label, int(step), cell(c.mean[i]), cell(c.ci_low[i]), cell(c.ci_high[i]),
                                 int(c.runs[i])])


def plot_curves(curves: list[Curve], paths: list[Path], title: str, threshold: float | None = None) -> None:
    """Mean test return with its interval band, one curve per variant, saved to each of ``paths``."""
    # A bare Figure renders with the Agg canvas: no pyplot state, no display needed.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for c in curves:
        line, = axes.step(c.steps, c.mean, where="post", label=f"{c.label} (n={int(c.runs.max(initial=0))})")
        axes.fill_between(c.steps, *c.band(), step="post", alpha=0.2, color=line.get_color(), linewidth=0)
    if threshold is not None:
        axes.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set(xlabel="real-env training steps", ylabel="real-env test return (mean, 95% CI within the runs' range)",
             title=title)
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
    for path in paths:
        figure.savefig(path)


def mean_curve_reach(curve: Curve, threshold: float) -> int | None:
    """The first grid step where the mean over the runs is at ``threshold``; None if it never is.
    The paper reads its RN comparison this way (where the mean test-return curve reaches 195), which
    differs from the runs' own first steps when the runs are spread out."""
    at = np.flatnonzero(curve.mean >= threshold)
    return int(curve.steps[at[0]]) if at.size else None


def first_reach(points: Points, threshold: float) -> int | None:
    """Steps at the first test >= ``threshold``; None if no test reached it."""
    return next((step for step, value in points if value >= threshold), None)


def threshold_summary(runs: list[Points], final_returns: list[float], threshold: float) -> dict:
    """Steps to the threshold and final return of one variant's runs.

    The median counts unreached runs as reaching it never (infinitely late): it is None when half
    or more of the runs did not reach it. Then ``median_steps_lower_bound`` still bounds it from
    below: the median with each unreached run's last test step in place of its unknown steps.
    Final returns that are not finite (a run that failed) are left out of their mean and std and
    counted as ``failed``.
    """
    reached = [first_reach(run, threshold) for run in runs]
    median = statistics.median([math.inf if r is None else r for r in reached])
    bound = statistics.median([(run[-1][0] if run else 0) if r is None else r for r, run in zip(reached, runs)])
    finite = [r for r in final_returns if math.isfinite(r)]
    return {"runs": len(runs), "reached": sum(r is not None for r in reached),
            "share_reached": sum(r is not None for r in reached) / len(runs),
            "median_steps_to_threshold": None if math.isinf(median) else median,
            "median_steps_lower_bound": bound,
            "steps_to_threshold": reached,
            "final_return_mean": statistics.fmean(finite) if finite else None,
            "final_return_std": statistics.stdev(finite) if len(finite) >= 2 else 0.0 if finite else None,
            "failed": len(final_returns) - len(finite)}


def step_ratio(baseline: dict, variant: dict) -> tuple[float | None, str | None]:
    """Median steps to threshold of the baseline over the variant's, and what it is: ``exact``;
    ``lower`` (a lower bound: only the baseline did not reach the threshold in its budget);
    ``upper`` (only the variant did not); (None, None) when neither reached it."""
    base, mine = baseline["median_steps_to_threshold"], variant["median_steps_to_threshold"]
    if base is not None and mine is not None:
        return (base / mine if mine else None), "exact"
    if base is None and mine is not None:
        return (baseline["median_steps_lower_bound"] / mine if mine else None), "lower"
    if base is not None and variant["median_steps_lower_bound"]:
        return base / variant["median_steps_lower_bound"], "upper"
    return None, None


def format_ratio(ratio: float | None, kind: str | None) -> str:
    if ratio is None:
        return "n/a"
    return {"exact": "", "lower": ">= ", "upper": "<= "}[kind] + f"{ratio:.2f}"


def format_table(rows: dict[str, dict], baseline: str, threshold: float) -> str:
    """One line per variant; ``ratio`` is the baseline's median steps over the variant's; ``mean
    curve at`` is where the mean over the runs first reaches the threshold (``mean_curve_reach``)."""
    width = max(map(len, rows)) + 2
    head = (f"{'variant':<{width}}{'runs':>5}{'reached':>9}{f'median steps to {threshold:g}':>26}"
            f"{f'mean curve at {threshold:g}':>20}{'final return':>20}{'ratio ' + baseline + '/variant':>22}")
    lines = [head, "-" * len(head)]
    for label, s in rows.items():
        median = s["median_steps_to_threshold"]
        median_text = (f"{median:.0f}" if median is not None
                       else f">= {s['median_steps_lower_bound']:.0f} ({s['runs'] - s['reached']} not)")
        final = (f"{s['final_return_mean']:.1f} +- {s['final_return_std']:.1f}"
                 if s["final_return_mean"] is not None else "-")
        curve_at = s["mean_curve_reaches_threshold_at"]
        curve_text = "never" if curve_at is None else f"{curve_at}"
        lines.append(f"{label:<{width}}{s['runs']:>5}{s['share_reached']:>9.0%}{median_text:>26}{curve_text:>20}"
                     f"{final:>20}"
                     f"{format_ratio(*step_ratio(rows[baseline], s)):>22}")
    return "\n".join(lines)
