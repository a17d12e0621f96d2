"""psi after every NES iteration, bit for bit as the master computed it before it was split into
ask / evaluate / tell / record (the checksums were recorded from that code, commit 1fc5af8).

A made-up evaluator drives the master through what the update has to handle (flipped members, a
member that blew up, an iteration where every member did, a solved iteration that saves best.pt)
in milliseconds; one short run with the real batched evaluator checks the whole chain.
"""
import hashlib

import torch

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import NESMaster, state_from_checkpoint
from tests.helpers import TINY_OVERRIDES
from tests.made_up_evaluator import MadeUpEvaluator

COLUMNS = ["iteration", "wall_seconds", "mean_score_orig", "mean_test_return_orig", "max_score", "mean_score",
           "mean_member_seconds", "real_env_steps", "synthetic_env_steps", "timed_out_members", "failed_members",
           "saved_best"]


def checksum(psi: torch.Tensor) -> str:
    return hashlib.sha256(psi.numpy().tobytes()).hexdigest()[:16]


def psi_checksums(master: NESMaster) -> list[str]:
    seen = []
    master.hooks.append(lambda row, state: seen.append(checksum(state.psi)))
    master.run()
    return seen


def test_psi_after_each_iteration_with_made_up_scores(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, "nes.population=5", "nes.max_iterations=4", "nes.weight_decay=0.01",
                                "nes.quit_when_solved=false", "seed=11"])
    master = NESMaster(config, MadeUpEvaluator(), tmp_path, "run")
    assert checksum(master.state.psi) == "a38a46a3bd59cdb6"
    assert psi_checksums(master) == ["ab2bc38638527217", "8f8f726d12110150", "2787b3a418b071d7", "3cc51c06b29543db"]
    rows = master.state.metrics
    assert list(rows[0]) == COLUMNS
    assert [row["saved_best"] for row in rows] == [0, 1, 0, 0] and (tmp_path / "best.pt").is_file()
    assert [row["failed_members"] for row in rows] == [0, 0, 1, 5]
    assert master.state.best_mean_score == 2.2271633446216583
    assert master.state.time_budget == 1000 * 0.75


def test_psi_after_each_iteration_with_the_step_size_divided_and_transform_6(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, "nes.population=4", "nes.max_iterations=3", "nes.nes_step_size=true",
                                "nes.score_transform_type=6", "nes.quit_when_solved=false"])
    assert psi_checksums(NESMaster(config, MadeUpEvaluator(), tmp_path, "run")) == [
        "53b3d3eb9c320173", "88f01eef6fc80298", "9f146ab8a2287617"]


def test_psi_after_each_iteration_of_a_real_batched_run(tmp_path, tiny_config):
    assert psi_checksums(NESMaster(tiny_config, BatchedEvaluator(tiny_config), tmp_path, "run")) == [
        "3a771e052361ca53", "d58f5a59bb961019"]


def resumed_after_two_iterations(tmp_path, old_format: bool) -> str:
    """psi after iteration 4 of the made-up run, resumed from its latest.pt after iteration 2."""
    overrides = [*TINY_OVERRIDES, "nes.population=5", "nes.weight_decay=0.01", "nes.quit_when_solved=false", "seed=11"]
    NESMaster(load_config(None, overrides), MadeUpEvaluator(), tmp_path, "run").run()
    payload = torch.load(tmp_path / "latest.pt", weights_only=True)
    if old_format:   # what the master wrote before the search state was saved whole
        del payload["strategy"], payload["search_state"]
    config = load_config(payload["config"], ["nes.max_iterations=4"])
    master = NESMaster(config, MadeUpEvaluator(), tmp_path, "run", state_from_checkpoint(payload))
    return psi_checksums(master)[-1]


def test_a_run_resumed_from_its_checkpoint_ends_bit_identical(tmp_path):
    assert resumed_after_two_iterations(tmp_path, old_format=False) == "3cc51c06b29543db"


def test_a_checkpoint_without_a_search_state_resumes_as_the_paper_nes(tmp_path):
    assert resumed_after_two_iterations(tmp_path, old_format=True) == "3cc51c06b29543db"
