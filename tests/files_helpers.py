"""Shared pieces of the files-backend end-to-end tests: real processes and their outputs."""
import subprocess
import sys
import time

import torch

from tests.helpers import REPO_ROOT, entry_point_env, metrics_without_wall_clock

FILES = ("--evaluator", "files")


def start(module: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT, env=entry_point_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out, err


def assert_same_run(run, reference, iterations: int = 4) -> None:
    assert metrics_without_wall_clock(run / "metrics.csv") == metrics_without_wall_clock(reference / "metrics.csv")
    mine, theirs = (torch.load(d / "latest.pt", weights_only=False) for d in (run, reference))
    assert mine["iteration"] == theirs["iteration"] == iterations
    assert torch.equal(mine["psi"], theirs["psi"])
    assert (run / "best.pt").exists() == (reference / "best.pt").exists()
    if (reference / "best.pt").exists():
        mine, theirs = (tensors(torch.load(d / "best.pt", weights_only=False)) for d in (run, reference))
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def tensors(payload, prefix: str = "") -> dict:
    """Every tensor of a saved model file by its key path."""
    found = {}
    for key, value in payload.items():
        if isinstance(value, dict):
            found |= tensors(value, f"{prefix}{key}.")
        elif isinstance(value, torch.Tensor):
            found[prefix + key] = value
    return found


def checkpoint_iteration(path) -> int:
    try:
        return torch.load(path, weights_only=False)["iteration"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0


def wait_for(condition, what: str, timeout: float = 120, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert process is None or process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def claimed_but_unanswered(sync_dir):
    """(worker name, claim path) of a live worker's claim that it has not answered yet, or None."""
    for claims in sync_dir.glob("runs/*/claims"):
        for claim in claims.iterdir():
            iteration = claim.name.split("-")[0]
            owner = "" if claim.name.startswith(".") else claim.read_text()
            answered = any(r.name.startswith(f"{iteration}-") and r.name.endswith(f"-{owner}")
                           for r in (claims.parent / "results").iterdir())
            if owner and not answered and (sync_dir / "workers" / owner).exists():
                return owner, claim
    return None
