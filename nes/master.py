"""The NES master: evolves the flat parameter vector psi of an SE or RN, one population per iteration.

One iteration (``step``) is four phases:
  ask       the search strategy (``nes.strategy``, ``nes/strategies/``) draws each member's eps_i
            from (run seed, iteration, member), and each becomes a member task;
  evaluate  the evaluator scores each member (score_orig on psi, the better of psi +- eps_i);
  tell      the strategy turns the scores into the next search state (the paper's NES:
            ``nes/strategies/paper_nes.py``), a pure function of state, eps and scores;
  record    best model, metrics row, time budget, checkpoint, hooks.
psi is saved as the best model when the agents trained with it reach the env's threshold on average
(mean test return of the score_orig agents) and its mean score_orig beats every earlier such
iteration; with ``nes.confirm_solved`` P fresh agents trained with it must reach it too. The master
never knows which backend evaluates the members, nor which strategy searches.
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
from nes.learned_envs import initial_nets, nets_from_psi, psi_of, save_learned_env, starting_nets
from nes.score_transforms import worst_to_floor
from nes.strategies import STRATEGIES, make_strategy
from nes.strategies.base import MemberScores, SearchState
from nes.tasks import MemberResult, MemberTask, member_seed

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "nes_checkpoint"


@dataclass
class NESState:
    """Everything needed to resume: no global RNG is involved, every draw derives from the seed."""

    search: SearchState          # the strategy's whole state, psi included
    iteration: int = 0
    best_mean_score: float = -math.inf
    solved: bool = False
    time_budget: float | None = None
    elapsed_seconds: float = 0.0
    metrics: list[dict] = field(default_factory=list)

    @property
    def psi(self) -> torch.Tensor:
        """The parameters the next iteration's members perturb."""
        return self.search.psi


def template_seed(config: Config) -> int:
    return derive_seed(config.seed, 0xE17)


def initial_state(config: Config) -> NESState:
    """A fresh run's state: psi from ``nes.init_model`` or fresh nets (a bad model file fails here)."""
    template = initial_nets(config, real_env_spec(config.env), template_seed(config))
    psi = psi_of(config, starting_nets(config, template))[0].clone()
    return NESState(search=make_strategy(config).initial_state(psi))


