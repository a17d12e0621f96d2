"""TD3 and discrete TD3: learning on real envs, Gumbel-softmax gradients, acting, the ICM option,
continuous actions on an SE and the env config files (the contract every agent keeps is in
test_agent_contract.py)."""

import pytest
import torch

from agents.td3 import TD3
from agents.td3_discrete import TD3Discrete, gumbel_softmax
from agents.training import train_population
from common.rng import MemberStreams
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.mlp import build_mlp
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from tests.helpers import REPO_ROOT

PENDULUM, CARTPOLE = real_env_spec("Pendulum-v1"), real_env_spec("CartPole-v0")
SEEDS = [5, 6, 7]
# Small networks and short episodes keep the tests fast.
SMALL = ("hidden_size=16", "batch_size=16", "init_episodes=1", "policy_delay=2", "test_episodes=2")


def agent_config(name: str, *sets: str):
    return getattr(load_config(None, [f"agents.{name}.{s}" for s in (*SMALL, *sets)]).agents, name)


def train(agent_class, env_id: str, config, seeds, train_env=None):
    """Train on ``train_env`` (default: the real env) and test on the real env."""
    agent = agent_class(config, real_env_spec(env_id), seeds)
    train_env = train_env or RealVecEnv(env_id, [s + 100 for s in seeds])
    test_env = RealVecEnv(env_id, [s + 200 for s in seeds], config.test_episodes)
    protocol = load_config(None, ["protocol.se_early_out=false"]).protocol
    return agent, train_population(agent, train_env, test_env, config, protocol, on_synthetic=False)


# --- learning --------------------------------------------------------------------------------
@pytest.mark.slow  # learning until solved
def test_td3_swings_up_the_real_pendulum_on_a_small_budget():
    # 3 random + 9 learning episodes (1,800 updates): seeds 1-6 reach -91 to -172; random actions
    # score about -1,200.
    config = agent_config("td3", "hidden_size=64", "batch_size=64", "init_episodes=3", "policy_delay=1",
                          "train_episodes=12", "test_episodes=3")
    _, result = train(TD3, "Pendulum-v1", config, [1])
    assert result.test_return.item() > -300, result.test_return


@pytest.mark.slow  # learning until solved
def test_discrete_td3_learns_to_balance_the_real_cartpole():
    # default_config/cartpole_td3_discrete.yaml: seeds 1-6 balance for 197-200 steps after 700-1,500
    # training steps; a policy that always pushes one way scores about 9, random actions about 22.
    config = load_config(REPO_ROOT / "default_config" / "cartpole_td3_discrete.yaml",
                         ["agents.td3_discrete.train_episodes=30", "agents.td3_discrete.test_episodes=5"])
    _, result = train(TD3Discrete, "CartPole-v0", config.agents.td3_discrete, [1])
    assert result.test_return.item() > 150, result.test_return


# --- Gumbel-softmax --------------------------------------------------------------------------
def test_gumbel_softmax_is_the_softmax_of_gumbel_perturbed_logits():
    logits = torch.tensor([[0.5, -1.0, 2.0]])
    uniform = torch.tensor([[0.25, 0.5, 0.75]])
    gumbel = -torch.log(-torch.log(uniform + 0.5 / (1 << 24)))
    expected = torch.softmax((logits + gumbel) / 2.0, dim=-1)
    assert torch.allclose(gumbel_softmax(logits, uniform, 2.0, hard=False), expected)
    hard = gumbel_softmax(logits, uniform, 2.0, hard=True)
    assert hard.tolist() == [[0.0, 0.0, 1.0]]


def test_gumbel_softmax_is_finite_at_the_extreme_uniform_draws():
    # The largest draw is 1 - 2**-24; shifted by half a step in float32 it would round to 1 and
    # give an infinite Gumbel sample (a NaN softmax), which once ended a long CartPole training.
    uniform = torch.tensor([[0.0, 1.0 - 2.0 ** -24]])
    sample = gumbel_softmax(torch.zeros(1, 2), uniform, 1.0, hard=False)
    assert torch.isfinite(sample).all() and sample[0, 1] > 0.999


