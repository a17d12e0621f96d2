"""Shared fixtures: a tiny config, the entry-point runner and one reference learn_env run."""
import pytest
import torch

from nes.config import load_config
from tests.helpers import REFERENCE_RUN_SETS, TINY_OVERRIDES, mdp_se_flags, run_entry_point


def pytest_configure(config):
    # CartPole-v0 is the paper's env; gymnasium's "out of date" notice is expected.
    config.addinivalue_line("filterwarnings", "ignore:.*is out of date.*:DeprecationWarning")


# Session fixtures that start a learn_env subprocess: only slow tests (pytest.ini) may use them,
# or the fast tier would pay for the run.
SLOW_FIXTURES = ("reference_run",)


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items if item.get_closest_marker("slow") is None
                and any(name in getattr(item, "fixturenames", ()) for name in SLOW_FIXTURES)]
    if unmarked:
        raise pytest.UsageError(f"tests using {', '.join(SLOW_FIXTURES)} must be marked slow: {', '.join(unmarked)}")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The machine is shared; one torch thread per process."""
    torch.set_num_threads(1)


@pytest.fixture
def tiny_config():
    return load_config(None, TINY_OVERRIDES)


@pytest.fixture
def run_module():
    """``run_module("experiments.learn_env", "--help")`` -> CompletedProcess."""
    return run_entry_point


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """One uninterrupted learn_env run with ``REFERENCE_RUN_SETS``: (run dir, completed process)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), "--out", out)
    assert completed.returncode == 0, completed.stderr
    return out, completed
