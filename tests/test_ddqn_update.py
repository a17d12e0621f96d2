"""One DDQN learning step equals the textbook double-DQN update done with nn.Sequential, MSE and Adam."""
import pytest
import torch

from agents.ddqn import DDQN
from agents.dueling_ddqn import DuelingDDQN
from envs.real import real_env_spec
from models.mlp import PopulationMLP
from nes.config import load_config

SPEC = real_env_spec("CartPole-v0")
CONFIG = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=4",
                            "agents.ddqn.tau=0.3", "agents.ddqn.gamma=0.9", "agents.ddqn.lr=0.01"]).agents.ddqn
# One stored transition per member, so every sampled minibatch holds just that transition.
STATES = torch.tensor([[[0.1, -0.2, 0.05, 0.3]], [[-0.4, 0.1, -0.02, 0.2]]])
NEXT_STATES = torch.tensor([[[0.9, 1.5, -0.7, 2.0]], [[-0.3, 0.6, 0.1, -0.5]]])
ACTIONS = torch.tensor([[1], [0]])
REWARDS = torch.tensor([[1.0], [0.5]])
TERMINATED = torch.tensor([[False], [True]])


def agent_with_one_transition_each() -> DDQN:
    agent = DDQN(CONFIG, SPEC, [3, 4])
    # A target network unlike the online one, so double DQN and plain DQN targets differ.
    other = PopulationMLP.initialise([30, 40], 4, 2, 8, 1, CONFIG.activation)
    for target, value in zip(agent.q_target.parameters(), other.parameters()):
        target.copy_(value)
    agent.observe(torch.tensor([True, True]), STATES, ACTIONS, REWARDS, NEXT_STATES, TERMINATED)
    return agent


def reference_step(online: torch.nn.Module, target: torch.nn.Module, member: int):
    """The double-DQN loss on the member's transition, one torch Adam step, one soft target update."""
    s, s2 = STATES[member, 0], NEXT_STATES[member, 0]
    with torch.no_grad():
        best_next = online(s2).argmax()
        y = REWARDS[member, 0] + CONFIG.gamma * target(s2)[best_next] * (1 - TERMINATED[member, 0].float())
    loss = (online(s)[ACTIONS[member, 0]] - y) ** 2
    optimizer = torch.optim.Adam(online.parameters(), lr=CONFIG.lr)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.lerp_(o, CONFIG.tau)
    return online, target


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(module.parameters()).detach()


def test_the_double_dqn_target_differs_from_plain_dqn_here():
    agent = agent_with_one_transition_each()
    online, target = agent.q.member_module(0), agent.q_target.member_module(0)
    with torch.no_grad():
        assert online(NEXT_STATES[0, 0]).argmax() != target(NEXT_STATES[0, 0]).argmax()


def test_one_learning_step_equals_the_reference_update_for_every_member():
    agent = agent_with_one_transition_each()
    references = [reference_step(agent.q.member_module(m), agent.q_target.member_module(m), m) for m in range(2)]
    failed = agent.learn(torch.tensor([True, True]))
    assert failed.tolist() == [False, False]
    for member, (online, target) in enumerate(references):
        torch.testing.assert_close(flat(agent.q.member_module(member)), flat(online), rtol=0, atol=1e-6)
        torch.testing.assert_close(flat(agent.q_target.member_module(member)), flat(target), rtol=0, atol=1e-6)


def test_an_inactive_member_does_not_learn():
    agent = agent_with_one_transition_each()
    before_q, before_target = agent.q.to_flat(), agent.q_target.to_flat()
    agent.learn(torch.tensor([True, False]))
    assert torch.equal(agent.q.to_flat()[1], before_q[1]) and torch.equal(agent.q_target.to_flat()[1], before_target[1])
    assert not torch.equal(agent.q.to_flat()[0], before_q[0])


def test_epsilon_decays_per_episode_for_active_members_down_to_its_floor():
    config = load_config(None, ["agents.ddqn.eps_init=0.5", "agents.ddqn.eps_decay=0.5",
                                "agents.ddqn.eps_min=0.1"]).agents.ddqn
    agent = DDQN(config, SPEC, [1, 2])
    for _ in range(3):
        agent.end_episode(torch.tensor([True, False]))
    assert torch.equal(agent.epsilon, torch.tensor([0.1, 0.5]))


def test_epsilon_zero_acts_greedily_and_epsilon_one_explores_both_actions():
    config = load_config(None, ["agents.ddqn.eps_init=0.0", "agents.ddqn.eps_min=0.0"]).agents.ddqn
    agent = DDQN(config, SPEC, [1, 2])
    obs = torch.randn(2, 64, 4, generator=torch.Generator().manual_seed(0))
    active = torch.tensor([True, True])
    assert torch.equal(agent.act(obs, active), agent.greedy(obs))
    agent.epsilon = torch.ones(2)
    actions = agent.act(obs, active)
    assert set(actions[0].tolist()) == {0, 1} and set(actions[1].tolist()) == {0, 1}


@pytest.mark.parametrize("agent_class", [DDQN, DuelingDDQN])
def test_an_all_terminal_minibatch_skips_the_next_states_and_gets_the_same_gradients(agent_class):
    """A bandit SE's minibatches are all terminal: the target is the reward alone. With gamma 0 the
    full double-DQN path computes that same target, reward + 0, so the two must agree bit for bit."""
    agent = agent_class(getattr(load_config(None, []).agents, agent_class.name), SPEC, [3, 4])
    states, next_states = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    taken, rewards = torch.randint(0, 2, (2, 5, 1)), torch.randn(2, 5)
    skipped = agent._td_gradients(agent.q, agent.q_target, agent.gamma, states, taken, rewards, next_states,
                                  torch.ones(2, 5))
    full = agent._td_gradients(agent.q, agent.q_target, torch.zeros(2, 1), states, taken, rewards, next_states,
                               torch.zeros(2, 5))
    assert torch.equal(skipped[1], full[1])
    assert all(torch.equal(a, b) for a, b in zip(skipped[0], full[0]))
