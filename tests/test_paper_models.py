"""Model files in the paper's published format load and compute what the paper's networks compute.

The files are built here from the documented key layout: ``{'model': state_dict, 'config': ...}``
with ``env.state_net.{0,2,..}``, a shared PReLU stored at ``.1.weight``, ``.3.weight`` ..., and
inputs concat(one-hot action, state).
"""
import pytest
import torch
from torch import nn

from common.errors import UserError
from nes.model_files import load_model, load_reward_env, load_synthetic_env
from tests.helpers import run_entry_point


def paper_mlp(input_dim: int, output_dim: int, hidden: int, layers: int, activation: nn.Module) -> nn.Sequential:
    """The paper's MLP: one activation module shared by every hidden layer."""
    modules, width = [], input_dim
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), activation]
        width = hidden
    return nn.Sequential(*modules, nn.Linear(width, output_dim))


def paper_se_file(path, env_name="CartPole-v0", state_dim=4, actions=2, hidden=13, layers=2):
    torch.manual_seed(1)
    prelu = nn.PReLU()
    with torch.no_grad():
        prelu.weight.fill_(0.3)
    nets = {name: paper_mlp(actions + state_dim, out, hidden, layers, prelu)
            for name, out in (("state_net", state_dim), ("reward_net", 1), ("done_net", 1))}
    state = {f"env.{name}.{key}": value for name, net in nets.items() for key, value in net.state_dict().items()}
    config = {"env_name": env_name,
              "agents": {"gtn": {"agent_name": "DDQN"}, "ddqn": {"lr": 0.002, "activation_fn": "relu",
                                                                "print_rate": 10, "hidden_size": 40}},
              "envs": {env_name: {"hidden_size": hidden, "hidden_layer": layers, "activation_fn": "prelu",
                                  "reward_env_type": 0, "info_dim": 0, "solved_reward": 195, "max_steps": 200}}}
    torch.save({"model": state, "config": config}, path)
    return nets


def test_a_paper_se_file_loads_with_identical_outputs(tmp_path):
    nets = paper_se_file(tmp_path / "se.pt")
    assert "env.state_net.1.weight" in torch.load(tmp_path / "se.pt")["model"]  # the PReLU slope, as documented
    loaded, config = load_synthetic_env(tmp_path / "se.pt")
    assert config.env == "CartPole-v0" and config.learn == "synthetic_env" and config.agent == "ddqn"
    assert (config.synthetic_env.hidden_size, config.synthetic_env.hidden_layer,
            config.synthetic_env.activation) == (13, 2, "prelu")
    assert config.agents.ddqn.lr == 0.002 and config.agents.ddqn.activation == "relu"
    states = torch.randn(1, 50, 4)
    actions = torch.randint(0, 2, (1, 50))
    x = torch.cat([nn.functional.one_hot(actions, 2).float(), states], dim=-1)[0]
    next_states, rewards, dones = loaded(actions, states)
    with torch.no_grad():
        torch.testing.assert_close(next_states[0], nets["state_net"](x), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(rewards[0], nets["reward_net"](x)[:, 0], rtol=1e-6, atol=1e-6)
        assert torch.equal(dones[0], nets["done_net"](x)[:, 0] > 0.5)


def test_an_old_gym_id_maps_to_todays_env(tmp_path):
    paper_se_file(tmp_path / "se.pt", env_name="Pendulum-v0", state_dim=3, actions=1, layers=1)
    _, config = load_synthetic_env(tmp_path / "se.pt")
    assert config.env == "Pendulum-v1"


@pytest.mark.parametrize("code", [1, 6])
def test_a_paper_rn_file_for_cliff_loads_with_identical_rewards(tmp_path, code):
    torch.manual_seed(2)
    net = paper_mlp(48, 1, 16, 2, nn.LeakyReLU())
    config = {"env_name": "Cliff", "agents": {"gtn": {"agent_name": "QL"}, "ql": {"gamma": 0.7}},
              "envs": {"Cliff": {"hidden_size": 16, "hidden_layer": 2, "activation_fn": "leakyrelu",
                                 "reward_env_type": code, "info_dim": 0}}}
    state = {f"env.reward_net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"model": state, "config": config}, tmp_path / "rn.pt")
    kind, nets, loaded_config = load_model(tmp_path / "rn.pt")
    assert kind == "reward_env" and loaded_config.env == "CliffWalking-v1" and loaded_config.agent == "ql"
    assert loaded_config.agents.ql.gamma == 0.7
    cells, next_cells = torch.randint(0, 48, (2, 30))
    s, s2 = (nn.functional.one_hot(c, 48).float()[None] for c in (cells, next_cells))
    env_reward = -torch.ones(1, 30)
    got = nets.rewards(s, s2, env_reward, gamma=0.7)
    with torch.no_grad():
        phi, phi_next = net(s[0])[:, 0], net(s2[0])[:, 0]
    expected = 0.7 * phi_next - phi if code == 1 else env_reward[0] + phi_next
    torch.testing.assert_close(got[0], expected, rtol=1e-6, atol=1e-6)


def test_an_se_file_for_another_env_is_a_user_error(tmp_path):
    paper_se_file(tmp_path / "se.pt", env_name="Acrobot-v1", state_dim=4, actions=2)
    with pytest.raises(UserError, match="a model for another env"):
        load_synthetic_env(tmp_path / "se.pt")


def test_an_unknown_paper_env_is_a_user_error(tmp_path):
    torch.save({"model": {}, "config": {"env_name": "LunarLander-v2", "envs": {}}}, tmp_path / "x.pt")
    with pytest.raises(UserError, match="paper envs we know"):
        load_reward_env(tmp_path / "x.pt")


@pytest.mark.slow  # an evaluate_env subprocess per case
@pytest.mark.parametrize("content", ["corrupt", "other_env"])
def test_bad_paper_files_end_evaluate_env_with_one_line(tmp_path, content):
    path = tmp_path / "model.pt"
    if content == "corrupt":
        path.write_bytes(b"\x80\x02not a torch file" * 10)
    else:
        paper_se_file(path, env_name="Acrobot-v1", state_dim=4, actions=2)
    completed = run_entry_point("experiments.evaluate_env", path, "--runs", 1, "--out", tmp_path / "out")
    assert completed.returncode == 2
    assert len(completed.stderr.strip().splitlines()) == 1 and "Traceback" not in completed.stderr
