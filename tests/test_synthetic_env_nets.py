"""SyntheticEnvNets: the three SE networks, their flat vector psi and the paper's state-dict keys."""
import torch

from envs.real import real_env_spec
from models.synthetic_env_nets import SyntheticEnvNets

CARTPOLE = real_env_spec("CartPole-v0")
HIDDEN = 12


def make_nets(seeds=(1, 2, 3), activation="leakyrelu") -> SyntheticEnvNets:
    return SyntheticEnvNets.initialise(list(seeds), CARTPOLE, HIDDEN, 1, activation)


def test_member_state_dict_uses_the_paper_keys_and_shapes():
    state = make_nets().member_state_dict(1)
    expected = {}
    for name, out in (("state_net", 4), ("reward_net", 1), ("done_net", 1)):
        expected |= {f"env.{name}.0.weight": (HIDDEN, 6), f"env.{name}.0.bias": (HIDDEN,),
                     f"env.{name}.2.weight": (out, HIDDEN), f"env.{name}.2.bias": (out,)}
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_outputs_equal_member_modules_on_one_hot_action_then_state():
    nets = make_nets()
    generator = torch.Generator().manual_seed(0)
    states = torch.randn(3, 7, 4, generator=generator)
    actions = torch.randint(0, 2, (3, 7), generator=generator)
    next_states, rewards, dones = nets(actions, states)
    for member in range(3):
        x = torch.cat([torch.nn.functional.one_hot(actions[member], 2).float(), states[member]], dim=-1)
        modules = {name: net.member_module(member) for name, net in nets.nets.items()}
        with torch.no_grad():
            torch.testing.assert_close(next_states[member], modules["state_net"](x), rtol=0, atol=1e-5)
            torch.testing.assert_close(rewards[member], modules["reward_net"](x)[:, 0], rtol=0, atol=1e-5)
            assert torch.equal(dones[member], modules["done_net"](x)[:, 0] > 0.5)


def test_flat_vector_is_state_then_reward_then_done_net():
    nets = make_nets()
    flat = nets.to_flat()
    parts = [nets.nets[name].to_flat() for name in ("state_net", "reward_net", "done_net")]
    assert torch.equal(flat, torch.cat(parts, dim=1))
    assert flat.shape == (3, nets.num_params)


def test_with_flat_builds_a_population_with_those_parameters():
    nets = make_nets()
    flat = nets.to_flat()
    picked = nets.with_flat(flat[[2, 2, 0]])
    assert picked.population == 3
    assert torch.equal(picked.to_flat(), flat[[2, 2, 0]])
    assert torch.equal(nets.to_flat(), flat)


def test_load_flat_round_trips_exactly():
    source, target = make_nets(), make_nets(seeds=(7, 8, 9))
    target.load_flat(source.to_flat())
    assert torch.equal(target.to_flat(), source.to_flat())
