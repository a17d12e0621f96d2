"""Tabular Q-learning and SARSA: the update rule, on-policy SARSA, the count bonus, epsilon, the
action-space check, and learning on CliffWalking-v1 (the contract every agent keeps is in
test_agent_contract.py)."""
import dataclasses

import pytest
import torch

from agents.tabular import SARSA, QLearning
from agents.training import train_population
from common.errors import UserError
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config

ENV = "CliffWalking-v1"
SPEC = real_env_spec(ENV)
AGENTS = {"ql": QLearning, "sarsa": SARSA}


def agent_config(name: str, *overrides: str):
    return getattr(load_config(None, [f"agents.{name}.{o}" for o in overrides]).agents, name)


def train(name: str, seeds: list[int], *overrides: str, stop_when_solved: bool = False, test_every: int = 1):
    config = agent_config(name, *overrides)
    agent = AGENTS[name](config, SPEC, seeds)
    protocol = dataclasses.replace(load_config().protocol, se_early_out=False, stop_when_solved=stop_when_solved,
                                   test_every=test_every)
    result = train_population(agent, RealVecEnv(ENV, [s + 100 for s in seeds]),
                              RealVecEnv(ENV, [s + 200 for s in seeds], config.test_episodes),
                              config, protocol, on_synthetic=False)
    return agent, result


def one_hot(cells: list[int]) -> torch.Tensor:
    """(P,) cell indices -> (P, 1, num_cells) observations."""
    return torch.nn.functional.one_hot(torch.tensor(cells), SPEC.state_dim).float()[:, None]


def step(agent, cell: int, action: int, reward: float, next_cell: int, *, terminated: bool = False) -> None:
    """Feed one transition to a population of one and learn from it."""
    active = torch.ones(1, dtype=torch.bool)
    agent.observe(active, one_hot([cell]), torch.tensor([[action]]), torch.tensor([[reward]]), one_hot([next_cell]),
                  torch.tensor([[terminated]]))
    assert not agent.learn(active).any()


# ---------------------------------------------------------------- update rule

def test_q_learning_update_bootstraps_from_the_best_next_action():
    agent = QLearning(agent_config("ql", "alpha=0.5", "gamma=0.5"), SPEC, [0])
    agent.q[0, 7] = torch.tensor([-2.0, 3.0, 1.0, 0.5])
    step(agent, 6, 2, -1.0, 7)
    assert agent.q[0, 6, 2].item() == 0.5 * (-1.0 + 0.5 * 3.0)
    step(agent, 7, 1, -1.0, 47, terminated=True)   # a terminal s' contributes nothing
    assert agent.q[0, 7, 1].item() == 3.0 + 0.5 * (-1.0 - 3.0)
    assert agent.member_state_dict(0)["q_table"].shape == (SPEC.state_dim, SPEC.action_dim)


@pytest.mark.parametrize("seed", range(5))
def test_sarsa_target_uses_the_action_it_takes_next(seed):
    # With epsilon 1 the next action is random, so a target from max_a' Q(s', a') or from an
    # action drawn apart from the one taken would differ from this one.
    agent = SARSA(agent_config("sarsa", "alpha=1.0", "gamma=0.5", "eps_init=1.0", "eps_min=1.0"), SPEC, [seed])
    agent.q[0, 7] = torch.tensor([-8.0, -4.0, -2.0, -6.0])
    step(agent, 6, 2, -1.0, 7)
    taken = agent.act(one_hot([7]), torch.ones(1, dtype=torch.bool)).item()
    assert agent.q[0, 6, 2].item() == -1.0 + 0.5 * agent.q[0, 7, taken].item()


def test_sarsa_acts_on_its_commitment_once_and_drops_it_at_an_episode_end():
    agent = SARSA(agent_config("sarsa", "eps_init=0.0", "eps_min=0.0"), SPEC, [0])
    active = torch.ones(1, dtype=torch.bool)
    agent.q[0, 7] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    step(agent, 6, 2, -1.0, 7)                              # commits to action 3 in cell 7
    agent.q[0, 7] = torch.tensor([1.0, 0.0, 0.0, 0.0])     # the greedy choice in cell 7 is now 0
    assert agent.act(one_hot([7]), active).item() == 3     # the commitment
    assert agent.act(one_hot([7]), active).item() == 0     # used up: a fresh choice
    step(agent, 6, 2, -1.0, 7)                              # commits to action 0
    agent.end_episode(active)                               # ... but the episode was truncated
    agent.q[0, 7] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    assert agent.act(one_hot([7]), active).item() == 1


def test_count_bonus_favours_the_less_tried_of_two_equal_actions():
    def trained(count_based: str):
        agent = QLearning(agent_config("ql", "alpha=1.0", "gamma=0.8", f"count_based={count_based}", "beta=0.5"),
                          SPEC, [0])
        agent.q[0, 6, 2:] = -5.0   # only actions 0 and 1 compete
        for _ in range(4):
            step(agent, 6, 0, -1.0, 47, terminated=True)
        step(agent, 6, 1, -1.0, 47, terminated=True)
        return agent

    plain, counted = trained("false"), trained("true")
    assert plain.q[0, 6, :2].tolist() == [-1.0, -1.0] and plain.greedy(one_hot([6])).item() == 0
    assert counted.q[0, 6, :2].tolist() == [-1.0 + 0.5 / 2.0, -1.0 + 0.5]   # beta / sqrt(N(s, a))
    assert counted.greedy(one_hot([6])).item() == 1
    assert counted.visits[0, 6, :2].tolist() == [4, 1]


def test_count_bonus_changes_what_a_member_explores():
    plain, _ = train("ql", [0, 1], "train_episodes=10", "count_based=false")
    zero, _ = train("ql", [0, 1], "train_episodes=10", "count_based=true", "beta=0.0")
    counted, _ = train("ql", [0, 1], "train_episodes=10", "count_based=true", "beta=1.0")
    assert torch.equal(plain.visits, zero.visits)
    for m in range(2):
        assert not torch.equal(plain.visits[m], counted.visits[m])


def test_epsilon_decays_per_episode_down_to_its_floor_for_active_members_only():
    agent = QLearning(agent_config("ql", "eps_init=0.5", "eps_decay=0.5", "eps_min=0.1"), SPEC, [0, 1])
    for _ in range(3):
        agent.end_episode(torch.tensor([True, False]))
    assert agent.epsilon.tolist() == pytest.approx([0.1, 0.5])   # 0.25, 0.125, then the floor


# ------------------------------------------------------------ env checks

def test_continuous_actions_are_refused_in_one_line():
    spec = dataclasses.replace(SPEC, discrete_actions=False)
    with pytest.raises(UserError, match=r"^agent 'ql' needs discrete actions, but CliffWalking-v1 has continuous"):
        QLearning(agent_config("ql"), spec, [0])


# ---------------------------------------------------------------- learning

@pytest.mark.slow  # learning until solved
def test_q_learning_finds_the_optimal_path_on_cliff_walking():
    _, result = train("ql", [0, 1, 2], "train_episodes=60", stop_when_solved=True)
    assert result.test_return.tolist() == [-13.0, -13.0, -13.0]
    assert result.train_episodes.max() <= 40


@pytest.mark.slow  # learning until solved
def test_sarsa_finds_a_safe_path_on_cliff_walking():
    _, result = train("sarsa", [0, 1, 2], stop_when_solved=True, test_every=10)
    assert (result.test_return >= -17.0).all(), result.test_return
