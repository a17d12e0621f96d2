"""A strategy plugs into the NES master through its registry alone: the master asks it for eps,
tells it the scores, saves its whole state in latest.pt and puts its health figures in the row."""
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from nes.config import load_config
from nes.master import NESMaster, state_from_checkpoint
from nes.strategies import STRATEGIES
from nes.strategies.base import SearchState, Strategy
from tests.helpers import TINY_OVERRIDES
from tests.made_up_evaluator import MadeUpEvaluator


@dataclass(frozen=True)
class HalvingState(SearchState):
    sigma: torch.Tensor   # (D,) per-parameter step
    tells: int


class HalvingStrategy(Strategy):
    """Steps psi along the best member's eps and halves sigma: state beyond psi, and health."""

    name = "paper_nes"   # registered under the default name, so no config key has to change
    State = HalvingState

    def __init__(self, config):
        self.population = config.nes.population

    def initial_state(self, psi):
        return HalvingState(psi=psi, sigma=torch.ones_like(psi), tells=0)

    def ask(self, state, iteration):
        return torch.stack([state.sigma * (member + 1) * (-1) ** iteration for member in range(self.population)])

    def tell(self, state, eps, scores):
        best = eps[int(np.argmax(scores.scores))]
        new = HalvingState(psi=state.psi + best, sigma=state.sigma / 2, tells=state.tells + 1)
        return new, {"sigma_mean": float(new.sigma.mean())}


@pytest.fixture
def halving(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "paper_nes", HalvingStrategy)


def test_the_master_runs_a_registered_strategy_and_checkpoints_its_whole_state(tmp_path, halving):
    config = load_config(None, [*TINY_OVERRIDES, "nes.quit_when_solved=false"])
    master = NESMaster(config, MadeUpEvaluator(), tmp_path, "run")
    start = master.state.psi.clone()
    master.run()
    assert [row["sigma_mean"] for row in master.state.metrics] == [0.5, 0.25]
    assert list(master.state.metrics[0])[-2:] == ["saved_best", "sigma_mean"]
    # The made-up score grows with eps: iteration 0's best is member 1 (eps 2 * sigma 1), iteration
    # 1's (eps negated) member 0 (eps -1 * sigma 0.5).
    assert torch.equal(master.state.psi, start + 2 - 0.5)
    restored = state_from_checkpoint(torch.load(tmp_path / "latest.pt", weights_only=True))
    assert isinstance(restored.search, HalvingState) and restored.search.tells == 2
    assert torch.equal(restored.search.sigma, master.state.search.sigma)
    assert torch.equal(restored.psi, master.state.psi)
