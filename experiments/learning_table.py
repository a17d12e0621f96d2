"""benchmark_learning's report: the CSV (one row per seed x evaluation) and the markdown tables.

Pure functions of the seed records (``experiments.learning_seeds.SeedRecord``) and the evaluation
rows (``experiments.evaluation``'s columns plus ``se_seed``, the learning seed of the SE; None for
the real-env baseline), so they are tested on made-up rows.
"""
import statistics

SEED_COLUMNS = ("seed", "solved", "iterations", "wall_seconds", "peak_rss_mb", "real_env_steps_to_solve")
EVALUATION_COLUMNS = ("evaluation", "agent", "hp_mode", "runs", "mean_test_return", "median_test_return",
                      "share_solved", "mean_train_steps", "median_train_steps")
CSV_COLUMNS = SEED_COLUMNS + EVALUATION_COLUMNS


def _summary(rows: list[dict], threshold: float) -> dict:
    returns = [row["test_return"] for row in rows]
    steps = [row["train_steps"] for row in rows]
    return {"agent": rows[0]["agent"], "hp_mode": rows[0]["hp_mode"], "runs": len(rows),
            "mean_test_return": round(statistics.fmean(returns), 2),
            "median_test_return": round(statistics.median(returns), 2),
            "share_solved": round(sum(r >= threshold for r in returns) / len(returns), 3),
            "mean_train_steps": round(statistics.fmean(steps), 1), "median_train_steps": statistics.median(steps)}


def csv_rows(records: list, evaluations: dict[str, list[dict]], threshold: float) -> list[dict]:
    """One row per seed and evaluation of its SE (an unsolved seed: one row without an evaluation),
    then one per evaluation on the real env (no seed)."""
    empty = dict.fromkeys(CSV_COLUMNS, "")
    out = []
    for record in sorted(records, key=lambda r: r.seed):
        learned = {key: "" if getattr(record, key) is None else getattr(record, key) for key in SEED_COLUMNS}
        mine = {name: [row for row in rows if row["se_seed"] == record.seed] for name, rows in evaluations.items()}
        mine = {name: rows for name, rows in mine.items() if rows}
        out += [{**empty, **learned, "evaluation": name, **_summary(rows, threshold)} for name, rows in mine.items()]
        out += [{**empty, **learned}] if not mine else []
    for name, rows in evaluations.items():
        real = [row for row in rows if row["se_seed"] is None]
        out += [{**empty, "evaluation": name, **_summary(real, threshold)}] if real else []
    return out


def _count(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def seeds_table(records: list) -> str:
    solved = [r for r in records if r.solved]
    walls = [r.wall_seconds for r in records]
    lines = [f"{len(solved)} of {len(records)} seeds solved ({len(solved) / len(records):.0%}); NES wall time "
             f"median {statistics.median(walls):,.0f} s, max {max(walls):,.0f} s; peak memory of a run "
             f"max {max(r.peak_rss_mb for r in records):,.0f} MB.", "",
             "| seed | solved | NES iterations | wall s | peak MB | real-env steps to solve |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.seed} | {'yes' if r.solved else 'no'} | {r.iterations} | {r.wall_seconds:,.0f} | "
              f"{r.peak_rss_mb:,.0f} | {_count(r.real_env_steps_to_solve)} |" for r in sorted(records, key=lambda r: r.seed)]
    return "\n".join(lines)


def agents_table(evaluations: dict[str, list[dict]], threshold: float) -> str:
    """Per evaluation: the mean real-env return over its runs and SEs (and the range of the SEs'
    means), its training steps, and its median steps over the baseline's median real-env steps."""
    baseline = next((rows for rows in evaluations.values() if rows and rows[0]["se_seed"] is None), None)
    baseline_steps = statistics.median(r["train_steps"] for r in baseline) if baseline else None
    lines = [f"| evaluation | agent | HPs | SEs | runs | mean return | SEs' means | share >= {threshold:g} "
             f"| mean steps | median steps | median / baseline's median |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in evaluations.items():
        if not rows:
            continue
        by_se: dict = {}
        for row in rows:
            by_se.setdefault(row["se_seed"], []).append(row["test_return"])
        se_means = [statistics.fmean(returns) for returns in by_se.values()]
        s = _summary(rows, threshold)
        on_real = rows[0]["se_seed"] is None
        ratio = f"{s['median_train_steps'] / baseline_steps:.2f}" if baseline_steps else "-"
        lines.append(f"| {name} | {s['agent']} | {s['hp_mode']} | {'real env' if on_real else len(by_se)} | "
                     f"{s['runs']} | {statistics.fmean(se_means):.1f} | "
                     f"{'-' if on_real else f'{min(se_means):.1f} to {max(se_means):.1f}'} | "
                     f"{s['share_solved']:.0%} | {s['mean_train_steps']:,.0f} | {s['median_train_steps']:,.0f} | "
                     f"{ratio} |")
    return "\n".join(lines)


def report(records: list, evaluations: dict[str, list[dict]], threshold: float, header: list[str]) -> str:
    """The markdown block: ``header`` lines, the seeds, and (when any SE was solved) the agents."""
    parts = ["\n".join(header), seeds_table(records)]
    if any(evaluations.values()):
        parts.append(agents_table(evaluations, threshold))
    return "\n\n".join(parts)