def test_gumbel_softmax_samples_follow_the_softmax_probabilities():
    logits = torch.tensor([1.0, 0.0, -1.0]).expand(40000, 3)
    uniform = MemberStreams([3]).uniform(40000 * 3).view(40000, 3)
    frequencies = gumbel_softmax(logits, uniform, 1.0, hard=True).mean(dim=0)
    assert torch.allclose(frequencies, torch.softmax(logits[0], dim=0), atol=0.01), frequencies


@pytest.mark.parametrize("hard", [False, True])
def test_gradients_flow_through_the_gumbel_softmax(hard):
    logits = torch.tensor([[0.3, -0.2]], requires_grad=True)
    uniform = torch.tensor([[0.4, 0.6]])
    weights = torch.tensor([[1.0, 3.0]])
    (gumbel_softmax(logits, uniform, 1.5, hard) * weights).sum().backward()
    # Both cases carry the soft sample's gradient: d(sum w y)/dl = y (w - y.w) / T.
    soft = gumbel_softmax(logits.detach(), uniform, 1.5, hard=False)
    expected = soft * (weights - (soft * weights).sum()) / 1.5
    assert torch.allclose(logits.grad, expected) and logits.grad.abs().min() > 0


@pytest.mark.parametrize("hard", [False, True])
def test_the_discrete_actor_gets_a_gradient_from_the_critic(hard):
    config = agent_config("td3_discrete", f"gumbel_softmax_hard={str(hard).lower()}")
    agent = TD3Discrete(config, CARTPOLE, [1, 2])
    active = torch.ones(2, dtype=torch.bool)
    states = torch.randn(2, 8, 4)
    vectors = agent.policy_vectors(agent.actor, states, active)
    q = agent.critics(torch.cat([states, vectors], dim=-1).repeat(2, 1, 1))
    grads = torch.autograd.grad(q[:2].sum(), agent.actor.parameters())
    assert all(g.abs().sum() > 0 for g in grads)
    if hard:
        assert torch.equal(vectors.sum(dim=-1), torch.ones(2, 8)) and set(vectors.unique().tolist()) == {0.0, 1.0}


# --- acting ----------------------------------------------------------------------------------
def test_actions_lie_in_the_action_box_and_init_episodes_are_uniform():
    config = agent_config("td3", "init_episodes=1", "action_std=5.0")
    agent = TD3(config, PENDULUM, [1, 2])
    active = torch.tensor([True, False])
    random_actions = agent.act(torch.zeros(2, 4000, 3), active)
    assert random_actions.shape == (2, 4000, 1)
    assert random_actions[0].min() < -1.9 and random_actions[0].max() > 1.9
    assert abs(random_actions[0].mean().item()) < 0.1
    assert agent.rng.counters.tolist()[1] == 0, "an inactive member must not draw"
    agent.end_episode(torch.ones(2, dtype=torch.bool))
    noisy = agent.act(torch.zeros(2, 100, 3), torch.ones(2, dtype=torch.bool))
    assert noisy.abs().max() == PENDULUM.action_bound  # large noise is clipped to the box
    assert torch.equal(agent.greedy(torch.zeros(2, 1, 3)), torch.tanh(agent.actor(torch.zeros(2, 1, 3))) * 2)


def test_discrete_td3_gives_the_env_action_indices():
    agent = TD3Discrete(agent_config("td3_discrete"), CARTPOLE, [1, 2])
    obs = torch.randn(2, 5, 4)
    actions = agent.act(obs, torch.ones(2, dtype=torch.bool))
    assert actions.dtype == torch.long and actions.shape == (2, 5)
    assert torch.equal(actions, agent._last_vectors.argmax(dim=-1))
    assert torch.equal(agent.greedy(obs), agent.actor(obs).argmax(dim=-1))


# --- an SE with continuous actions -------------------------------------------------------------
def pendulum_synthetic_envs() -> SyntheticEnvNets:
    """Three random Pendulum SEs whose done nets end episodes at different times."""
    nets = SyntheticEnvNets.initialise([1, 2, 3], PENDULUM, 16, 1, "leakyrelu")
    for member, bias in enumerate((0.55, 0.45, 0.4)):
        nets.nets["done_net"].biases[-1][member].fill_(bias)
    return nets


