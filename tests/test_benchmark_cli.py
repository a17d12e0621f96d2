"""The benchmark entry point: both backends on the same tasks, with identical scores."""
import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # benchmark subprocesses


def test_benchmark_smoke_reports_identical_scores(run_module):
    benchmarks = REPO_ROOT / "BENCHMARKS.md"
    before = benchmarks.read_bytes() if benchmarks.exists() else None
    completed = run_module("experiments.benchmark", "--population", 1, "--train-episodes", 2)
    assert completed.returncode == 0, completed.stderr
    assert "| identical scores from both backends | yes |" in completed.stdout
    assert "| seconds per NES iteration, batched (P=1) |" in completed.stdout
    after = benchmarks.read_bytes() if benchmarks.exists() else None
    assert after == before, "without --record the benchmark must not write BENCHMARKS.md"


def test_agent_benchmark_smoke_trains_the_same_members_both_ways(run_module):
    completed = run_module("experiments.benchmark_agents", "--agent", "ddqn=CartPole-v0", "--population", 2,
                           "--steps", 60)
    assert completed.returncode == 0, completed.stderr
    row = next(line for line in completed.stdout.splitlines() if line.startswith("| ddqn | CartPole-v0 |"))
    assert row.endswith("| yes |") and "| 2 | 60 |" in row


def test_agent_benchmark_names_a_bad_pair(run_module):
    completed = run_module("experiments.benchmark_agents", "--agent", "ddqn")
    assert completed.returncode == 2 and "expects AGENT=ENV" in completed.stderr
