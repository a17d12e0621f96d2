"""``python -m experiments.train_agent``: a real-env population training as a subprocess."""
import csv
import json

import pytest
import torch

from tests.helpers import last_stdout_line, run_entry_point

pytestmark = pytest.mark.slow  # train_agent subprocesses

TIMEOUT = 180


def test_train_agent_writes_a_complete_run_directory(tmp_path):
    out = tmp_path / "run"
    completed = run_entry_point("experiments.train_agent", "--agent", "ddqn", "--env", "CartPole-v0",
                                "--population", "2", "--steps", "300", "--set", "agents.ddqn.test_episodes=2",
                                "--set", "protocol.test_every=5", "--out", out, timeout=TIMEOUT)
    assert completed.returncode == 0, completed.stderr
    assert last_stdout_line(completed) == str(out)
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["member", "episode", "env_steps", "return", "test_return"]
    assert {row["member"] for row in rows} == {"0", "1"}
    assert any(row["test_return"] for row in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["population"] == 2 and len(summary["members"]) == 2
    # The step cap ends each member after the episode that crosses 300 steps.
    assert all(300 <= m["train_steps"] < 300 + 200 for m in summary["members"])
    saved = torch.load(out / "agents" / "member_1.pt", weights_only=False)
    assert saved["kind"] == "agent" and saved["agent"] == "ddqn" and "q.0.weight" in saved["state_dict"]
    assert (out / "config.yaml").is_file()


def test_two_runs_with_one_seed_write_identical_metrics(tmp_path):
    metrics = []
    for name in ("a", "b"):
        completed = run_entry_point("experiments.train_agent", "--agent", "ddqn", "--env", "CartPole-v0",
                                    "--steps", "200", "--seed", "4", "--set", "agents.ddqn.test_episodes=1",
                                    "--out", tmp_path / name, timeout=TIMEOUT)
        assert completed.returncode == 0, completed.stderr
        metrics.append((tmp_path / name / "metrics.csv").read_text())
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize("args, expected", [
    (["--agent", "ddqn", "--env", "Pendulum-v1"], "agent 'ddqn' needs discrete actions, but Pendulum-v1 has continuous"),
    (["--agent", "td3", "--env", "CliffWalking-v1"], "agent 'td3' needs continuous actions, but CliffWalking-v1"),
    (["--agent", "ql", "--env", "CartPole-v0"], "agent 'ql' needs discrete states"),
    (["--agent", "a2c"], "unknown agent 'a2c'"),
    (["--env", "Pong-v5"], "unknown env 'Pong-v5'"),
    (["--population", "0"], "--population must be >= 1"),
    (["--steps", "-1"], "protocol.max_train_steps"),
])
def test_train_agent_rejects_bad_input_in_one_line(tmp_path, args, expected):
    out = tmp_path / "run"
    completed = run_entry_point("experiments.train_agent", *args, "--out", out, timeout=TIMEOUT)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], completed.stderr
    assert not out.exists()


def test_help_documents_every_agent_hyperparameter():
    from agents import AGENTS
    from common.schema import describe
    from nes.config import Config

    completed = run_entry_point("experiments.train_agent", "--help", timeout=TIMEOUT)
    assert completed.returncode == 0
    for name in AGENTS:
        assert f"agents.{name}.train_episodes" in completed.stdout
    assert all(line.strip() in completed.stdout for line in describe(Config))