def synthetic_env(nets: SyntheticEnvNets, seeds) -> SyntheticVecEnv:
    sampler = InitialStateSampler("Pendulum-v1", [s + 300 for s in seeds])
    return SyntheticVecEnv(nets, PENDULUM, sampler, autoreset=False)


def test_synthetic_env_steps_with_continuous_action_vectors():
    nets = pendulum_synthetic_envs()
    env = synthetic_env(nets, SEEDS)
    start = env.reset()
    actions = torch.tensor([[[1.5]], [[-0.5]], [[0.0]]])
    obs, reward, terminated, truncated, final_obs = env.step(actions)
    expected_next, expected_reward, _ = nets(actions, start)
    assert obs.shape == (3, 1, 3) and torch.equal(final_obs, expected_next) and torch.equal(reward, expected_reward)
    other, _, _ = nets(-actions, start)
    assert not torch.equal(other[:2], expected_next[:2]), "the next state must depend on the action"


def test_the_icm_learns_on_the_sampled_batch_and_its_curiosity_joins_the_reward():
    with_icm = TD3(agent_config("td3", "icm=true"), PENDULUM, [1, 2])
    without = TD3(agent_config("td3"), PENDULUM, [1, 2])
    with_icm.icm.intrinsic_reward = lambda states, actions, next_states: torch.full(states.shape[:2], 0.7)
    active = torch.tensor([True, False])
    for _ in range(20):
        obs, reward = torch.randn(2, 1, 3), torch.randn(2, 1)
        for agent, stored in ((with_icm, reward), (without, reward + 0.7)):
            agent.observe(active, obs, agent.act(obs, active), stored, obs, torch.zeros(2, 1, dtype=torch.bool))
    before = [p.clone() for p in with_icm.icm.parameters()]
    assert not with_icm.learn(active).any()
    without.learn(active)
    for a, b in zip(with_icm.critics.parameters(), without.critics.parameters()):
        assert torch.equal(a, b)
    assert all(not torch.equal(p[0], b[0]) and torch.equal(p[1], b[1])
               for p, b in zip(with_icm.icm.parameters(), before)), "one ICM step for the active member only"


# --- saved members and config files -----------------------------------------------------------
def test_member_state_dict_loads_into_single_networks():
    agent = TD3(TD3.Config(), PENDULUM, [1, 2])
    state = agent.member_state_dict(1)
    actor = build_mlp(3, 1, 134, 2, "leakyrelu")
    actor.load_state_dict({k[len("actor."):]: v for k, v in state.items() if k.startswith("actor.")})
    obs = torch.randn(4, 3)
    assert torch.allclose(actor(obs), agent.actor(obs.expand(2, 4, 3))[1], atol=1e-6)
    critic_2 = build_mlp(4, 1, 134, 2, "leakyrelu")
    critic_2.load_state_dict({k[len("critic_2."):]: v for k, v in state.items() if k.startswith("critic_2.")})
    x = torch.randn(4, 4)
    assert torch.allclose(critic_2(x), agent.critics(x.expand(4, 4, 4))[3], atol=1e-6)


@pytest.mark.parametrize("path, agent, expected", [
    ("pendulum_td3.yaml", "td3", {"lr": 0.00352, "init_episodes": 20}),
    ("mountaincar_td3.yaml", "td3", {"activation": "prelu", "same_action_num": 2, "init_episodes": 50}),
    ("halfcheetah_td3.yaml", "td3", {"hidden_size": 67, "policy_delay": 2}),
    ("cartpole_td3_discrete.yaml", "td3_discrete", {"gumbel_softmax_temp": 8.0, "activation": "tanh"}),
])
def test_env_config_files_load(path, agent, expected):
    config = load_config(REPO_ROOT / "default_config" / path)
    assert config.agent == agent
    section = config.agent_config()
    assert {k: getattr(section, k) for k in expected} == expected
