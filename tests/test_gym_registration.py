"""Learned envs through ``gymnasium.make``: registered on ``import nes``, checked by ``check_env``."""
import gymnasium as gym
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import nes  # noqa: F401  (registers the ids)
from common.errors import UserError
from envs.real import real_env_spec
from envs.reward_env import RewardEnv
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.model_files import save_reward_env, save_synthetic_env
from tests.zoo_models import zoo_models


def saved_se(path, env="CartPole-v0"):
    config = load_config(None, [f"env={env}", "synthetic_env.hidden_size=16"])
    nets = SyntheticEnvNets.initialise([3], real_env_spec(env), 16, 1, "leakyrelu")
    save_synthetic_env(path, nets, 0, config, {})
    return nets


def saved_rn(path):
    config = load_config(None, ["env=CliffWalking-v1", "agent=ql", "learn=reward_env",
                                "reward_env.type=potential_additive", "agents.ql.gamma=0.8"])
    nets = RewardEnvNets.initialise([5], real_env_spec("CliffWalking-v1"), 8, 1, "leakyrelu", "potential_additive")
    config.reward_env.hidden_size, config.reward_env.hidden_layer = 8, 1
    save_reward_env(path, nets, 0, config, {})
    return nets


def reward_env(env: gym.Env) -> RewardEnv:
    while not isinstance(env, RewardEnv):
        env = env.env
    return env


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_saved_se_made_by_id_passes_check_env_and_steps_its_networks(tmp_path):
    nets = saved_se(tmp_path / "se.pt")
    env = gym.make("SynthEnv/Synthetic-v0", model=str(tmp_path / "se.pt"))
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    next_obs, reward, *_ = env.step(1)
    expected, expected_reward, _ = nets(torch.tensor([[1]]), torch.as_tensor(obs).reshape(1, 1, -1))
    assert torch.allclose(torch.as_tensor(next_obs), expected.reshape(-1))
    assert reward == pytest.approx(float(expected_reward))
    assert env.action_space == gym.spaces.Discrete(2)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_saved_rn_made_by_id_wraps_its_real_env(tmp_path):
    saved_rn(tmp_path / "rn.pt")
    env = gym.make("SynthEnv/Reward-v0", model=str(tmp_path / "rn.pt"))
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert info["env_reward"] == -1.0 and reward != -1.0
    assert reward_env(env).gamma == 0.8 and reward_env(env).spec_real.env_id == "CliffWalking-v1"


def test_the_wrong_id_for_a_file_names_the_right_one(tmp_path):
    saved_rn(tmp_path / "rn.pt")
    with pytest.raises(UserError, match="SynthEnv/Reward-v0"):
        gym.make("SynthEnv/Synthetic-v0", model=str(tmp_path / "rn.pt"))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("entry", zoo_models(), ids=lambda e: e["file"])
def test_zoo_models_pass_check_env(entry):
    env_id = "SynthEnv/Synthetic-v0" if entry["kind"] == "synthetic_env" else "SynthEnv/Reward-v0"
    env = gym.make(env_id, model=entry["path"])
    check_env(env if entry["kind"] == "reward_env" else env.unwrapped, skip_render_check=True)
