"""The generated SLURM layouts, submitted to a live single-node SLURM (tests/slurm_cluster.py).

The nes layout runs a tiny NES through a master job and a 2-task worker array to the same metrics
as a batched run; array tasks cancelled or killed mid-iteration lose no work (their claims are
handed back, or their leases expire, and their tasks are issued again), so the final SE equals an
undisturbed run's; the sweep layout runs two
seeds; the evaluate layout trains an evaluation's agents in a worker array to the batched rows; the
bohb layout's scripts are valid bash.
"""
import csv
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import (REFERENCE_RUN_SETS, entry_point_env, mdp_se_flags, metrics_without_wall_clock,
                           run_entry_point, write_tiny_ses)
from tests.slurm_cluster import SlurmCluster, missing_reason

pytestmark = pytest.mark.slow  # a live SLURM and learn_env subprocesses

SHORT_LEASE = "evaluator.lease_seconds=3"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def write_layout(layout: str, out: Path, *args) -> Path:
    completed = run_entry_point("experiments.slurm_scripts", layout, *args, "--time", "00:10:00", "--out", out)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(out)
    return out


def submit(slurm: SlurmCluster, layout_dir: Path) -> str:
    completed = subprocess.run(["bash", str(layout_dir / "submit.sh")], env={**entry_point_env(), **slurm.env},
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def logs(layout_dir: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted((layout_dir / "logs").iterdir()))


def finished_iterations(run_dir: Path) -> int:
    metrics = run_dir / "metrics.csv"
    return len(metrics.read_text().strip().splitlines()) - 1 if metrics.exists() else 0


def test_sweep_layout_runs_one_learn_env_per_seed(slurm, reference_run, tmp_path):
    reference_dir, _ = reference_run
    layout = write_layout("sweep", tmp_path / "sweep", *mdp_se_flags(REFERENCE_RUN_SETS), "--seeds", "3-4")
    submit(slurm, layout)
    slurm.wait_until_empty(timeout=300)
    assert sorted(p.name for p in (layout / "logs").iterdir() if p.name.startswith("synthenv-sweep.")) \
        == sorted(p.name for p in (layout / "logs").iterdir()), logs(layout)
    assert len(list((layout / "logs").iterdir())) == 2, logs(layout)
    seed_3 = metrics_without_wall_clock(layout / "seed_3" / "metrics.csv")
    assert seed_3 == metrics_without_wall_clock(reference_dir / "metrics.csv"), logs(layout)
    assert metrics_without_wall_clock(layout / "seed_4" / "metrics.csv") != seed_3
    # A task submitted again resumes its run (here: already complete, so it only rewrites the summary).
    slurm.run("sbatch", "--array=3", "sweep.sbatch", cwd=layout)
    slurm.wait_until_empty(timeout=120)
    resumed = sorted((layout / "logs").glob("synthenv-sweep.*_3.out"),
                     key=lambda path: int(path.stem.split(".")[1].split("_")[0]))
    assert len(resumed) == 2 and "after 4 iterations" in resumed[-1].read_text(), logs(layout)
    assert metrics_without_wall_clock(layout / "seed_3" / "metrics.csv") == seed_3


def test_nes_layout_runs_a_tiny_nes_through_a_master_and_a_worker_array(slurm, reference_run, tmp_path):
    reference_dir, _ = reference_run
    layout = write_layout("nes", tmp_path / "nes", *mdp_se_flags(REFERENCE_RUN_SETS), "--workers", "2",
                          "--idle-exit", "120")
    submit(slurm, layout)
    slurm.wait_until_empty(timeout=300)
    names = sorted(p.name for p in (layout / "logs").iterdir())
    assert len(names) == 3 and names[0].startswith("synthenv-master.") and names[0].endswith("_4294967294.out")
    assert [n.rsplit("_", 1)[1] for n in names[1:]] == ["0.out", "1.out"], names
    assert metrics_without_wall_clock(layout / "run" / "metrics.csv") \
        == metrics_without_wall_clock(reference_dir / "metrics.csv"), logs(layout)


def evaluation_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def test_evaluate_layout_trains_the_agents_in_a_worker_array_to_the_batched_rows(slurm, tmp_path):
    models = write_tiny_ses(tmp_path / "zoo")
    common = ["--runs", "2", "--baseline", "--seed", "3"]
    layout = write_layout("evaluate", tmp_path / "evaluate", "--models", models, *common, "--workers", "2",
                          "--idle-exit", "120")
    submit(slurm, layout)
    slurm.wait_until_empty(timeout=300)
    batched = run_entry_point("experiments.evaluate_env", "--models", models, *common, "--out", tmp_path / "batched")
    assert batched.returncode == 0, batched.stderr
    rows = evaluation_rows(layout / "run" / "evaluation.csv")
    assert rows == evaluation_rows(tmp_path / "batched" / "evaluation.csv"), logs(layout)
    assert len(rows) == 6
    worker_logs = [p.read_text() for p in (layout / "logs").glob("synthenv-worker.*")]
    assert len(worker_logs) == 2
    assert sum(int(re.search(r"answered (\d+)", log)[1]) for log in worker_logs) == 6, logs(layout)


def busy_array_tasks(layout_dir: Path, job: str, iteration: int) -> list[str]:
    """Worker array tasks whose log says they claimed members of ``iteration``."""
    return sorted(f"{job}_{p.stem.rsplit('_', 1)[1]}" for p in (layout_dir / "logs").glob(f"synthenv-worker.{job}_*")
                  if re.search(rf"iteration {iteration}, \d+ member", p.read_text()))


def worker_pid(layout_dir: Path, array_task: str) -> int:
    """The pid of the worker process of ``array_task`` (12_3), from its registration in the sync dir."""
    log = (layout_dir / "logs" / f"synthenv-worker.{array_task}.out").read_text()
    name = re.search(r"worker (\S+) serves", log)[1]
    return int((layout_dir / "sync" / "workers" / name).read_text())


def test_cancelled_array_tasks_lose_no_work(slurm, tmp_path):
    sets = (*REFERENCE_RUN_SETS, "nes.max_iterations=2", "nes.population=6", "agents.ddqn.train_episodes=8",
            SHORT_LEASE)
    undisturbed = tmp_path / "undisturbed"
    completed = run_entry_point("experiments.learn_env", *mdp_se_flags(sets), "--out", undisturbed)
    assert completed.returncode == 0, completed.stderr
    layout = write_layout("nes", tmp_path / "nes", *mdp_se_flags(sets), "--workers", "3", "--idle-exit", "120")
    job = submit(slurm, layout).split("worker array ")[1].split(";")[0]
    # Two workers that hold claims in the second iteration: one is cancelled (SIGTERM: it hands its
    # claims back), the other's process is killed outright as if its node died (its leases must expire).
    wait_for(lambda: len(busy_array_tasks(layout, job, 1)) >= 2, 300, "two busy workers\n" + logs(layout))
    cancelled, killed = busy_array_tasks(layout, job, 1)[:2]
    slurm.run("scancel", cancelled)
    os.kill(worker_pid(layout, killed), signal.SIGKILL)
    wait_for(lambda: not {cancelled, killed} & set(slurm.job_states()), 30, "the tasks to leave the queue")
    slurm.wait_until_empty(timeout=300)
    assert finished_iterations(layout / "run") == 2, logs(layout)
    master_log = next((layout / "logs").glob("synthenv-master.*")).read_text()
    assert "of iteration 1: the claim of worker" in master_log and "lost its lease; issued again" in master_log, \
        logs(layout)
    final = torch.load(layout / "run" / "latest.pt", weights_only=False)
    expected = torch.load(undisturbed / "latest.pt", weights_only=False)
    assert final["iteration"] == 2
    assert torch.equal(final["psi"], expected["psi"]), logs(layout)


def test_bohb_layout_scripts_are_generated_and_valid_bash(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("hyperparameters:\n  nes.step_size: {type: float, low: 0.01, high: 1.0, log: true}\n")
    layout = write_layout("bohb", tmp_path / "bohb", "--space", space, "--iterations", "4", "--bohb-workers", "3",
                          "--workers", "8")
    scripts = sorted(p.name for p in layout.iterdir() if p.suffix in (".sh", ".sbatch"))
    assert scripts == ["bohb_master.sbatch", "bohb_workers.sbatch", "env.sh", "submit.sh", "workers.sbatch"]
    for name in scripts:
        assert subprocess.run(["bash", "-n", str(layout / name)]).returncode == 0, name
    assert "#SBATCH --array=0-2" in (layout / "bohb_workers.sbatch").read_text()
    assert "#SBATCH --array=0-7" in (layout / "workers.sbatch").read_text()
    assert "experiments.tune --worker --out bohb --set evaluator.backend=files --set evaluator.sync_dir=sync " \
           "--set evaluator.workers=0" in (layout / "bohb_workers.sbatch").read_text()
    master = (layout / "bohb_master.sbatch").read_text()
    assert "experiments.tune --space space.yaml --out bohb --iterations 4 --workers 0 --external-workers 3" in master
    assert "experiments.tune --resume bohb" in master and "worker --sync-dir sync --stop" in master
    assert (layout / "space.yaml").read_text() == space.read_text()
