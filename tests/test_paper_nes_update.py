"""The paper's NES update as a pure function of psi, eps and made-up scores (no agent is trained).

Every value below is exact in float32 (halves and quarters), so the expected psi is written out.
"""
import math

import numpy as np
import torch

from common.rng import derive_seed
from nes.config import load_config
from nes.strategies import make_strategy
from nes.strategies.base import MemberScores, SearchState
from nes.strategies.paper_nes import paper_nes_update
from nes.tasks import MemberResult

PSI = torch.tensor([1.0, 2.0])
EPS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def made_up(scores, flipped=(False, False, False), scores_orig=(0.0, 0.0, 0.0), any_finite=True) -> MemberScores:
    return MemberScores(scores=np.array(scores, dtype=float), scores_orig=np.array(scores_orig, dtype=float),
                        flipped=np.array(flipped), any_finite=any_finite)


def test_linear_rank_weights_with_a_flipped_member_and_weight_decay():
    # weights [0.5, 0, 1]; member 0 is flipped: 0.5 * (0.5 * -[1, 0] + [1, 1]) = [0.25, 0.5]
    new = paper_nes_update(PSI, EPS, made_up([1.0, 0.0, 5.0], flipped=(True, False, False)),
                           transform_type=1, step_size=0.5, weight_decay=0.5)
    assert new.tolist() == [0.75, 1.5] and new.dtype == torch.float32


def test_single_best_moves_psi_along_the_best_member_only():
    new = paper_nes_update(PSI, EPS, made_up([3.0, 7.0, 5.0], flipped=(False, True, False)),
                           transform_type=4, step_size=0.25, weight_decay=0.0)
    assert new.tolist() == [1.0, 1.75]


def test_scores_that_do_not_beat_the_unperturbed_mean_leave_psi_where_it_is():
    new = paper_nes_update(PSI, EPS, made_up([1.0, 2.0, 3.0], scores_orig=(4.0, 4.0, 4.0)),
                           transform_type=7, step_size=1.0, weight_decay=0.0)
    assert new.tolist() == [1.0, 2.0]


def test_when_every_member_blew_up_only_weight_decay_applies():
    # Floored all-zero scores would still get NES utilities (ties rank by index); they are ignored.
    new = paper_nes_update(PSI, EPS, made_up([0.0, 0.0, 0.0], any_finite=False),
                           transform_type=3, step_size=1.0, weight_decay=0.25)
    assert new.tolist() == [0.75, 1.5]


def test_the_inputs_are_left_as_they_were():
    psi, eps = PSI.clone(), EPS.clone()
    paper_nes_update(psi, eps, made_up([1.0, 0.0, 5.0], flipped=(True, True, True)), 1, 0.5, 0.5)
    assert torch.equal(psi, PSI) and torch.equal(eps, EPS)


def config(*overrides):
    return load_config(None, ["nes.population=3", *overrides])


def test_tell_divides_the_step_size_by_the_population_with_nes_step_size():
    strategy = make_strategy(config("nes.nes_step_size=true", "nes.step_size=1.5", "nes.score_transform_type=1"))
    state = SearchState(psi=PSI.clone())
    new_state, health = strategy.tell(state, EPS, made_up([1.0, 0.0, 5.0]))
    # alpha = 1.5 / 3 = 0.5; weights [0.5, 0, 1] -> 0.5 * [1.5, 1] = [0.75, 0.5]
    assert new_state.psi.tolist() == [1.75, 2.5] and health == {}
    assert state.psi.tolist() == [1.0, 2.0], "tell returns a new state"


def test_ask_draws_each_members_eps_from_the_seed_the_iteration_and_the_member():
    strategy = make_strategy(config("nes.noise_std=0.5", "seed=4"))
    state = SearchState(psi=torch.zeros(20_000))
    eps = strategy.ask(state, iteration=3)
    assert eps.shape == (3, 20_000) and eps.dtype == torch.float32
    generator = torch.Generator().manual_seed(derive_seed(4, 3, 1))
    assert torch.equal(eps[1], torch.randn(20_000, generator=generator) * 0.5)
    assert abs(float(eps.std()) - 0.5) < 0.02
    assert torch.equal(eps, strategy.ask(SearchState(psi=torch.ones(20_000)), iteration=3)), "psi's values play no part"
    assert not torch.equal(eps, strategy.ask(state, iteration=4))
    assert not torch.equal(eps[0], eps[1])


def result(member, score, score_orig, flipped):
    return MemberResult(run_id="r", iteration=0, member=member, score=score, score_orig=score_orig,
                        test_return_orig=0.0, flipped=flipped, seconds=0.0, timed_out=False,
                        failed=not math.isfinite(score), real_env_steps=0, synthetic_steps=0)


def test_member_scores_floor_members_that_blew_up():
    scores = MemberScores.from_results([result(0, 3.0, 1.0, False), result(1, -math.inf, math.nan, True),
                                        result(2, 2.0, 4.0, False)])
    assert scores.scores.tolist() == [3.0, 2.0, 2.0] and scores.scores_orig.tolist() == [1.0, 1.0, 4.0]
    assert scores.flipped.tolist() == [False, True, False] and scores.any_finite
    assert not MemberScores.from_results([result(0, math.nan, 1.0, False)]).any_finite
