"""Members play their episodes independently: nobody waits for the population's longest episode,
except for real-env tests and for an agent that updates at the end of episodes (PPO)."""
import dataclasses

import torch

from agents import make_agent
from agents.training import train_population
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config

SPEC = real_env_spec("CartPole-v0")
# Episode lengths per member, repeating: the longest episode alternates between the members.
LENGTHS = [[1, 3], [3, 1]]
EPISODES = 6


class PatternEnv:
    """A CartPole-shaped env whose member m plays episodes of LENGTHS[m] steps in turn; counts steps."""

    def __init__(self):
        self.spec, self.population, self.episodes = SPEC, len(LENGTHS), 1
        self.played = [0] * self.population
        self.elapsed = torch.zeros(self.population, dtype=torch.long)
        self.step_calls = 0

    def reset(self, members=None):
        members = torch.ones(self.population, dtype=torch.bool) if members is None else members
        self.elapsed[members] = 0
        return torch.zeros(self.population, 1, SPEC.state_dim)

    def step(self, actions, active):
        self.step_calls += 1
        self.elapsed += active
        ended = torch.zeros(self.population, 1, dtype=torch.bool)
        for m in torch.nonzero(active).flatten().tolist():
            if self.elapsed[m] == LENGTHS[m][self.played[m] % len(LENGTHS[m])]:
                ended[m] = True
                self.played[m] += 1
        obs = torch.zeros(self.population, 1, SPEC.state_dim)
        return obs, active[:, None].float(), ended, torch.zeros_like(ended), obs

    def close(self):
        pass


def train(agent_name: str, test_every: int = 0, overrides=()):
    config = load_config(None, [f"agent={agent_name}", f"agents.{agent_name}.train_episodes={EPISODES}",
                                f"agents.{agent_name}.test_episodes=1", f"agents.{agent_name}.init_episodes=0",
                                f"agents.{agent_name}.hidden_size=8", *overrides])
    agent_config = config.agent_config()
    agent = make_agent(agent_name, agent_config, SPEC, [1, 2])
    ended_together = []
    end_episode = agent.end_episode
    agent.end_episode = lambda active: (ended_together.append(active.tolist()), end_episode(active))
    if hasattr(agent, "_update"):
        update = agent._update
        agent._update = lambda due: (ended_together.append(("update", due.tolist())), update(due))[1]
    tests = []
    test_env = RealVecEnv("CartPole-v0", [11, 12], 1)
    test = test_env.test
    test_env.test = lambda policy, active: (tests.append(active.tolist()), test(policy, active))[1]
    protocol = dataclasses.replace(config.protocol, test_every=test_every, stop_when_solved=False,
                                   score_with_fresh_test=False, se_early_out=False, real_early_out=False,
                                   max_train_steps=0)
    env = PatternEnv()
    result = train_population(agent, env, test_env, agent_config, protocol, on_synthetic=False)
    return result, env.step_calls, ended_together, tests


def test_a_member_starts_its_next_episode_without_waiting():
    result, step_calls, ended_together, _ = train("ddqn")
    assert result.train_steps.tolist() == [12, 12] and result.train_episodes.tolist() == [EPISODES] * 2
    # Lockstep would take 3 steps per episode (18); each member plays its own 12 side by side.
    assert step_calls == 12
    assert [True, False] in ended_together and [False, True] in ended_together


def test_members_due_an_end_of_episode_update_wait_for_each_other():
    # PPO updating after every episode: every episode end waits for the longest episode.
    result, step_calls, ended_together, _ = train("ppo", overrides=["agents.ppo.update_episodes=1"])
    assert result.train_steps.tolist() == [12, 12]
    assert step_calls == 3 * EPISODES
    assert ended_together == [[True, True], ("update", [True, True])] * EPISODES


def test_members_play_freely_between_their_updates():
    # Updating every second episode: both rollouts last 4 steps, so nobody waits, and each update
    # still serves both members.
    result, step_calls, ended_together, _ = train("ppo", overrides=["agents.ppo.update_episodes=2"])
    assert result.train_steps.tolist() == [12, 12] and step_calls == 12
    assert [call for call in ended_together if call[0] == "update"] == [("update", [True, True])] * 3
    assert [True, False] in ended_together and [False, True] in ended_together


def test_members_due_a_test_are_tested_together():
    _, step_calls, _, tests = train("ddqn", test_every=2)
    # Tests after episodes 2, 4 and 6 of both members; the last one scores them.
    assert tests == [[True, True]] * 3
    assert step_calls == 12
