"""learn_env end to end: --help, the run directory it writes, and same seed -> same run."""
import json
import shutil

import pytest
import torch

from common.schema import to_dict
from experiments.cli import DEFAULT_CONFIG, MDP_SE_CONFIG
from nes.config import Config, load_config
from tests.helpers import (REFERENCE_RUN_SETS, last_stdout_line, leaf_keys, mdp_se_flags, metrics_without_wall_clock,
                           run_entry_point)

pytestmark = pytest.mark.slow  # learn_env subprocesses


def snapshot(directory) -> dict:
    """{relative path: (bytes, mtime_ns)} of every file below ``directory``."""
    return {str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_help_exits_0_and_documents_every_config_key(run_module):
    completed = run_module("experiments.learn_env", "--help")
    assert completed.returncode == 0
    for key in leaf_keys(to_dict(Config())):
        assert f"  {key} (" in completed.stdout, key


def test_a_run_writes_its_files_and_prints_its_directory_last(reference_run):
    out, completed = reference_run
    assert last_stdout_line(completed) == str(out)
    for name in ("config.yaml", "metrics.csv", "latest.pt", "summary.json"):
        assert (out / name).is_file(), name
    assert load_config(out / "config.yaml") == load_config(MDP_SE_CONFIG, REFERENCE_RUN_SETS)
    assert [row["iteration"] for row in metrics_without_wall_clock(out / "metrics.csv")] == ["0", "1", "2", "3"]
    assert torch.load(out / "latest.pt", weights_only=False)["iteration"] == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["paths"]["run_dir"] == str(out)
    assert (summary["paths"]["best_model"] is not None) == summary["solved"] == (out / "best.pt").is_file()


def test_the_plain_command_learns_a_bandit_se_with_the_default_config(tmp_path):
    completed = run_entry_point("experiments.learn_env", "--set", "nes.max_iterations=1", "--out", tmp_path / "run")
    assert completed.returncode == 0, completed.stderr
    config = load_config(tmp_path / "run" / "config.yaml")
    assert config == load_config(DEFAULT_CONFIG, ["nes.max_iterations=1"])
    assert config.synthetic_env.kind == "bandit" and config.nes.strategy == "cma_es"
    assert len(metrics_without_wall_clock(tmp_path / "run" / "metrics.csv")) == 1


def test_the_same_seed_gives_the_same_metrics_and_psi(reference_run, tmp_path):
    out, _ = reference_run
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), "--out", tmp_path / "again")
    assert completed.returncode == 0, completed.stderr
    assert metrics_without_wall_clock(tmp_path / "again" / "metrics.csv") == metrics_without_wall_clock(
        out / "metrics.csv")
    again = torch.load(tmp_path / "again" / "latest.pt", weights_only=False)
    assert torch.equal(again["psi"], torch.load(out / "latest.pt", weights_only=False)["psi"])


def test_out_pointing_at_an_existing_run_is_refused_and_leaves_it_untouched(reference_run, tmp_path, run_module):
    existing = tmp_path / "existing"
    shutil.copytree(reference_run[0], existing)
    before = snapshot(existing)
    completed = run_module("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), "--out", existing)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [completed.stderr.strip()]
    assert completed.stderr.startswith("error:") and "already holds a run" in completed.stderr
    assert snapshot(existing) == before


def test_the_processes_backend_reproduces_the_batched_run(reference_run, tmp_path):
    out, _ = reference_run
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(REFERENCE_RUN_SETS), "--evaluator", "processes",
                                "--workers", 2, "--out", tmp_path / "processes")
    assert completed.returncode == 0, completed.stderr
    # real_env_steps is left out: its per-member split is checked in test_evaluator_backends.py.
    strip = lambda rows: [{k: v for k, v in row.items() if k != "real_env_steps"} for row in rows]  # noqa: E731
    assert strip(metrics_without_wall_clock(tmp_path / "processes" / "metrics.csv")) == strip(
        metrics_without_wall_clock(out / "metrics.csv"))
    processes = torch.load(tmp_path / "processes" / "latest.pt", weights_only=False)
    assert torch.equal(processes["psi"], torch.load(out / "latest.pt", weights_only=False)["psi"])
