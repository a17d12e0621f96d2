"""The inner-loop training protocol, shared by all agents.

Each member plays its own episodes: when one ends, its end-of-episode work runs and it starts the
next at once, while the others play on (no member waits for the slowest episode). Two things
make members wait for each other: a real-env test, and an update in ``end_episode`` (PPO's, when
a member's rollout is full: ``updates_due``). A member due either waits until no member is
mid-episode, and then all those waiting are tested, and updated, together.
A member's own trajectory is untouched by the waiting and by the order in which members play, so
it is the one it would have had alone. A member stops when it is solved on the real env (its last
test, or the mean of its last ``solved_window`` tests, reaches the threshold), when its SE return
plateaus (``early_out_*``), when its own real-env training returns reach the solved threshold
(``real_early_out``), when its episodes run out, when its SE or loss turns NaN, or at the
deadline; it is then scored by its mean real-env test return: the test after its last episode if
it had one, else (and always with ``score_with_fresh_test``) a new test.
"""
import logging
import math
import time
from dataclasses import dataclass, field

import torch

from common.memory import retain_freed_memory

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """Per-member outcome of one population training (all tensors have shape (P,))."""

    test_return: torch.Tensor
    train_steps: torch.Tensor
    train_episodes: torch.Tensor
    solved: torch.Tensor
    timed_out: torch.Tensor
    failed: torch.Tensor          # NaN or inf from the training env or the loss
    real_test_steps: torch.Tensor  # real-env steps each member spent in tests
    episode_returns: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class EpisodeReport:
    """What ``on_episode`` hears whenever members end episodes (tensors of shape (P,))."""

    episode: torch.Tensor        # the index of the episode each ``trained`` member just ended
    trained: torch.Tensor        # members that ended an episode
    returns: torch.Tensor        # their training returns (0 elsewhere)
    steps: torch.Tensor          # training steps so far, per member
    tested: torch.Tensor         # members tested on the real env after this episode
    test_returns: torch.Tensor   # their mean test returns (NaN elsewhere)


def plateaued(returns: list[float], window: int, rel_diff: float) -> bool:
    """The paper's SE early out: the mean of the last ``window`` returns differs from the mean of
    the ``window`` returns before them by less than ``rel_diff``, relative to the earlier mean.

    The windows are disjoint and, as in the paper's code, cut short at the start of training (an
    empty earlier window never counts as a plateau): env_solved in agents/base_agent.py @ 7070963,
    the success figure's code. @ 3216697 it divides by abs(before) + 1e-9 and checks from
    episode >= init + window, and the NES worker no longer uses it (it stops on real-env tests).
    """
    recent = returns[max(len(returns) - window, 0):]
    earlier = returns[max(len(returns) - 2 * window, 0):max(len(returns) - window, 0)]
    if not recent or not earlier:
        return False
    now, before = sum(recent) / len(recent), sum(earlier) / len(earlier)
    return abs(now - before) / abs(before + 1e-9) < rel_diff


def reached(returns: list[float], window: int, threshold: float) -> bool:
    """The paper's real-env early out: the mean of the last ``window`` training returns (fewer at
    the start) reaches ``threshold`` (env_solved in agents/base_agent.py @ 7070963 and 3216697)."""
    recent = returns[-window:]
    return bool(recent) and sum(recent) / len(recent) >= threshold


def train_population(agent, train_env, test_env, agent_config, protocol, *,
                     on_synthetic: bool, deadline: float = math.inf, on_episode=None) -> TrainingResult:
    """Train ``agent`` (P members) on ``train_env`` and score it on ``test_env`` (a ``RealVecEnv``).

    ``on_episode(EpisodeReport)``, if given, is called whenever members have ended episodes
    (progress bars, per-episode metrics).
    """
    retain_freed_memory()   # every backend trains here: its updates reuse memory instead of faulting it in
    run = _PopulationRun(agent, train_env, test_env, agent_config, protocol, on_synthetic, deadline, on_episode)
    run.play()
    return run.result()


