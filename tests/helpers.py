"""Plain helpers shared by the tests (fixtures live in conftest.py)."""
import csv
import os
import subprocess
import sys
from pathlib import Path

from experiments.cli import MDP_SE_CONFIG

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
# The tests' learn_env runs learn the paper's MDP SE (the schema's defaults), not learn_env's default
# bandit SE, whose cma_es needs a population of at least 4.
MDP_SE_FLAGS = ("--config", str(MDP_SE_CONFIG))


def entry_point_env() -> dict:
    """The test process's environment with one OpenMP thread: on a shared 2-core machine a second
    torch thread that waits for a busy core makes every small op ~30x slower."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def run_entry_point(module: str, *args, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` from the repository root, output captured as text."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT, env=entry_point_env(),
                          capture_output=True, text=True, timeout=timeout)


def set_flags(assignments) -> list[str]:
    """``("a=1", "b=2")`` -> ``["--set", "a=1", "--set", "b=2"]``."""
    return [flag for assignment in assignments for flag in ("--set", assignment)]


def mdp_se_flags(assignments) -> list[str]:
    """learn_env flags for the paper's MDP SE with ``assignments``: ``--config <its yaml> --set ...``."""
    return [*MDP_SE_FLAGS, *set_flags(assignments)]


def metrics_without_wall_clock(path: Path) -> list[dict]:
    """metrics.csv rows without the columns that measure wall-clock time."""
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in WALL_CLOCK_COLUMNS} for row in csv.DictReader(handle)]


def last_stdout_line(completed: subprocess.CompletedProcess) -> str:
    return completed.stdout.strip().splitlines()[-1]


def leaf_keys(data: dict, prefix: str = "") -> dict:
    """``{'nes': {'population': 16}}`` -> ``{'nes.population': 16}``."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= leaf_keys(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


# Budgets of the evaluation tests: agents trained on SEs from ``write_tiny_ses``.
EVALUATION_SETS = ("agents.ddqn.train_episodes=3", "agents.ddqn.test_episodes=2", "synthetic_env.hidden_size=16")


def write_tiny_ses(folder: Path, seeds=(1, 2)) -> Path:
    """A folder like zoo/ of freshly initialised SEs (se_0.pt, se_1.pt, ...; one architecture, the
    tiny budgets of ``EVALUATION_SETS`` in their saved configs)."""
    from envs.real import real_env_spec
    from models.synthetic_env_nets import SyntheticEnvNets
    from nes.config import load_config
    from nes.model_files import save_synthetic_env

    config = load_config(None, EVALUATION_SETS)
    se = config.synthetic_env
    nets = SyntheticEnvNets.initialise(list(seeds), real_env_spec(config.env), se.hidden_size, se.hidden_layer,
                                       se.activation)
    folder.mkdir(parents=True)
    for member in range(len(seeds)):
        save_synthetic_env(folder / f"se_{member}.pt", nets, member, config, {})
    return folder
