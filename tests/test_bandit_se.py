"""A bandit SE is a full citizen: saved and loaded, made by gymnasium id, evaluated, drawn.

Both SE kinds as gymnasium envs declare the real env's spaces and spec facts and keep their states
inside the real env's observation bounds.
"""
import csv
import json
import logging

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from common.errors import UserError
from common.schema import to_dict
from envs.bandit import BanditEnv
from envs.bandit_vec import BanditVecEnv
from envs.initial_states import InitialStateSampler
from envs.real import make_real_env, real_env_spec
from envs.synthetic import SyntheticEnv
from envs.synthetic_vec import SyntheticVecEnv
from experiments import zoo
from experiments.figures.__main__ import main as figures_main
from models.bandit_env_nets import BanditEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config, save_config  # importing nes registers the SynthEnv ids
from nes.fixed_env_training import train_in_fixed_envs
from nes.model_files import load_model, load_synthetic_env, save_synthetic_env
from nes.tasks import FixedEnvTask
from tests.helpers import EVALUATION_SETS, run_entry_point

SYNTHETIC_ID = "SynthEnv/Synthetic-v0"


def se_config(env: str, *sets):
    """The tiny budgets of ``EVALUATION_SETS``, with an agent that acts in ``env``."""
    agent = "ddqn" if real_env_spec(env).discrete_actions else "td3"
    return load_config(None, [f"env={env}", f"agent={agent}", *EVALUATION_SETS, *sets])


def bandit_config(env="CartPole-v0", extra=()):
    return se_config(env, "synthetic_env.kind=bandit", *extra)


def bandit_nets(env="CartPole-v0", seeds=(3,)) -> BanditEnvNets:
    return BanditEnvNets.initialise(list(seeds), real_env_spec(env), 16, 1, "leakyrelu")


def saved_bandit(path, env="CartPole-v0") -> BanditEnvNets:
    """A freshly initialised bandit SE (hidden size 16, tiny agent budgets) saved at ``path``."""
    nets = bandit_nets(env)
    save_synthetic_env(path, nets, 0, bandit_config(env), {})
    return nets


def saved_mdp(path, env="CartPole-v0") -> SyntheticEnvNets:
    nets = SyntheticEnvNets.initialise([3], real_env_spec(env), 16, 1, "leakyrelu")
    save_synthetic_env(path, nets, 0, se_config(env), {})
    return nets


def test_a_saved_bandit_se_loads_with_identical_outputs(tmp_path):
    nets = saved_bandit(tmp_path / "bandit.pt")
    kind, loaded, config = load_model(tmp_path / "bandit.pt")
    assert (kind, type(loaded), config.synthetic_env.kind) == ("synthetic_env", BanditEnvNets, "bandit")
    assert torch.equal(loaded.to_flat(), nets.to_flat())
    latents = torch.randn(1, 50, loaded.latent_dim, generator=torch.Generator().manual_seed(0))
    states = loaded.start_states(latents)
    assert torch.equal(states, nets.start_states(latents))
    actions = torch.randint(0, 2, (1, 50), generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded.rewards(actions, states), nets.rewards(actions, states))


def test_reward_scale_multiplies_the_rewards_and_a_saved_bandit_keeps_it(tmp_path):
    nets = bandit_nets()
    config = bandit_config(extra=["synthetic_env.reward_scale=10"])
    scaled = BanditEnvNets.initialise([3], real_env_spec("CartPole-v0"), 16, 1, "leakyrelu", reward_scale=10.0)
    save_synthetic_env(tmp_path / "scaled.pt", scaled, 0, config, {})
    _, loaded, _ = load_model(tmp_path / "scaled.pt")
    states = nets.start_states(torch.randn(1, 20, nets.latent_dim, generator=torch.Generator().manual_seed(0)))
    actions = torch.ones(1, 20, dtype=torch.long)
    torch.testing.assert_close(loaded.rewards(actions, states), nets.rewards(actions, states) * 10)


