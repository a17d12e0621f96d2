"""The inner-loop training protocol, shared by all agents.

Members train in episode lockstep: every still-training member plays one episode (members whose
episode ended wait, masked, until the slowest one finishes), then all are tested on the real env
together. A member's own trajectory is untouched by the waiting, so it is the one it would have
had alone. A member stops when it is solved on the real env (its last test, or the mean of its
last ``solved_window`` tests, reaches the threshold), when its SE return plateaus
(``early_out_*``), when its own real-env training returns reach the solved threshold
(``real_early_out``), when its episodes run out, when its SE or loss turns NaN, or at the deadline;
it is then scored by its mean real-env test return: the test after its last episode if it had
one, else (and always with ``score_with_fresh_test``) a new test.
"""
import logging
import math
import time
from dataclasses import dataclass, field

import torch

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
    """What ``on_episode`` hears after each lockstep episode (tensors of shape (P,))."""

    episode: int
    trained: torch.Tensor        # members that played this episode
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

    ``on_episode(EpisodeReport)``, if given, is called after every lockstep episode (progress bars,
    per-episode metrics).
    """
    population = agent.population
    solved_reward = test_env.spec.solved_reward
    training = torch.ones(population, dtype=torch.bool)
    solved = torch.zeros(population, dtype=torch.bool)
    failed = torch.zeros(population, dtype=torch.bool)
    timed_out = torch.zeros(population, dtype=torch.bool)
    steps = torch.zeros(population, dtype=torch.long)
    episodes = torch.zeros(population, dtype=torch.long)
    history: list[list[float]] = [[] for _ in range(population)]
    test_history: list[list[float]] = [[] for _ in range(population)]
    last_test = torch.full((population,), float("nan"), dtype=torch.float64)
    tested_after_last_episode = torch.zeros(population, dtype=torch.bool)

    for episode in range(agent_config.train_episodes):
        if not training.any():
            break
        if time.monotonic() > deadline:
            timed_out |= training
            break
        episode_return = _play_episode(agent, train_env, training, steps, learn=episode > agent_config.init_episodes,
                                       repeat=agent_config.same_action_num,
                                       truncation_is_terminal=protocol.time_limit_is_terminal and not on_synthetic)
        for m in torch.nonzero(training).flatten().tolist():
            history[m].append(float(episode_return[m]))
        episodes += training.long()
        agent.end_episode(training)
        # After end_episode: on-policy agents (PPO) update there, and a NaN there must stop them too.
        failed |= training & _nonfinite(train_env, agent)
        played = training.clone()
        training &= ~failed
        if protocol.max_train_steps:
            training &= steps < protocol.max_train_steps
        tested_after_last_episode &= ~training

        if on_synthetic and protocol.se_early_out and episode > agent_config.init_episodes + agent_config.early_out_num:
            for m in torch.nonzero(training).flatten().tolist():
                if plateaued(history[m], agent_config.early_out_num, agent_config.early_out_virtual_diff):
                    training[m] = False
        if not on_synthetic and protocol.real_early_out and episode > agent_config.init_episodes:
            for m in torch.nonzero(training).flatten().tolist():
                if reached(history[m], agent_config.early_out_num, solved_reward):
                    training[m] = False
        due = protocol.test_every > 0 and (episode + 1) % protocol.test_every == 0
        past_init = episode >= agent_config.init_episodes or protocol.test_init_episodes
        testing = training.clone() if due and past_init else torch.zeros_like(training)
        if testing.any():
            last_test = torch.where(testing, test_env.test(agent.greedy, testing), last_test)
            tested_after_last_episode |= testing
            newly_solved = _tests_reached(test_history, last_test, testing, protocol.solved_window, solved_reward)
            solved |= newly_solved
            if protocol.stop_when_solved:
                training &= ~newly_solved
        if on_episode is not None:
            on_episode(EpisodeReport(episode, played, torch.where(played, episode_return, 0.0), steps.clone(),
                                     testing, torch.where(testing, last_test, math.nan)))

    # A fresh test: the test that stopped a member was picked because it passed, so it is biased
    # upward; the paper scores every member by a new one.
    untested = ~failed if protocol.score_with_fresh_test else ~tested_after_last_episode & ~failed
    if untested.any():
        last_test = torch.where(untested, test_env.test(agent.greedy, untested), last_test)
    solved = (last_test >= solved_reward) & ~failed
    if failed.any():
        log.warning("members %s produced NaN or inf and get the worst score", torch.nonzero(failed).flatten().tolist())
    return TrainingResult(test_return=torch.where(failed, torch.full_like(last_test, -math.inf), last_test),
                          train_steps=steps, train_episodes=episodes, solved=solved, timed_out=timed_out,
                          failed=failed, real_test_steps=torch.from_numpy(test_env.steps_used.copy()),
                          episode_returns=history)


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


def _play_episode(agent, env, training: torch.Tensor, steps: torch.Tensor, *, learn: bool, repeat: int,
                  truncation_is_terminal: bool = False) -> torch.Tensor:
    """One episode for every training member; returns each member's episode return.

    An env with ``raw_done`` (an SE with ``done_in_target: raw``) also publishes ``done_values``
    after each step: they go to ``observe`` for the TD target, while episodes still end on the
    thresholded ``terminated``. With ``truncation_is_terminal`` a step-limit cut is handed to the
    agent as terminated (gym 0.17's TimeLimit done).
    """
    obs = env.reset(training)
    running = training.clone()
    episode_return = torch.zeros(agent.population, dtype=torch.float64)
    raw_done = getattr(env, "raw_done", False)
    while running.any():
        actions = agent.act(obs, running)
        reward_sum = torch.zeros(obs.shape[:2])
        stepping = running[:, None].clone()
        ended = torch.zeros_like(stepping)
        terminated = torch.zeros_like(stepping)
        done_values = torch.zeros(obs.shape[:2]) if raw_done else None
        next_obs = obs
        for _ in range(repeat):
            next_obs, reward, term, trunc, _ = env.step(actions, stepping[:, 0])
            reward_sum += reward
            if raw_done:
                # A repeated action's transition carries the done value of its last step (the
                # paper's env wrapper returns the last step's done).
                done_values = torch.where(stepping, env.done_values, done_values)
            terminated |= (term | trunc) if truncation_is_terminal else term
            ended |= term | trunc
            stepping &= ~ended
            if not stepping.any():
                break
        if raw_done:
            agent.observe(running, obs, actions, reward_sum, next_obs, terminated, done_values=done_values)
        else:
            agent.observe(running, obs, actions, reward_sum, next_obs, terminated)
        steps += running.long()
        episode_return += torch.where(running, reward_sum[:, 0].double(), 0.0)
        if learn:
            agent.nonfinite_loss |= agent.learn(running)
        running &= ~ended[:, 0]
        obs = next_obs
    return episode_return
