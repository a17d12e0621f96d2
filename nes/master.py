"""The NES master: evolves the flat parameter vector psi of an SE or RN, one population per iteration.

One iteration, population P (MISSION.md):
  eps_i ~ N(0, noise_std^2 I), fixed by (run seed, iteration, i);
  the evaluator scores each member (score_orig on psi, the better of psi +- eps_i);
  weights w = score_transform(scores); psi <- psi * (1 - weight_decay) + alpha * sum_i w_i eps_i
  (alpha / P with ``nes_step_size``), where eps_i is flipped if psi - eps_i won.
psi is saved as the best model when the agents trained with it reach the env's threshold on average
(mean test return of the score_orig agents) and its mean score_orig beats every earlier such
iteration. The master never knows which backend evaluates the members.
"""
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.files import atomic_torch_save
from common.rng import derive_seed
from common.schema import to_dict
from envs.real import real_env_spec
from nes.config import Config
from nes.evaluators.base import Evaluator
from nes.learned_envs import initial_nets, save_learned_env, starting_nets
from nes.score_transforms import score_transform
from nes.tasks import MemberResult, MemberTask

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "nes_checkpoint"


@dataclass
class NESState:
    """Everything needed to resume: no global RNG is involved, every draw derives from the seed."""

    psi: torch.Tensor
    iteration: int = 0
    best_mean_score: float = -math.inf
    solved: bool = False
    time_budget: float | None = None
    elapsed_seconds: float = 0.0
    metrics: list[dict] = field(default_factory=list)


def template_seed(config: Config) -> int:
    return derive_seed(config.seed, 0xE17)


def initial_state(config: Config) -> NESState:
    """A fresh run's state: psi from ``nes.init_model`` or fresh nets (a bad model file fails here)."""
    template = initial_nets(config, real_env_spec(config.env), template_seed(config))
    return NESState(psi=starting_nets(config, template).to_flat()[0].clone())


def worst_to_floor(values: np.ndarray) -> np.ndarray:
    """NaN or -inf (an SE that blew up) becomes the population's worst finite value."""
    finite = np.isfinite(values)
    floor = values[finite].min() if finite.any() else 0.0
    return np.where(finite, values, floor)


class NESMaster:
    def __init__(self, config: Config, evaluator: Evaluator, run_dir: Path, run_id: str, state: NESState | None = None):
        self.config, self.evaluator, self.run_dir, self.run_id = config, evaluator, Path(run_dir), run_id
        self.spec = real_env_spec(config.env)
        self.template = initial_nets(config, self.spec, template_seed(config))
        self.state = state or initial_state(config)
        self.hooks = []

    @property
    def latest_path(self) -> Path:
        return self.run_dir / "latest.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    def noise(self, iteration: int, member: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derive_seed(self.config.seed, iteration, member))
        return torch.randn(self.state.psi.shape, generator=generator) * self.config.nes.noise_std

    def tasks(self) -> list[MemberTask]:
        it = self.state.iteration
        return [MemberTask(run_id=self.run_id, iteration=it, member=i, seed=derive_seed(self.config.seed, it, i, 7),
                           psi=self.state.psi.clone(), eps=self.noise(it, i))
                for i in range(self.config.nes.population)]

    def run(self) -> NESState:
        nes = self.config.nes
        while self.state.iteration < nes.max_iterations and not (self.state.solved and nes.quit_when_solved):
            self.step()
        return self.state

    def step(self) -> dict:
        """One NES iteration, then a checkpoint."""
        nes, state = self.config.nes, self.state
        budget = state.time_budget if state.time_budget is not None else nes.time_max
        tasks = self.tasks()
        start = time.monotonic()
        results = sorted(self.evaluator.evaluate(tasks, budget), key=lambda r: r.member)
        wall = time.monotonic() - start
        self._check_results(results, tasks)

        raw_scores = np.array([r.score for r in results])
        scores = worst_to_floor(raw_scores)
        scores_orig = worst_to_floor(np.array([r.score_orig for r in results]))
        weights = score_transform(scores, scores_orig, nes.score_transform_type)
        if not np.isfinite(raw_scores).any():
            log.warning("iteration %d: no member produced a finite score; psi is left unchanged", state.iteration)
            weights = np.zeros_like(weights)
        signs = torch.tensor([-1.0 if r.flipped else 1.0 for r in results])
        eps = torch.stack([t.eps for t in tasks]) * signs[:, None]
        alpha = nes.step_size / nes.population if nes.nes_step_size else nes.step_size
        evaluated_psi = state.psi
        state.psi = evaluated_psi * (1 - nes.weight_decay) + alpha * (torch.from_numpy(weights).float() @ eps)

        mean_orig = float(scores_orig.mean())
        mean_test_orig = float(worst_to_floor(np.array([r.test_return_orig for r in results])).mean())
        improved = mean_test_orig >= self.spec.solved_reward and mean_orig > state.best_mean_score
        if improved:
            state.best_mean_score = mean_orig
            state.solved = True
            save_learned_env(self.best_path, self.config, self.template.with_flat(evaluated_psi[None]),
                             {"iteration": state.iteration, "mean_score_orig": mean_orig,
                              "mean_test_return_orig": mean_test_orig})
        failed = [r.member for r in results if r.failed]
        if failed:
            log.warning("iteration %d: members %s hit NaN/inf and were scored worst", state.iteration, failed)
        row = {"iteration": state.iteration, "wall_seconds": round(wall, 3), "mean_score_orig": mean_orig,
               "mean_test_return_orig": mean_test_orig,
               "max_score": float(scores.max()), "mean_score": float(scores.mean()),
               "mean_member_seconds": round(float(np.mean([r.seconds for r in results])), 3),
               "real_env_steps": int(sum(r.real_env_steps for r in results)),
               "synthetic_env_steps": int(sum(r.synthetic_steps for r in results)),
               "timed_out_members": sum(r.timed_out for r in results), "failed_members": len(failed),
               "saved_best": int(improved)}
        state.metrics.append(row)
        state.time_budget = nes.time_mult * float(np.mean([r.seconds for r in results]))
        state.elapsed_seconds += wall
        state.iteration += 1
        self.save_checkpoint()
        for hook in self.hooks:
            hook(row, state)
        return row

    def _check_results(self, results: list[MemberResult], tasks: list[MemberTask]) -> None:
        expected = [(t.run_id, t.iteration, t.member) for t in tasks]
        got = [(r.run_id, r.iteration, r.member) for r in results]
        if got != expected:
            raise RuntimeError(f"evaluator answered {len(got)} results that do not match the {len(expected)} tasks")

    def save_checkpoint(self) -> None:
        s = self.state
        atomic_torch_save({"kind": CHECKPOINT_KIND, "config": to_dict(self.config), "run_id": self.run_id,
                           "psi": s.psi, "iteration": s.iteration, "best_mean_score": s.best_mean_score,
                           "solved": s.solved, "time_budget": s.time_budget, "elapsed_seconds": s.elapsed_seconds,
                           "metrics": s.metrics}, self.latest_path)


def state_from_checkpoint(payload: dict) -> NESState:
    return NESState(psi=payload["psi"], iteration=payload["iteration"], best_mean_score=payload["best_mean_score"],
                    solved=payload["solved"], time_budget=payload["time_budget"],
                    elapsed_seconds=payload["elapsed_seconds"], metrics=list(payload["metrics"]))