def test_reward_scale_on_an_mdp_se_is_refused_in_one_line():
    with pytest.raises(UserError, match="reward_scale applies to bandit SEs"):
        se_config("CartPole-v0", "synthetic_env.reward_scale=2")


def test_the_config_of_a_saved_bandit_says_its_kind(tmp_path):
    saved_bandit(tmp_path / "bandit.pt")
    payload = torch.load(tmp_path / "bandit.pt", weights_only=True)
    assert payload["config"]["synthetic_env"]["kind"] == "bandit"
    assert sorted({key.split(".")[1] for key in payload["model"]}) == ["reward_net", "start_net"]
    assert to_dict(load_synthetic_env(tmp_path / "bandit.pt")[1]) == payload["config"]


def test_a_file_without_a_kind_loads_as_an_mdp_se(tmp_path):
    saved_mdp(tmp_path / "se.pt")
    payload = torch.load(tmp_path / "se.pt", weights_only=True)
    del payload["config"]["synthetic_env"]["kind"]   # what files saved before bandit SEs hold
    torch.save(payload, tmp_path / "old.pt")
    nets, config = load_synthetic_env(tmp_path / "old.pt")
    assert isinstance(nets, SyntheticEnvNets) and config.synthetic_env.kind == "mdp"


def one_line_error(path) -> str:
    with pytest.raises(UserError) as caught:
        load_synthetic_env(path)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_bandit_file_with_other_weights_than_its_config_is_one_line(tmp_path):
    saved_mdp(tmp_path / "se.pt")
    payload = torch.load(tmp_path / "se.pt", weights_only=True)
    payload["config"]["synthetic_env"]["kind"] = "bandit"   # MDP weights, bandit config
    torch.save(payload, tmp_path / "mixed.pt")
    assert "does not match its config (bandit SE, start_net" in one_line_error(tmp_path / "mixed.pt")
    saved_bandit(tmp_path / "bandit.pt")
    payload = torch.load(tmp_path / "bandit.pt", weights_only=True)
    payload["config"]["synthetic_env"]["hidden_size"] = 32
    torch.save(payload, tmp_path / "wider.pt")
    assert "does not match its config (bandit SE" in one_line_error(tmp_path / "wider.pt")
    del payload["config"]["synthetic_env"]["kind"]   # bandit weights read as an MDP SE
    torch.save(payload, tmp_path / "unkinded.pt")
    assert "does not match its config (mdp SE, state_net" in one_line_error(tmp_path / "unkinded.pt")


