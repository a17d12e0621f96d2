"""Fixed-env tasks: fresh agents trained in a given learned SE or on the real env, tested on the real env.

This is how a learned SE is judged after NES (the paper's evaluation protocol:
experiments/syn_env_evaluate_cartpole_vary_hp_2.py with syn_env_run_vary_hp.py @ 3216697):

- in an SE (``task.psi``), agents never touch the real env while training: there are no tests
  during training (test_every 0), and an agent stops by the SE early-out rule (its training
  return plateaus) or at its episode cap;
- in a bandit SE (``synthetic_env.kind: bandit``; not in the paper), an agent trains for its whole
  budget: ``train_episodes`` one-step episodes, or ``protocol.max_train_steps`` steps. The plateau
  rule compares means of ``early_out_num`` episode returns, which for one-step episodes are a
  handful of single rewards: noise, not a sign that the agent stopped learning;
- on the real env (``psi`` None, the baseline), agents stop once the mean of their last
  ``early_out_num`` training returns reaches the env's solved threshold (the paper's rule). They
  are not tested while training: a test after every episode would spend real-env episodes that
  the step count leaves out, and would stop an agent at its first lucky test.

Either way an agent is tested once, on the real env, after training.

All tasks of one call train as one population (``batched``; different SEs are different members),
or one at a time; both give the same numbers, because every agent's randomness comes from its seed.
"""
import dataclasses
import math
import time

import torch

from agents.population import SeedRoles, train_fresh_population
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import Config, ProtocolConfig
from nes.learned_envs import training_env
from nes.tasks import FixedEnvResult, FixedEnvTask


def evaluation_protocol(protocol: ProtocolConfig, se_kind: str | None) -> ProtocolConfig:
    """The rules above: in an SE of ``se_kind`` (``synthetic_env.kind``) or, for None, on the real env."""
    if se_kind == "bandit":
        return dataclasses.replace(protocol, test_every=0, se_early_out=False, real_early_out=False)
    if se_kind is not None:
        return dataclasses.replace(protocol, test_every=0, se_early_out=True, real_early_out=False)
    return dataclasses.replace(protocol, test_every=0, stop_when_solved=False, se_early_out=False,
                               real_early_out=True)


def train_in_fixed_envs(tasks: list[FixedEnvTask], config: Config, time_budget: float = math.inf,
                        batched: bool = True) -> list[FixedEnvResult]:
    """Results for ``tasks`` in their order; each training may spend ``time_budget`` seconds."""
    if batched:
        return _train(tasks, config, time_budget)
    return [result for task in tasks for result in _train([task], config, time_budget)]


def _train(tasks: list[FixedEnvTask], config: Config, time_budget: float) -> list[FixedEnvResult]:
    """Train ``tasks`` as one population: all in SEs of ``config.synthetic_env``'s shape, or all on the real env."""
    synthetic = tasks[0].psi is not None
    if any((task.psi is not None) != synthetic for task in tasks):
        raise ValueError("one population trains either in SEs or on the real env, not both")
    roles = SeedRoles.of([task.seed for task in tasks])
    start = time.monotonic()
    if synthetic:
        se_config = dataclasses.replace(config, learn="synthetic_env")
        psis = torch.stack([task.psi for task in tasks])
        train_env = training_env(se_config, real_env_spec(config.env), psis, roles.train_env)
    else:
        train_env = RealVecEnv(config.env, roles.train_env)
    protocol = evaluation_protocol(config.protocol, config.synthetic_env.kind if synthetic else None)
    result = train_fresh_population(config.agent, config.agent_config(), config.env, roles, train_env, protocol,
                                    on_synthetic=synthetic, deadline=start + time_budget).result
    seconds = time.monotonic() - start
    return [FixedEnvResult(run_id=task.run_id, iteration=task.iteration, member=task.member,
                           test_return=float(result.test_return[i]), train_steps=int(result.train_steps[i]),
                           train_episodes=int(result.train_episodes[i]), seconds=seconds,
                           timed_out=bool(result.timed_out[i]), failed=bool(result.failed[i]))
            for i, task in enumerate(tasks)]
