"""Every agent can be the inner agent of ``learn_env``, on an SE of an env it can act in."""
import csv

import pytest

from agents import AGENTS
from tests.helpers import mdp_se_flags, run_entry_point

pytestmark = pytest.mark.slow  # learn_env subprocesses, one per agent

INNER_AGENTS = {
    "ql": "CliffWalking-v1",
    "sarsa": "CliffWalking-v1",
    "dueling_ddqn": "CartPole-v0",
    "td3_discrete": "CartPole-v0",
    "td3": "Pendulum-v1",
    "ppo": "Pendulum-v1",
}


def test_every_registered_agent_is_covered():
    assert set(INNER_AGENTS) | {"ddqn"} == set(AGENTS)


@pytest.mark.parametrize("agent", sorted(INNER_AGENTS))
def test_learn_env_runs_with_the_agent_as_inner_loop(agent, tmp_path):
    out = tmp_path / "run"
    sets = (f"agent={agent}", f"env={INNER_AGENTS[agent]}", "nes.population=2", "nes.max_iterations=2",
            "nes.time_mult=1000", f"agents.{agent}.train_episodes=3", f"agents.{agent}.init_episodes=1",
            f"agents.{agent}.test_episodes=1")
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(sets), "--out", out, timeout=240)
    assert completed.returncode == 0, completed.stderr
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(int(row["synthetic_env_steps"]) > 0 for row in rows)
    assert all(float(row["mean_score_orig"]) == float(row["mean_score_orig"]) for row in rows)  # not NaN
