"""Plain helpers shared by the tests (fixtures live in conftest.py)."""
import csv
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Budgets small enough for a test, everything else as in the schema. ``time_mult`` is raised so
# that the wall-clock member budget of later iterations never cuts a member short on a busy
# machine: with it, a run's numbers depend on its seed only.
TINY_OVERRIDES = (
    "nes.population=2",
    "nes.max_iterations=2",
    "nes.time_mult=1000",
    "agents.ddqn.train_episodes=3",
    "agents.ddqn.test_episodes=2",
)

# The learn_env run the entry-point tests share: long enough (4 iterations) to be killed midway.
REFERENCE_RUN_SETS = (
    "nes.population=2",
    "nes.max_iterations=4",
    "nes.time_mult=1000",
    "agents.ddqn.train_episodes=5",
    "agents.ddqn.test_episodes=2",
    "seed=3",
)
WALL_CLOCK_COLUMNS = ("wall_seconds", "mean_member_seconds")


def run_entry_point(module: str, *args, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` from the repository root, output captured as text."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def set_flags(assignments) -> list[str]:
    """``("a=1", "b=2")`` -> ``["--set", "a=1", "--set", "b=2"]``."""
    return [flag for assignment in assignments for flag in ("--set", assignment)]


def metrics_without_wall_clock(path: Path) -> list[dict]:
    """metrics.csv rows without the columns that measure wall-clock time."""
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in WALL_CLOCK_COLUMNS} for row in csv.DictReader(handle)]


def last_stdout_line(completed: subprocess.CompletedProcess) -> str:
    return completed.stdout.strip().splitlines()[-1]