class _PopulationRun:
    """The members' training state, and the loop that plays their episodes."""

    def __init__(self, agent, train_env, test_env, agent_config, protocol, on_synthetic, deadline, on_episode):
        self.agent, self.train_env, self.test_env = agent, train_env, test_env
        self.agent_config, self.protocol, self.on_synthetic = agent_config, protocol, on_synthetic
        self.deadline, self.on_episode = deadline, on_episode
        self.solved_reward = test_env.spec.solved_reward
        self.updates_due = getattr(agent, "updates_due", None)
        population = agent.population
        self.training = torch.ones(population, dtype=torch.bool)   # not stopped
        self.playing = torch.zeros(population, dtype=torch.bool)   # mid-episode
        self.waiting = torch.zeros(population, dtype=torch.bool)   # episode ended, its end not yet handled
        self.solved = torch.zeros(population, dtype=torch.bool)
        self.failed = torch.zeros(population, dtype=torch.bool)
        self.timed_out = torch.zeros(population, dtype=torch.bool)
        self.steps = torch.zeros(population, dtype=torch.long)
        self.episodes = torch.zeros(population, dtype=torch.long)   # ended episodes = the current one's index
        self.past_init = self.episodes > agent_config.init_episodes   # members that learn in their episode
        self.episode_return = torch.zeros(population, dtype=torch.float64)
        self.history: list[list[float]] = [[] for _ in range(population)]
        self.test_history: list[list[float]] = [[] for _ in range(population)]
        self.last_test = torch.full((population,), float("nan"), dtype=torch.float64)
        self.tested_after_last_episode = torch.zeros(population, dtype=torch.bool)
        self.obs = None
        self.raw_done = getattr(train_env, "raw_done", False)
        self.truncation_is_terminal = protocol.time_limit_is_terminal and not on_synthetic

    def play(self) -> None:
        self._start_episodes(self.training.clone())
        self._note_who_plays()
        # Members waiting to be tested or updated together are handled once nobody plays, so
        # while anybody waits, somebody plays.
        while self.anyone_playing:
            ended = self._step()
            if ended.any():
                self._episodes_ended(ended)
                self._note_who_plays()

    def _note_who_plays(self) -> None:
        """Who plays and who learns changes only where episodes end: noted there rather than found
        out again at every step, where a population of one pays for every tensor call."""
        self.learning = self.playing & self.past_init
        self.anyone_learning = bool(self.learning.any())
        self.anyone_playing = bool(self.playing.any())

    def _episodes_ended(self, ended: torch.Tensor) -> None:
        """Members due a test or an end-of-episode update wait; the others' episodes end now."""
        self.playing &= ~ended
        waits = ended & self._test_due(self.episodes)
        if self.updates_due is not None:
            waits |= self.updates_due(ended)
        self.waiting |= waits
        if (ended & ~waits).any():
            self._end_episodes(ended & ~waits)
        if not self.playing.any() and self.waiting.any():
            waited, self.waiting = self.waiting, torch.zeros_like(self.waiting)
            self._end_episodes(waited)

    def _start_episodes(self, members: torch.Tensor) -> None:
        """Start the next episode of ``members``, or stop those out of episodes or past the deadline."""
        members = members & (self.episodes < self.agent_config.train_episodes)
        if not members.any():
            return
        if time.monotonic() > self.deadline:
            self.timed_out |= members
            self.training &= ~members
            return
        self.obs = self.train_env.reset(members)
        self.episode_return = torch.where(members, 0.0, self.episode_return)
        self.playing |= members

    def _step(self) -> torch.Tensor:
        """One env step of the playing members; returns the members whose episode it ended.

        An env with ``raw_done`` (an SE with ``done_in_target: raw``) also publishes ``done_values``
        after each step: they go to ``observe`` for the TD target, while episodes still end on the
        thresholded ``terminated``. With ``truncation_is_terminal`` a step-limit cut is handed to the
        agent as terminated (gym 0.17's TimeLimit done).
        """
        agent, playing = self.agent, self.playing
        actions = agent.act(self.obs, playing)
        next_obs, reward_sum, terminated, ended, done_values = _act_repeatedly(
            self.train_env, actions, playing, self.agent_config.same_action_num, self.truncation_is_terminal,
            self.raw_done)
        if self.raw_done:
            agent.observe(playing, self.obs, actions, reward_sum, next_obs, terminated, done_values=done_values)
        else:
            agent.observe(playing, self.obs, actions, reward_sum, next_obs, terminated)
        self.steps += playing
        self.episode_return += torch.where(playing, reward_sum[:, 0], 0.0)
        if self.anyone_learning:
            agent.nonfinite_loss |= agent.learn(self.learning)
        self.obs = next_obs
        return playing & ended[:, 0]

    def _end_episodes(self, played: torch.Tensor) -> None:
        """The end of the episode each ``played`` member just finished: its bookkeeping, stopping
        rules and test; then those still training start their next episode."""
        agent_config, protocol = self.agent_config, self.protocol
        episode = self.episodes.clone()   # the index of the episode each member just ended
        for m in torch.nonzero(played).flatten().tolist():
            self.history[m].append(float(self.episode_return[m]))
        self.episodes += played
        self.past_init = self.episodes > agent_config.init_episodes
        self.agent.end_episode(played)
        # After end_episode: on-policy agents (PPO) update there, and a NaN there must stop them too.
        self.failed |= played & _nonfinite(self.train_env, self.agent)
        going_on = played & ~self.failed
        if protocol.max_train_steps:
            going_on &= self.steps < protocol.max_train_steps
        self.tested_after_last_episode &= ~going_on
        if self.on_synthetic and protocol.se_early_out:
            checked = going_on & (episode > agent_config.init_episodes + agent_config.early_out_num)
            for m in torch.nonzero(checked).flatten().tolist():
                if plateaued(self.history[m], agent_config.early_out_num, agent_config.early_out_virtual_diff):
                    going_on[m] = False
        if not self.on_synthetic and protocol.real_early_out:
            checked = going_on & (episode > agent_config.init_episodes)
            for m in torch.nonzero(checked).flatten().tolist():
                if reached(self.history[m], agent_config.early_out_num, self.solved_reward):
                    going_on[m] = False
        self.training &= ~played | going_on
        testing = going_on & self._test_due(episode)
        if testing.any():
            self.last_test = torch.where(testing, self.test_env.test(self.agent.greedy, testing), self.last_test)
            self.tested_after_last_episode |= testing
            newly_solved = _tests_reached(self.test_history, self.last_test, testing, protocol.solved_window,
                                          self.solved_reward)
            self.solved |= newly_solved
            if protocol.stop_when_solved:
                self.training &= ~newly_solved
        if self.on_episode is not None:
            self.on_episode(EpisodeReport(torch.where(played, episode, -1), played.clone(),
                                          torch.where(played, self.episode_return, 0.0), self.steps.clone(), testing,
                                          torch.where(testing, self.last_test, math.nan)))
        self._start_episodes(played & self.training)

    def _test_due(self, episode: torch.Tensor) -> torch.Tensor:
        """Members whose episode of index ``episode`` is followed by a test (if they still train then)."""
        every = self.protocol.test_every
        if every <= 0:
            return torch.zeros_like(self.training)
        due = (episode + 1) % every == 0
        return due if self.protocol.test_init_episodes else due & (episode >= self.agent_config.init_episodes)

    def result(self) -> TrainingResult:
        # A fresh test: the test that stopped a member was picked because it passed, so it is biased
        # upward; the paper scores every member by a new one.
        failed, last_test = self.failed, self.last_test
        untested = ~failed if self.protocol.score_with_fresh_test else ~self.tested_after_last_episode & ~failed
        if untested.any():
            last_test = torch.where(untested, self.test_env.test(self.agent.greedy, untested), last_test)
        solved = (last_test >= self.solved_reward) & ~failed
        if failed.any():
            log.warning("members %s produced NaN or inf and get the worst score",
                        torch.nonzero(failed).flatten().tolist())
        return TrainingResult(test_return=torch.where(failed, torch.full_like(last_test, -math.inf), last_test),
                              train_steps=self.steps, train_episodes=self.episodes, solved=solved,
                              timed_out=self.timed_out, failed=failed,
                              real_test_steps=torch.from_numpy(self.test_env.steps_used.copy()),
                              episode_returns=self.history)


