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


def test_agent_benchmark_on_an_se_with_varied_hps_reports_both_populations(run_module):
    completed = run_module("experiments.benchmark_agents", "--agent", "ddqn=CartPole-v0", "--population", "1,2",
                           "--steps", 40, "--vary-hp", "--se", REPO_ROOT / "zoo" / "CartPole-v0" / "cartpole_se_seed0.pt")
    assert completed.returncode == 0, completed.stderr
    rows = [line.split(" | ") for line in completed.stdout.splitlines() if line.startswith("| ddqn | CartPole-v0 |")]
    assert [(row[2], row[9]) for row in rows] == [("1", "yes"), ("2", "yes")]
    assert all(row[-2].endswith("x") and row[-1].endswith("x |") for row in rows), "varied / uniform: time, work"
    assert "cartpole_se_seed0.pt (varied HPs: the paper's" in completed.stdout


def test_agent_benchmark_varies_the_named_fields_only(run_module):
    completed = run_module("experiments.benchmark_agents", "--agent", "ddqn=CartPole-v0", "--population", "3",
                           "--steps", 40, "--vary-hp", "--vary-fields", "lr,gamma")
    assert completed.returncode == 0, completed.stderr
    row = next(line for line in completed.stdout.splitlines() if line.startswith("| ddqn | CartPole-v0 |"))
    assert row.endswith("| 1.00x |"), "lr and gamma leave the update's work as it was"
    assert "(varied HPs: lr,gamma)" in completed.stdout


@pytest.mark.parametrize("args, message", [
    (["--vary-fields", "lr"], "--vary-fields needs --vary-hp"),
    (["--vary-hp", "--vary-fields", "lr,depth"], "config key 'agents.ddqn.vary_fields' names 'depth', which cannot "
     "vary; choose from lr, alpha, batch_size, hidden_size, hidden_layer, gamma, tau, eps_init, eps_min, eps_decay"),
    (["--population", "4,x"], "--population expects sizes like 8 or 1,16,48, got '4,x'"),
    (["--population", "0"], "--population sizes must be >= 1"),
    (["--se", "zoo/Acrobot-v1/acrobot_bandit_se_seed0.pt"],
     "--se zoo/Acrobot-v1/acrobot_bandit_se_seed0.pt is an SE of Acrobot-v1, not of CartPole-v0"),
    (["--se", "zoo/CartPole-v0/cartpole_rn_type1.pt"],
     "--se zoo/CartPole-v0/cartpole_rn_type1.pt holds a reward network, not a synthetic env"),
])
def test_agent_benchmark_bad_input_is_one_line_and_exit_2(run_module, args, message):
    completed = run_module("experiments.benchmark_agents", "--agent", "ddqn=CartPole-v0", *args)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [f"error: {message}"]