class NESMaster:
    def __init__(self, config: Config, evaluator: Evaluator, run_dir: Path, run_id: str, state: NESState | None = None):
        self.config, self.evaluator, self.run_dir, self.run_id = config, evaluator, Path(run_dir), run_id
        self.spec = real_env_spec(config.env)
        self.template = initial_nets(config, self.spec, template_seed(config))
        self.strategy = make_strategy(config)
        self.state = state or initial_state(config)
        self.hooks = []

    @property
    def latest_path(self) -> Path:
        return self.run_dir / "latest.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    def run(self) -> NESState:
        nes = self.config.nes
        while self.state.iteration < nes.max_iterations and not (self.state.solved and nes.quit_when_solved):
            self.step()
        return self.state

    def step(self) -> dict:
        """One NES iteration, then a checkpoint."""
        tasks = self.tasks()
        results, wall = self.evaluate(tasks)
        scores = MemberScores.from_results(results)
        evaluated_psi = self.state.psi   # tell replaces the search state and leaves this tensor as it is
        health = self.tell(torch.stack([t.eps for t in tasks]), scores)
        return self.record(evaluated_psi, results, scores, wall, health)

    def tasks(self) -> list[MemberTask]:
        """Ask: this iteration's member tasks, one per perturbation the strategy draws."""
        it, psi = self.state.iteration, self.state.psi
        eps = self.strategy.ask(self.state.search, it)
        return [MemberTask(run_id=self.run_id, iteration=it, member=i, seed=member_seed(self.config.seed, it, i),
                           psi=psi.clone(), eps=eps[i].clone())
                for i in range(len(eps))]

    def evaluate(self, tasks: list[MemberTask]) -> tuple[list[MemberResult], float]:
        """The backend's results in member order, and the wall seconds they took."""
        budget = self.state.time_budget if self.state.time_budget is not None else self.config.nes.time_max
        start = time.monotonic()
        results = sorted(self.evaluator.evaluate(tasks, budget), key=lambda r: r.member)
        wall = time.monotonic() - start
        self._check_results(results, tasks)
        return results, wall

    def tell(self, eps: torch.Tensor, scores: MemberScores) -> dict[str, float]:
        """Moves to the strategy's next search state; returns its health figures for the row."""
        if not scores.any_finite:
            log.warning("iteration %d: no member produced a finite score; the update ignores the scores",
                        self.state.iteration)
        self.state.search, health = self.strategy.tell(self.state.search, eps, scores)
        return health

    def record(self, evaluated_psi: torch.Tensor, results: list[MemberResult], scores: MemberScores,
               wall: float, health: dict[str, float]) -> dict:
        """Best model, metrics row, the next time budget, checkpoint and hooks for the iteration
        that evaluated ``evaluated_psi``."""
        nes, state = self.config.nes, self.state
        mean_orig = float(scores.scores_orig.mean())
        mean_test_orig = float(worst_to_floor(np.array([r.test_return_orig for r in results])).mean())
        improved = mean_test_orig >= self.spec.solved_reward and mean_orig > state.best_mean_score
        confirmation = {}
        if nes.confirm_solved:
            started = time.monotonic()
            confirmed = self.confirmation_test_return(evaluated_psi) if improved else math.nan
            wall += time.monotonic() - started
            improved = improved and confirmed >= self.spec.solved_reward
            confirmation = {"confirmation_test_return": confirmed}
        if improved:
            state.best_mean_score = mean_orig
            state.solved = True
            best = nets_from_psi(self.config, self.template, evaluated_psi[None])
            save_learned_env(self.best_path, self.config, best,
                             {"iteration": state.iteration, "mean_score_orig": mean_orig,
                              "mean_test_return_orig": mean_test_orig})
        failed = [r.member for r in results if r.failed]
        if failed:
            log.warning("iteration %d: members %s hit NaN/inf and were scored worst", state.iteration, failed)
        row = {"iteration": state.iteration, "wall_seconds": round(wall, 3), "mean_score_orig": mean_orig,
               "mean_test_return_orig": mean_test_orig,
               "max_score": float(scores.scores.max()), "mean_score": float(scores.scores.mean()),
               "mean_member_seconds": round(float(np.mean([r.seconds for r in results])), 3),
               "real_env_steps": int(sum(r.real_env_steps for r in results)),
               "synthetic_env_steps": int(sum(r.synthetic_steps for r in results)),
               "timed_out_members": sum(r.timed_out for r in results), "failed_members": len(failed),
               "saved_best": int(improved), **confirmation, **health}
        state.metrics.append(row)
        state.time_budget = nes.time_mult * float(np.mean([r.seconds for r in results]))
        state.elapsed_seconds += wall
        state.iteration += 1
        self.save_checkpoint()
        for hook in self.hooks:
            hook(row, state)
        return row

    def confirmation_test_return(self, psi: torch.Tensor) -> float:
        """Mean real-env test return of P fresh agents trained with ``psi``: tasks without a
        perturbation, numbered after the iteration's members so their agents' seeds are new."""
        it, population = self.state.iteration, self.config.nes.population
        tasks = [MemberTask(run_id=self.run_id, iteration=it, member=population + i,
                            seed=member_seed(self.config.seed, it, population + i), psi=psi.clone(),
                            eps=torch.zeros_like(psi)) for i in range(population)]
        results, _ = self.evaluate(tasks)
        confirmed = float(worst_to_floor(np.array([r.test_return_orig for r in results])).mean())
        log.info("iteration %d: psi passed; %d fresh agents trained with it: %.1f", it, population, confirmed)
        return confirmed

    def _check_results(self, results: list[MemberResult], tasks: list[MemberTask]) -> None:
        expected = [(t.run_id, t.iteration, t.member) for t in tasks]
        got = [(r.run_id, r.iteration, r.member) for r in results]
        if got != expected:
            raise RuntimeError(f"evaluator answered {len(got)} results that do not match the {len(expected)} tasks")

    def save_checkpoint(self) -> None:
        """latest.pt: plain dicts, tensors and scalars only (``torch.load(weights_only=True)`` reads it)."""
        s = self.state
        # "psi" repeats the search state's psi for readers that want the model (zoo, compare_reward_envs);
        # torch.save stores the shared tensor once.
        atomic_torch_save({"kind": CHECKPOINT_KIND, "config": to_dict(self.config), "run_id": self.run_id,
                           "psi": s.psi, "strategy": self.strategy.name, "search_state": s.search.to_dict(),
                           "iteration": s.iteration, "best_mean_score": s.best_mean_score,
                           "solved": s.solved, "time_budget": s.time_budget, "elapsed_seconds": s.elapsed_seconds,
                           "metrics": s.metrics}, self.latest_path)


def state_from_checkpoint(payload: dict) -> NESState:
    # Checkpoints from before the search state was saved whole (commit 1fc5af8 and earlier) hold
    # psi alone, which is all of the paper NES's state.
    strategy = STRATEGIES[payload.get("strategy", "paper_nes")]
    search = strategy.State.from_dict(payload.get("search_state", {"psi": payload["psi"]}))
    return NESState(search=search, iteration=payload["iteration"], best_mean_score=payload["best_mean_score"],
                    solved=payload["solved"], time_budget=payload["time_budget"],
                    elapsed_seconds=payload["elapsed_seconds"], metrics=list(payload["metrics"]))
