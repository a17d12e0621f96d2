"""NESMaster: iterations, checkpoints, deterministic tasks and its starting point."""
import pytest
import torch

from common.errors import UserError
from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.evaluators.local import BatchedEvaluator
from nes.master import CHECKPOINT_KIND, NESMaster, initial_state, state_from_checkpoint
from nes.model_files import save_synthetic_env
from tests.helpers import TINY_OVERRIDES


def test_runs_max_iterations_and_checkpoints_each_one(tmp_path, tiny_config):
    master = NESMaster(tiny_config, BatchedEvaluator(tiny_config), tmp_path, "run")
    state = master.run()
    assert state.iteration == 2 and len(state.metrics) == 2
    payload = torch.load(tmp_path / "latest.pt", weights_only=False)
    assert payload["kind"] == CHECKPOINT_KIND and payload["iteration"] == 2
    assert torch.equal(payload["psi"], state.psi)
    assert [row["iteration"] for row in payload["metrics"]] == [0, 1]
    assert payload["metrics"][0]["synthetic_env_steps"] > 0


def test_a_checkpoint_restores_the_state(tmp_path, tiny_config):
    master = NESMaster(tiny_config, BatchedEvaluator(tiny_config), tmp_path, "run")
    master.step()
    restored = state_from_checkpoint(torch.load(master.latest_path, weights_only=False))
    assert torch.equal(restored.psi, master.state.psi)
    assert (restored.iteration, restored.metrics, restored.time_budget) == \
        (1, master.state.metrics, master.state.time_budget)


def test_tasks_depend_only_on_the_seed_and_the_iteration(tmp_path, tiny_config):
    first = NESMaster(tiny_config, None, tmp_path, "a").tasks()
    second = NESMaster(tiny_config, None, tmp_path, "b").tasks()
    assert [t.seed for t in first] == [t.seed for t in second]
    assert all(torch.equal(a.eps, b.eps) and torch.equal(a.psi, b.psi) for a, b in zip(first, second))
    assert not torch.equal(first[0].eps, first[1].eps)
    assert first[0].seed != first[1].seed
    other_seed = NESMaster(load_config(None, [*TINY_OVERRIDES, "seed=1"]), None, tmp_path, "c").tasks()
    assert not torch.equal(other_seed[0].eps, first[0].eps)
    assert not torch.equal(other_seed[0].psi, first[0].psi)


def test_the_checkpoint_holds_the_search_state_whole_and_loads_weights_only(tmp_path, tiny_config):
    master = NESMaster(tiny_config, BatchedEvaluator(tiny_config), tmp_path, "run")
    master.step()
    payload = torch.load(master.latest_path, weights_only=True)
    assert payload["strategy"] == "paper_nes" and payload["search_state"].keys() == {"psi"}
    assert torch.equal(payload["search_state"]["psi"], master.state.psi)
    assert torch.equal(payload["psi"], master.state.psi)


def saved_se(path, config, seed=5):
    """A saved SE of ``config``'s shape whose weights differ from any fresh start of the run."""
    se = config.synthetic_env
    nets = SyntheticEnvNets.initialise([seed], real_env_spec(config.env), se.hidden_size, se.hidden_layer, se.activation)
    save_synthetic_env(path, nets, 0, config, {})
    return nets


def test_a_run_starts_from_nes_init_model(tmp_path, tiny_config):
    nets = saved_se(tmp_path / "se.pt", tiny_config)
    config = load_config(None, [*TINY_OVERRIDES, f"nes.init_model={tmp_path / 'se.pt'}"])
    assert torch.equal(NESMaster(config, None, tmp_path, "run").state.psi, nets.to_flat()[0])
    assert not torch.equal(NESMaster(tiny_config, None, tmp_path, "run").state.psi, nets.to_flat()[0])


@pytest.mark.parametrize("overrides, message", [
    (["synthetic_env.hidden_size=7"], "has other synthetic_env settings than this run"),
    (["env=Acrobot-v1"], "was learned for CartPole-v0, but this run's env is Acrobot-v1"),
    (["learn=reward_env"], "holds a synthetic_env, but this run learns a reward_env"),
])
def test_an_init_model_that_does_not_fit_the_run_is_refused(overrides, message, tmp_path, tiny_config):
    saved_se(tmp_path / "se.pt", tiny_config)
    config = load_config(None, [*TINY_OVERRIDES, *overrides, f"nes.init_model={tmp_path / 'se.pt'}"])
    with pytest.raises(UserError, match=message):
        initial_state(config)