def test_a_corrupt_bandit_file_is_one_line_also_through_gym_make(tmp_path):
    saved_bandit(tmp_path / "bandit.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "bandit.pt").read_bytes()[:300])
    one_line_error(tmp_path / "cut.pt")
    with pytest.raises(UserError, match="cut.pt") as caught:
        gym.make(SYNTHETIC_ID, model=str(tmp_path / "cut.pt"))
    assert "\n" not in str(caught.value)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kind", ["bandit", "mdp"])
@pytest.mark.parametrize("env_id", ["CartPole-v0", "Acrobot-v1", "Pendulum-v1"])
def test_either_kind_made_by_id_passes_check_env_and_has_the_real_envs_spaces_and_spec(kind, env_id, tmp_path):
    (saved_bandit if kind == "bandit" else saved_mdp)(tmp_path / "se.pt", env_id)
    env = gym.make(SYNTHETIC_ID, model=str(tmp_path / "se.pt"))
    assert isinstance(env.unwrapped, BanditEnv if kind == "bandit" else SyntheticEnv)
    check_env(env.unwrapped, skip_render_check=True)
    real, spec = make_real_env(env_id), real_env_spec(env_id)
    assert env.observation_space == real.observation_space and env.action_space == real.action_space
    assert (env.spec.max_episode_steps, env.spec.reward_threshold) == (spec.max_steps, spec.solved_reward)
    assert env.spec.id == SYNTHETIC_ID
    real.close()


def test_a_bandit_episode_is_one_step_from_a_start_state_of_its_latent():
    nets = bandit_nets()
    env = BanditEnv(nets, "CartPole-v0")
    obs, _ = env.reset(seed=7)
    assert np.array_equal(obs, env.reset(seed=7)[0])
    # gymnasium seeds np_random as numpy's default_rng(seed) does
    latent = np.random.default_rng(7).standard_normal(nets.latent_dim).astype(np.float32)
    assert np.array_equal(obs, nets.start_states(torch.from_numpy(latent).reshape(1, 1, -1)).reshape(-1).numpy())
    next_obs, reward, terminated, truncated, _ = env.step(1)
    assert (terminated, truncated) == (True, False) and np.array_equal(next_obs, obs)
    assert reward == float(nets.rewards(torch.tensor([[1]]), torch.from_numpy(obs).reshape(1, 1, -1)))


@pytest.mark.parametrize("env_id", ["CartPole-v0", "Pendulum-v1"])
def test_the_gym_bandit_pays_what_the_batched_one_pays_for_the_same_state_and_action(env_id):
    nets, spec = bandit_nets(env_id, seeds=(1, 2, 3)), real_env_spec(env_id)
    env = BanditEnv(nets, env_id, member=2)
    batched = BanditVecEnv(nets, spec, seeds=[10, 11, 12])
    batched.reset()
    env.action_space.seed(0)
    for episode in range(5):
        obs, _ = env.reset(seed=episode)
        action = env.action_space.sample()
        batched.states[:] = torch.from_numpy(obs)
        actions = (torch.full((3, 1), int(action)) if spec.discrete_actions
                   else torch.from_numpy(action).expand(3, 1, -1))
        _, rewards, terminated, *_ = batched.step(actions)
        assert terminated.all() and env.step(action)[1] == float(rewards[2, 0])


def test_bandit_start_states_are_clipped_into_the_real_bounds_where_finite():
    nets = bandit_nets("CartPole-v0")
    nets.nets["start_net"].biases[-1].fill_(1e4)
    env = BanditEnv(nets, "CartPole-v0")
    obs, _ = env.reset(seed=0)
    high = real_env_spec("CartPole-v0").state_high
    assert obs[0] == np.float32(high[0]) and obs[2] == np.float32(high[2])   # cart position, pole angle
    assert obs[1] > 1e3 and obs[3] > 1e3                                      # the velocities are unbounded
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", ["CartPole-v0", "Acrobot-v1"])
def test_mdp_se_states_are_clipped_alike_by_the_gym_and_the_batched_env(env_id):
    spec = real_env_spec(env_id)
    nets = SyntheticEnvNets.initialise([1], spec, 16, 1, "leakyrelu")
    nets.nets["state_net"].biases[-1].fill_(-1e4)   # every next state far below any bound
    env = SyntheticEnv(nets, env_id)
    batched = SyntheticVecEnv(nets, spec, InitialStateSampler(env_id, [0]), autoreset=False)
    obs, _ = env.reset(seed=0)
    batched.reset()
    batched.states[:] = torch.from_numpy(obs)
    next_obs = env.step(0)[0]
    assert np.array_equal(next_obs, batched.step(torch.zeros(1, 1, dtype=torch.long))[4].reshape(-1).numpy())
    low = np.array(spec.state_low, np.float32)
    bounded = np.isfinite(low)   # CartPole's velocities are unbounded, all of Acrobot's states bounded
    assert np.array_equal(next_obs[bounded], low[bounded]) and (next_obs[~bounded] < -1e3).all()
    assert env.observation_space.contains(next_obs)


def test_agents_on_a_bandit_se_train_for_their_whole_budget_without_real_steps():
    nets = bandit_nets()
    config = bandit_config(extra=["agents.ddqn.train_episodes=7"])
    tasks = [FixedEnvTask(run_id="r", iteration=0, member=m, seed=m, psi=nets.to_flat()[0]) for m in range(2)]
    results = train_in_fixed_envs(tasks, config)
    assert [(r.train_episodes, r.train_steps) for r in results] == [(7, 7), (7, 7)]
    capped = train_in_fixed_envs(tasks, bandit_config(extra=["agents.ddqn.train_episodes=7",
                                                             "protocol.max_train_steps=4"]))
    assert [r.train_steps for r in capped] == [4, 4]


def test_state_histograms_draw_a_bandits_start_states(tmp_path, capsys):
    (tmp_path / "models").mkdir()
    saved_bandit(tmp_path / "models" / "bandit.pt")
    figures_main(["state_histograms", "--models", str(tmp_path / "models"), "--runs", "2", "--out",
                  str(tmp_path / "out"), "--set", "agents.ddqn.train_episodes=5"])
    rows = (tmp_path / "out" / "state_histograms.csv").read_text()
    assert "bandit SEs (1)" in rows and "real env" in rows
    assert "10 SE states" in capsys.readouterr().out   # 2 agents x 5 one-step episodes


def test_model_based_refuses_a_bandit_se_in_one_line(tmp_path, capsys):
    (tmp_path / "models").mkdir()
    saved_bandit(tmp_path / "models" / "bandit.pt")
    with pytest.raises(SystemExit) as exited:
        figures_main(["model_based", "--models", str(tmp_path / "models"), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert exited.value.code == 2 and "bandit.pt is a bandit SE" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_model_based_leaves_the_bandit_ses_out_of_a_folder_of_both_kinds(tmp_path, caplog):
    (tmp_path / "models").mkdir()
    saved_bandit(tmp_path / "models" / "bandit.pt")
    saved_mdp(tmp_path / "models" / "mdp.pt")
    with caplog.at_level(logging.INFO):
        figures_main(["model_based", "--models", str(tmp_path / "models"), "--runs", "1", "--transitions", "50",
                      "--evaluator", "batched", "--out", str(tmp_path / "out"), "--set", "agents.ddqn.train_episodes=2"])
    trained_on = {row["model"] for row in csv.DictReader(open(tmp_path / "out" / "model_based.csv"))}
    assert trained_on == {"model-based (supervised)", "mdp"}
    assert "leaves out 1 bandit SEs" in caplog.text


@pytest.mark.parametrize("solved", [True, False])
def test_zoo_add_keeps_a_bandit_run_and_says_its_kind(tmp_path, solved):
    run, nets, config = tmp_path / "run", bandit_nets(), bandit_config()
    run.mkdir()
    save_config(config, run / "config.yaml")
    (run / "metrics.csv").write_text(f"iteration,mean_test_return_orig\n0,20.0\n1,{199.0 if solved else 30.0}\n")
    if solved:
        save_synthetic_env(run / "best.pt", nets, 0, config, {"iteration": 1, "mean_test_return_orig": 199.0})
    else:   # the unsolved run's model is rebuilt from its checkpoint's psi
        torch.save({"kind": "nes_checkpoint", "psi": nets.to_flat()[0].clone(), "iteration": 2}, run / "latest.pt")
    zoo.main(["add", str(run), "--name", "bandit", "--command", "learn_env ...", "--zoo", str(tmp_path / "zoo")])
    entry, = json.loads((tmp_path / "zoo" / "manifest.json").read_text())["models"]
    assert (entry["kind"], entry["synthetic_env_kind"], entry["score"]["solved"]) == ("synthetic_env", "bandit", solved)
    _, loaded, _ = load_model(tmp_path / "zoo" / entry["file"])
    assert isinstance(loaded, BanditEnvNets) and torch.equal(loaded.to_flat(), nets.to_flat())


@pytest.mark.slow  # an evaluate_env subprocess
def test_evaluate_env_trains_agents_on_a_bandit_model_for_their_budget(tmp_path):
    saved_bandit(tmp_path / "bandit.pt")
    completed = run_entry_point("experiments.evaluate_env", tmp_path / "bandit.pt", "--runs", 2, "--baseline",
                                "--out", tmp_path / "out")
    assert completed.returncode == 0, completed.stderr
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert [(r["train_episodes"], r["train_steps"]) for r in report["synthetic"]["runs"]] == [(3, 3), (3, 3)]
    assert report["real"]["summary"]["runs"] == 2
