"""Reading learn_env run directories: where they are, which model file stands for one, and when it
was solved. The figures, the zoo and compare_reward_envs read runs the same way."""
import csv
from pathlib import Path

import yaml

from common.errors import UserError
from envs.real import real_env_spec
from nes.config import load_config


def find_runs(paths) -> list[Path]:
    """learn_env run directories at or one level below ``paths``."""
    runs = []
    for path in map(Path, paths):
        candidates = [path] if (path / "metrics.csv").is_file() else sorted(p for p in path.glob("*") if p.is_dir())
        runs += [c for c in candidates if (c / "metrics.csv").is_file() and (c / "config.yaml").is_file()]
    if not runs:
        raise UserError(f"no learn_env runs (directories with config.yaml and metrics.csv) in "
                        f"{', '.join(map(str, paths))}")
    return runs


def model_file(path: Path) -> Path:
    """``path`` itself, or for a run directory its best.pt or, before the run saved one, its latest.pt."""
    if not path.is_dir():
        return path
    for name in ("best.pt", "latest.pt"):
        if (path / name).is_file():
            return path / name
    raise UserError(f"run directory {path} holds neither best.pt nor latest.pt")


def solved_at(run: Path) -> tuple[object, int | None, int]:
    """(config, first solved iteration or None, iterations run)."""
    try:
        config = load_config(run / "config.yaml")  # read_yaml: a mapping, no repeated keys
        with open(run / "metrics.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        threshold = real_env_spec(config.env).solved_reward
        solved = [int(r["iteration"]) for r in rows if float(r["mean_test_return_orig"]) >= threshold]
    except (OSError, KeyError, ValueError, yaml.YAMLError, UserError) as error:
        raise UserError(f"run directory {run} cannot be read as a learn_env run ({error})") from None
    return config, (solved[0] if solved else None), len(rows)
