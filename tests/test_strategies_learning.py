"""Every strategy drives a real NES iteration, for an SE and for an RN, through the batched backend
and from ``nes.init_model``; the master knows neither which strategy nor which backend runs."""
import pytest
import torch

from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator, SerialEvaluator
from nes.master import NESMaster
from nes.strategies import STRATEGIES
from nes.sync_dir import RunPaths, read_results, write_results
from tests.helpers import REPO_ROOT, TINY_OVERRIDES
from tests.test_nes_master import saved_se

# cma_es and snes rank at least 4 samples; mirrored strategies count samples, two per member.
POPULATION = {"paper_nes": 2, "openai_es": 4, "pgpe": 4, "snes": 4, "cma_es": 4}
TINY_RN = ("nes.max_iterations=1", "nes.time_mult=1000", "agents.ql.train_episodes=5", "agents.ql.test_episodes=1")


def one_iteration(tmp_path, config) -> tuple[NESMaster, torch.Tensor]:
    master = NESMaster(config, BatchedEvaluator(config), tmp_path, "run")
    start = master.state.psi.clone()
    row = master.step()
    assert list(row)[-len(master.strategy.health_names) - 1:] == ["saved_best", *master.strategy.health_names]
    assert all(isinstance(row[name], float) for name in master.strategy.health_names)
    return master, start


@pytest.mark.parametrize("name", STRATEGIES)
def test_each_strategy_learns_an_se_for_one_iteration(tmp_path, name):
    config = load_config(None, [*TINY_OVERRIDES, f"nes.strategy={name}", f"nes.population={POPULATION[name]}",
                                "nes.max_iterations=1"])
    master, start = one_iteration(tmp_path, config)
    assert not torch.equal(master.state.psi, start) and (tmp_path / "latest.pt").is_file()


@pytest.mark.parametrize("name", STRATEGIES)
def test_each_strategy_learns_an_rn_for_one_iteration(tmp_path, name):
    config = load_config(REPO_ROOT / "default_config" / "cliffwalking_reward_env.yaml",
                         [*TINY_RN, f"nes.strategy={name}", f"nes.population={POPULATION[name]}"])
    master, start = one_iteration(tmp_path, config)
    assert not torch.equal(master.state.psi, start)


@pytest.mark.parametrize("name", ["openai_es", "cma_es"])
def test_a_strategy_starts_from_nes_init_model(tmp_path, tiny_config, name):
    nets = saved_se(tmp_path / "se.pt", tiny_config)
    config = load_config(None, [*TINY_OVERRIDES, f"nes.strategy={name}", f"nes.population={POPULATION[name]}",
                                f"nes.init_model={tmp_path / 'se.pt'}"])
    assert torch.equal(NESMaster(config, None, tmp_path, "run").state.psi, nets.to_flat()[0])


@pytest.mark.parametrize("name", ["pgpe"])
def test_serial_members_and_sync_dir_files_give_the_batched_results(tmp_path, name):
    """Both sides' scores of a mirrored strategy, the one side of the others, through the serial
    backend and through a files-backend results file."""
    config = load_config(None, [*TINY_OVERRIDES, f"nes.strategy={name}", f"nes.population={POPULATION[name]}"])
    tasks = NESMaster(config, None, tmp_path, "run").tasks()
    batched = BatchedEvaluator(config).evaluate(tasks, 600.0)
    serial = SerialEvaluator(config).evaluate(tasks, 600.0)
    assert [(r.score_plus, r.score_minus, r.score_orig) for r in serial] == [
        (r.score_plus, r.score_minus, r.score_orig) for r in batched]
    assert all((r.score_minus is not None) == STRATEGIES[name].always_mirrored for r in batched)
    paths = RunPaths(tmp_path / "sync", "run")
    paths.make()
    write_results(paths, batched, "w")
    read, _ = read_results(next(paths.results.iterdir()), "run", 0)
    assert read == batched


@pytest.mark.slow  # worker processes, a files-backend worker pair and a Dask LocalCluster
@pytest.mark.parametrize("backend", ["processes", "files", "dask"])
def test_every_backend_gives_the_batched_results_of_a_mirrored_strategy(tmp_path, backend):
    import dataclasses

    from nes.evaluators import make_evaluator

    config = load_config(None, [*TINY_OVERRIDES, "nes.strategy=openai_es", "nes.population=4"])
    tasks = NESMaster(config, None, tmp_path, "run").tasks()
    expected = [(r.score_plus, r.score_minus, r.score_orig) for r in BatchedEvaluator(config).evaluate(tasks, 600.0)]
    settings = dataclasses.replace(config.evaluator, backend=backend, workers=2, sync_dir=str(tmp_path / "sync"))
    evaluator = make_evaluator(dataclasses.replace(config, evaluator=settings), tmp_path)
    try:
        got = sorted(evaluator.evaluate(tasks, 600.0), key=lambda r: r.member)
    finally:
        evaluator.close()
    assert [(r.score_plus, r.score_minus, r.score_orig) for r in got] == expected
