"""Every registered search strategy: it minimises test functions within a fixed evaluation budget,
its shaping functions give the sources' exact values, a resumed run ends bit-identical, and its
settings and population are checked as the config loads. (The paper NES's psi, bit for bit as
before the strategies existed, is ``test_nes_trajectory.py``.)"""
import hashlib
import math

import numpy as np
import pytest
import torch

from common.errors import UserError
from nes.config import load_config
from nes.master import NESMaster, state_from_checkpoint
from nes.strategies import STRATEGIES, make_strategy, mirrored_sampling
from nes.strategies.base import MemberScores
from nes.strategies.cma_es import CMAConstants
from nes.strategies.shaping import by_rank, centered_ranks, cma_weights, nes_utilities
from nes.tasks import MemberResult
from tests.helpers import TINY_OVERRIDES

DIM = 300
SHIFT = torch.rand(DIM, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1

# Settings for unit-scaled test functions (each strategy's defaults are for SE and RN weights).
SETTINGS = {
    "paper_nes": ["nes.population=16", "nes.noise_std=0.05", "nes.step_size=0.1"],
    "openai_es": ["nes.population=32", "nes.openai_es.sigma=0.05", "nes.openai_es.learning_rate=0.02",
                  "nes.openai_es.l2coeff=0"],
    "pgpe": ["nes.population=32", "nes.pgpe.center_learning_rate=0.05", "nes.pgpe.max_speed=0.1"],
    "snes": ["nes.population=32", "nes.snes.sigma_init=0.1"],
    "cma_es": ["nes.population=32", "nes.cma_es.sigma_init=0.1"],
}


def sphere(x: torch.Tensor) -> np.ndarray:
    return ((x.double() - SHIFT) ** 2).sum(-1).numpy()


def rastrigin(x: torch.Tensor) -> np.ndarray:
    """Rastrigin with amplitude 1 (instead of 10), shifted: local minima at every integer offset."""
    d = x.double() - SHIFT
    return (d * d + 1 - torch.cos(2 * math.pi * d)).sum(-1).numpy()


def scores_of(f, psi, eps, mirrored: bool) -> MemberScores:
    plus = -f(psi + eps)
    minus = -f(psi - eps) if mirrored else None
    return MemberScores(scores=np.maximum(plus, minus) if mirrored else plus, scores_orig=np.zeros(len(eps)),
                        flipped=minus > plus if mirrored else np.zeros(len(eps), dtype=bool), any_finite=True,
                        scores_plus=plus, scores_minus=minus)


def minimise(name: str, f, evaluations: int, overrides=(), dim: int = DIM) -> float:
    """f at the strategy's psi after ``evaluations`` calls of f, from psi = 0."""
    config = load_config(None, [f"nes.strategy={name}", *SETTINGS[name], *overrides])
    strategy, mirrored = make_strategy(config), mirrored_sampling(config)
    state, used, iteration = strategy.initial_state(torch.zeros(dim)), 0, 0
    while used < evaluations:
        eps = strategy.ask(state, iteration)
        state, health = strategy.tell(state, eps, scores_of(f, state.psi, eps, mirrored))
        assert list(health) == list(strategy.health_names)
        used, iteration = used + len(eps) * (2 if mirrored else 1), iteration + 1
    return float(f(state.psi[None])[0])


@pytest.mark.parametrize("name", STRATEGIES)
def test_each_strategy_minimises_a_shifted_sphere_and_rastrigin_in_300_dimensions(name):
    # From f(0) = 96 and 398; 10,000 evaluations each.
    assert minimise(name, sphere, 10_000) < 10
    assert minimise(name, rastrigin, 10_000) < 180


def test_cma_es_with_a_full_covariance_learns_an_ill_conditioned_ellipsoid():
    scales = torch.logspace(0, 2, 10, dtype=torch.float64)

    def ellipsoid(x):
        return (((x.double() - 1) * scales) ** 2).sum(-1).numpy()

    config = load_config(None, ["nes.strategy=cma_es", "nes.population=10", "nes.cma_es.sigma_init=0.5"])
    strategy = make_strategy(config)
    state = strategy.initial_state(torch.zeros(10))
    assert state.cov.shape == (10, 10)
    for iteration in range(400):
        eps = strategy.ask(state, iteration)
        state, health = strategy.tell(state, eps, scores_of(ellipsoid, state.psi, eps, mirrored=False))
    assert ellipsoid(state.psi[None])[0] < 1e-6 and health["axis_ratio"] > 30   # C learnt the 100:1 axes


def test_centered_ranks_exact_values():
    assert centered_ranks(np.array([3.0, -1.0, 7.0, 5.0, 0.0])).tolist() == [0.0, -0.5, 0.5, 0.25, -0.25]
    assert centered_ranks(np.array([2.0, 2.0])).tolist() == [-0.5, 0.5]   # ties: the lower index ranks lower
    assert centered_ranks(np.array([4.0])).tolist() == [0.0]


def test_nes_utilities_exact_values():
    # lam = 4: max(0, ln 3 - ln k) = [ln 3, ln 1.5, 0, 0], normalised, minus 1/4.
    expected = np.array([math.log(3), math.log(1.5), 0, 0]) / math.log(4.5) - 0.25
    np.testing.assert_allclose(nes_utilities(4), expected, rtol=0, atol=1e-15)
    assert abs(nes_utilities(10).sum()) < 1e-15
    assert by_rank(np.array([0.5, 0.3, -0.8]), np.array([1.0, 9.0, 4.0])).tolist() == [-0.8, 0.5, 0.3]


# pycma 4.5.0's values (cma.CMAEvolutionStrategy(x0, 0.5, {"popsize": lam, "CMA_active": False,
# "AdaptSigma": CMAAdaptSigmaCSA}): sp.weights.mueff, adapt_sigma.cs, .damps, sp.cc, c1, cmu,
# cc_sep, c1_sep, cmu_sep); d_s (damps) only where pycma's newer formula equals the tutorial's.
PYCMA = {
    (10, 10): (3.1672992814107017, 0.3196142529106334, 1.3196142529106334, 0.29499038303562225,
               0.015283824524751714, 0.02355177665041747, 0.3636615460252773, 0.0600915124684537,
               0.07151581831113847),
    (300, 24): (7.02637555759215, 0.029114863344636182, 1.029114863344636, 0.013232899308301318,
                2.2029169260712734e-05, 0.00011881669705220945, 0.05910847208721403, 0.0029880677127193623,
                0.014535316314295776),
    (5, 4): (1.4597898888525862, 0.3657364412426962, None, 0.4478292586955627, 0.032401947541766944,
             0.015648895108250273, 0.4940284487766342, 0.10241605692094131, 0.026905785077565112),
}


def our_constants(d: int, lam: int) -> tuple:
    k, sep = CMAConstants.of(d, lam, diagonal=False), CMAConstants.of(d, lam, diagonal=True)
    return (k.mu_eff, k.c_sigma, k.d_sigma, k.c_c, k.c_1, k.c_mu, sep.c_c, sep.c_1, sep.c_mu)


@pytest.mark.parametrize("d, lam", PYCMA)
def test_cma_constants_are_pycmas(d, lam):
    for ours, theirs in zip(our_constants(d, lam), PYCMA[d, lam]):
        assert theirs is None or ours == pytest.approx(theirs, rel=1e-14)


def test_cma_weights_are_pycmas_positive_weights():
    # Hansen's tutorial eq. 49 for lam = 10: mu = 5 weights prop. to ln 5.5 - ln i, as pycma's.
    raw = np.array([math.log(5.5) - math.log(i) for i in range(1, 6)])
    np.testing.assert_allclose(cma_weights(10), raw / raw.sum(), rtol=1e-15)
    np.testing.assert_allclose(cma_weights(10), [0.45627265, 0.2707531, 0.16223112, 0.08523355, 0.02550959],
                               atol=5e-9)


def test_cma_constants_match_an_installed_pycma():
    cma = pytest.importorskip("cma")   # not a dependency: the recorded values above stand in for it
    for d, lam in PYCMA:
        es = cma.CMAEvolutionStrategy(np.zeros(d), 0.5, {"popsize": lam, "CMA_active": False, "verbose": -9,
                                                         "AdaptSigma": cma.sigma_adaptation.CMAAdaptSigmaCSA})
        sp = es.sp
        theirs = (sp.weights.mueff, es.adapt_sigma.cs, sp.cc, sp.c1, sp.cmu, sp.cc_sep, sp.c1_sep, sp.cmu_sep)
        ours = our_constants(d, lam)
        assert ours[:2] + ours[3:] == pytest.approx(theirs, rel=1e-14)
        np.testing.assert_allclose(np.asarray(sp.weights)[:lam // 2], cma_weights(lam), rtol=1e-14)


class SphereEvaluator:
    """Members scored by minus a sphere at psi and psi +- eps, in microseconds (never solved)."""

    def __init__(self, mirrored: bool):
        self.mirrored = mirrored

    def evaluate(self, tasks, time_budget):
        out = []
        def score(x):
            return -float((x.double() - 0.1).pow(2).sum())

        for t in tasks:
            plus, minus = score(t.psi + t.eps), score(t.psi - t.eps) if self.mirrored else None
            flipped = minus is not None and minus > plus
            orig = score(t.psi)
            out.append(MemberResult(run_id=t.run_id, iteration=t.iteration, member=t.member,
                                    score=minus if flipped else plus, score_orig=orig, test_return_orig=orig,
                                    flipped=flipped, seconds=0.0, timed_out=False, failed=False, real_env_steps=0,
                                    synthetic_steps=0, score_plus=plus, score_minus=minus))
        return out

    def close(self):
        pass


def state_digest(master: NESMaster) -> str:
    blob = hashlib.sha256()
    for key, value in master.state.search.to_dict().items():
        blob.update(key.encode() + (value.numpy().tobytes() if torch.is_tensor(value) else repr(value).encode()))
    return blob.hexdigest()


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_resumed_run_ends_bit_identical_with_the_whole_state_in_latest_pt(tmp_path, name):
    overrides = [*TINY_OVERRIDES, f"nes.strategy={name}", "nes.population=4", "nes.quit_when_solved=false"]
    config = load_config(None, [*overrides, "nes.max_iterations=4"])
    evaluator = SphereEvaluator(mirrored_sampling(config))
    (tmp_path / "whole").mkdir(), (tmp_path / "cut").mkdir()
    whole = NESMaster(config, evaluator, tmp_path / "whole", "run")
    whole.run()
    NESMaster(load_config(None, [*overrides, "nes.max_iterations=2"]), evaluator, tmp_path / "cut", "run").run()
    payload = torch.load(tmp_path / "cut" / "latest.pt", weights_only=True)
    assert payload["strategy"] == name
    resumed = NESMaster(load_config(payload["config"], ["nes.max_iterations=4"]), evaluator, tmp_path / "cut", "run",
                        state_from_checkpoint(payload))
    resumed.run()
    assert state_digest(resumed) == state_digest(whole)
    strip = [{k: v for k, v in row.items() if k != "wall_seconds"} for row in whole.state.metrics]
    assert [{k: v for k, v in row.items() if k != "wall_seconds"} for row in resumed.state.metrics] == strip
    assert list(whole.state.metrics[0])[-len(STRATEGIES[name].health_names) - 1:] == [
        "saved_best", *STRATEGIES[name].health_names]


@pytest.mark.parametrize("overrides, message", [
    (["nes.strategy=evolution"], "choose one of paper_nes, openai_es, pgpe, snes, cma_es"),
    (["nes.strategy=snes", "nes.pgpe.max_speed=1"], "nes.pgpe.max_speed is set but nes.strategy is snes"),
    (["nes.openai_es.sigma=0.1"], "nes.openai_es.sigma is set but nes.strategy is paper_nes"),
    (["nes.strategy=openai_es", "nes.openai_es.sigma=0"], "it must be > 0.0"),
    (["nes.strategy=pgpe", "nes.pgpe.sigma_init=-1"], "it must be > 0.0"),
    (["nes.strategy=cma_es", "nes.population=3"], "too small for nes.strategy cma_es"),
    (["nes.strategy=openai_es", "nes.population=1"], "too small for nes.strategy openai_es"),
    (["nes.strategy=pgpe", "nes.population=5"], "nes.population 5 is odd"),
])
def test_bad_strategy_settings_are_one_line_errors(overrides, message):
    with pytest.raises(UserError, match=message) as error:
        load_config(None, overrides)
    assert "\n" not in str(error.value)


def test_a_saved_config_with_every_section_at_its_defaults_loads_for_any_strategy():
    from common.schema import to_dict

    saved = to_dict(load_config(None, ["nes.strategy=pgpe", "nes.pgpe.max_speed=0.5"]))
    assert load_config(saved).nes.pgpe.max_speed == 0.5 and "cma_es" in saved["nes"]


@pytest.mark.parametrize("name", STRATEGIES)
def test_mirrored_strategies_run_half_as_many_members_as_samples(name):
    config = load_config(None, [f"nes.strategy={name}", "nes.population=8"])
    eps = make_strategy(config).ask(make_strategy(config).initial_state(torch.zeros(5)), 0)
    assert eps.dtype == torch.float32 and eps.shape == (4 if STRATEGIES[name].always_mirrored else 8, 5)


def test_a_bohb_space_tunes_the_strategy_and_each_strategy_s_settings_only_in_its_own_samples():
    from tuning.compat import PlainConfigGenerator
    from tuning.space import SearchSpace

    space = SearchSpace({"base_config": "default_config/cartpole_synthetic_env.yaml", "hyperparameters": {
        "nes.strategy": {"type": "categorical", "choices": ["paper_nes", "pgpe", "cma_es"]},
        "nes.pgpe.max_speed": {"type": "float", "low": 0.05, "high": 1, "log": True},
        "nes.cma_es.sigma_init": {"type": "float", "low": 0.01, "high": 0.2, "log": True}}}, "space")
    assert space.default_sample() == {"nes.strategy": "paper_nes"}
    generator = PlainConfigGenerator(configspace=space.configspace(seed=0))
    seen = set()
    for _ in range(12):
        sample, _info = generator.get_config(1)
        config = space.config(sample, 1)
        seen.add(config.nes.strategy)
        assert {key.split(".")[1] for key in sample if key != "nes.strategy"} <= {config.nes.strategy}
    assert seen == {"paper_nes", "pgpe", "cma_es"}


def test_a_space_tuning_settings_of_a_strategy_it_never_picks_is_refused():
    from tuning.space import SearchSpace

    with pytest.raises(UserError, match="belongs to strategy 'snes'"):
        SearchSpace({"hyperparameters": {"nes.strategy": {"type": "categorical", "choices": ["pgpe", "cma_es"]},
                                         "nes.snes.sigma_init": {"type": "float", "low": 0.01, "high": 0.2}}}, "space")