def _tests_reached(test_history: list[list[float]], last_test: torch.Tensor, testing: torch.Tensor, window: int,
                   threshold: float) -> torch.Tensor:
    """Record the new test means of ``testing`` members; (P,) mask of those whose mean of the last
    ``window`` test means (fewer at first) reaches ``threshold`` (window 1: the test itself)."""
    solved = torch.zeros_like(testing)
    for m in torch.nonzero(testing).flatten().tolist():
        test_history[m].append(float(last_test[m]))
        solved[m] = reached(test_history[m], window, threshold)
    return solved


def _nonfinite(train_env, agent) -> torch.Tensor:
    env_flags = getattr(train_env, "nonfinite", torch.zeros(agent.population, dtype=torch.bool))
    return env_flags | agent.nonfinite_loss


def _act_repeatedly(env, actions: torch.Tensor, running: torch.Tensor, repeat: int, truncation_is_terminal: bool,
                    raw_done: bool):
    """``actions`` for up to ``repeat`` env steps of the ``running`` members, each stopping where its
    episode ends: (next obs, summed rewards, terminated, ended, done values or None), each (P, B).

    A repeated action's transition carries the done value of its last step (the paper's env
    wrapper returns the last step's done).
    """
    next_obs, reward, term, trunc, _ = env.step(actions, running)
    reward_sum = reward.to(torch.float32, copy=True)   # float32 whatever the env's reward type, and ours to add to
    ended = term | trunc
    terminated = ended if truncation_is_terminal else term
    done_values = env.done_values if raw_done else None
    if repeat == 1:
        return next_obs, reward_sum, terminated, ended, done_values
    stepping = running[:, None] & ~ended
    for _ in range(repeat - 1):
        if not stepping.any():
            break
        next_obs, reward, term, trunc, _ = env.step(actions, stepping[:, 0])
        reward_sum += reward
        if raw_done:
            done_values = torch.where(stepping, env.done_values, done_values)
        terminated = terminated | ((term | trunc) if truncation_is_terminal else term)
        ended = ended | term | trunc
        stepping &= ~ended
    return next_obs, reward_sum, terminated, ended, done_values
