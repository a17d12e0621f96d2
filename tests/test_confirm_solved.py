"""nes.confirm_solved: a psi whose agents pass counts as solved only if as many fresh agents pass."""
import dataclasses
import math

import pytest

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster
from tests.helpers import TINY_OVERRIDES

POPULATION = 3


class EvaluatorWithSetTestReturns(BatchedEvaluator):
    """The real batched evaluator; then every iteration member's agents on psi are said to return
    200 (CartPole's threshold is 195) and every confirmation agent ``fresh_return``."""

    def __init__(self, config, fresh_return: float):
        super().__init__(config)
        self.fresh_return, self.members_asked = fresh_return, []

    def evaluate(self, tasks, time_budget):
        self.members_asked.append([t.member for t in tasks])
        return [dataclasses.replace(r, test_return_orig=200.0 if r.member < POPULATION else self.fresh_return)
                for r in super().evaluate(tasks, time_budget)]


@pytest.mark.parametrize("fresh_return, solved", [(199.0, True), (150.0, False)])
def test_a_passing_psi_is_solved_only_if_fresh_agents_pass_too(tmp_path, fresh_return, solved):
    config = load_config(None, [*TINY_OVERRIDES, f"nes.population={POPULATION}", "nes.confirm_solved=true"])
    evaluator = EvaluatorWithSetTestReturns(config, fresh_return)
    master = NESMaster(config, evaluator, tmp_path, "run")
    row = master.step()
    assert evaluator.members_asked == [[0, 1, 2], [3, 4, 5]]   # the iteration, then its confirmation
    assert row["confirmation_test_return"] == fresh_return
    assert (master.state.solved, row["saved_best"], (tmp_path / "best.pt").exists()) == (solved, int(solved), solved)


def test_without_confirmation_a_passing_psi_is_solved_at_once(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, f"nes.population={POPULATION}"])
    evaluator = EvaluatorWithSetTestReturns(config, math.nan)
    row = NESMaster(config, evaluator, tmp_path, "run").step()
    assert evaluator.members_asked == [[0, 1, 2]] and row["saved_best"] == 1 and "confirmation_test_return" not in row
