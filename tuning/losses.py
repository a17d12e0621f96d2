"""The loss of one BOHB sample on one budget (smaller is better).

Learning an SE or RN (``learn_env`` configs):
  ``nes_iterations``: NES iterations until the SE/RN is solved (the iteration at which agents
  trained on psi first reach the env's threshold on average, counted from 1), averaged over
  repeats; an unsolved run counts as ``nes.max_iterations x unsolved_factor``. The paper's SE
  loss (experiments/GTNC_evaluate_cartpole_params.py:92-97 @ 3216697) sums 3 runs and counts an
  unsolved run as max_iterations (unsolved_factor 1);
  ``nes_score``: minus the best mean score_orig the run reached (for objectives such as the RN's
  ``steps_to_threshold``, where "solved" is too easy to tell settings apart).
Each repeat is a whole NES run in-process (``NESMaster`` with the config's evaluator backend) with
seed ``seed + repeat``, so every sample is scored on the same seeds; it writes a learn_env-style
run directory (config.yaml, metrics.csv, latest.pt, best.pt).

Training a plain agent on the real env (the paper tuned TD3 and PPO this way:
experiments/bohb_params_TD3_*.py, bohb_params_PPO_*.py @ 3216697), one batched
population with one member per repeat:
  ``test_return``: minus the mean final test return;
  ``steps_to_solve``: mean training steps until a test first reaches the threshold; a member that
  never does counts as ``protocol.max_train_steps`` (or its steps so far) x ``unsolved_factor``.
"""
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from agents.population import SeedRoles, train_fresh_population
from agents.training import EpisodeReport
from common.files import atomic_write_csv
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import Config, save_config
from nes.evaluators import make_evaluator
from nes.master import NESMaster
from tuning.space import SearchSpace


def evaluate(space: SearchSpace, sample: dict, budget: float, run_dir: Path, overrides=()) -> dict:
    """``{'loss': float, 'info': dict}`` for hpbandster; errors propagate (hpbandster records them)."""
    base = space.config(sample, budget, overrides)
    repeats = space.repeats(budget)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if space.loss.kind in ("nes_iterations", "nes_score"):
        runs = [nes_run(with_seed(base, base.seed + r), run_dir / f"repeat_{r}") for r in range(repeats)]
        if space.loss.kind == "nes_iterations":
            penalty = base.nes.max_iterations * space.loss.unsolved_factor
            losses = [run["iterations"] if run["solved"] else penalty for run in runs]
        else:
            losses = [-run["best_mean_score_orig"] for run in runs]
        info = {"runs": runs}
    else:
        members = agent_run(base, repeats, run_dir, space.loss.unsolved_factor)
        key = "test_return" if space.loss.kind == "test_return" else "steps_to_solve"
        losses = [-m[key] if key == "test_return" else m[key] for m in members]
        info = {"members": members}
    info |= {"losses": losses, "repeats": repeats, "seconds": round(time.monotonic() - start, 2),
             "run_dir": str(run_dir)}
    return {"loss": float(statistics.fmean(losses)), "info": info}


def with_seed(config: Config, seed: int) -> Config:
    # Only the first solved iteration matters to the loss; going on would waste the budget.
    return dataclasses.replace(config, seed=seed, nes=dataclasses.replace(config.nes, quit_when_solved=True))


def nes_run(config: Config, run_dir: Path) -> dict:
    """One whole NES run until solved or ``nes.max_iterations``; what the loss needs from it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    evaluator = make_evaluator(config, run_dir)
    # Unique across the tune run (<tune run id>.<config and budget>.<repeat>): BOHB workers whose NES
    # masters share one files-backend sync directory are told apart by it.
    run_id = ".".join(run_dir.parts[-3:])
    master = NESMaster(config, evaluator, run_dir, run_id)
    master.hooks.append(lambda row, state: atomic_write_csv(run_dir / "metrics.csv", state.metrics))
    try:
        state = master.run()
    finally:
        evaluator.close()
    best = max((row["mean_score_orig"] for row in state.metrics), default=float("-inf"))
    return {"seed": config.seed, "solved": state.solved, "iterations": state.iteration,
            "best_mean_score_orig": best, "seconds": round(state.elapsed_seconds, 2)}


def agent_run(config: Config, population: int, run_dir: Path, unsolved_factor: float) -> list[dict]:
    """``population`` agents (seeds ``seed + member``) trained together on the real env."""
    spec = real_env_spec(config.env)
    torch.set_num_threads(config.evaluator.threads)
    seeds = [config.seed + m for m in range(population)]
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    first_solved: dict[int, int] = {}

    def on_episode(report: EpisodeReport) -> None:
        for m in torch.nonzero(report.tested & (report.test_returns >= spec.solved_reward)).flatten().tolist():
            first_solved.setdefault(m, int(report.steps[m]))

    roles = SeedRoles.of(seeds)
    result = train_fresh_population(config.agent, config.agent_config(), config.env, roles,
                                    RealVecEnv(config.env, roles.train_env), config.protocol, on_synthetic=False,
                                    on_episode=on_episode).result
    members = []
    for m, seed in enumerate(seeds):
        steps = int(result.train_steps[m])
        if m not in first_solved and bool(result.solved[m]):
            first_solved[m] = steps
        limit = config.protocol.max_train_steps or steps
        members.append({"seed": seed, "test_return": float(result.test_return[m]), "train_steps": steps,
                        "solved": m in first_solved,
                        "steps_to_solve": first_solved.get(m, limit * unsolved_factor)})
    return members
