"""The contract every registered agent keeps (``agents.AGENTS``), checked for each one alike:

- its config spec: a name, a title and a ``Config`` that the ``agents.<name>`` section is built from,
  and a one-line refusal of an env it cannot act in (at config loading and at construction);
- a member trained alone equals, bit for bit, that member trained inside a population (plain,
  with the ICM where the agent has it, and with varied hyperparameters), on a real env and on an SE;
- the same seeds give the same run;
- a NaN stays in its member (a NaN reward, or an SE with NaN parameters): the member fails and
  gets the worst score, its networks hold no NaN, and its neighbours train exactly as in a
  population without the NaN.

"Exactly" means the member's whole state: every tensor and numpy array the agent holds (networks,
target networks, optimizer moments, replay buffer, random-stream counters, epsilon, visit counts,
...), found by walking the agent's attributes, plus its training result. Agent-specific behaviour (update rules,
learning checks) is tested in each agent's own file.
"""
import dataclasses
import functools
import math

import numpy as np
import pytest
import torch

from agents import AGENTS, make_agent
from agents.base import AgentConfig
from agents.training import train_population
from agents.varied import PAPER_FIELDS, VariedAgent
from common.errors import UserError
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config

# Every agent runs on each of these envs it accepts; an agent that accepts neither (the tabular
# ones, which need discrete states) runs on CliffWalking-v1.
ENVS, FALLBACK_ENV = ("CartPole-v0", "Pendulum-v1"), "CliffWalking-v1"
ALL_ENVS = (*ENVS, FALLBACK_ENV)
# The training envs each env is tested with, and their training episodes (the first is the one
# the other contracts use). Pendulum's real episodes all last 200 steps; on the SEs below members
# finish episodes apart, so masking is tested. A tabular member needs 10 episodes to reach the
# goal now and then (and end an episode early).
TRAIN_ENVS = {"CartPole-v0": {"real": 6, "synthetic": 12}, "Pendulum-v1": {"synthetic": 12},
              "CliffWalking-v1": {"real": 10}}
# Small budgets and networks, set on whichever of these fields an agent's config has.
SMALL = {"test_episodes": 2, "init_episodes": 1, "hidden_size": 16, "feature_dim": 8, "batch_size": 16,
         "policy_delay": 2, "update_episodes": 2, "ppo_epochs": 2, "icm_hidden_size": 16, "icm_feature_size": 8,
         "count_based": True, "beta": 0.3, "eps_init": 0.3, "eps_decay": 0.8, "eps_min": 0.05}
# A cap on training steps per env: members stop after different numbers of episodes, and the
# long episodes of the SEs below stay cheap.
MAX_TRAIN_STEPS = {"CartPole-v0": 100, "Pendulum-v1": 150, "CliffWalking-v1": 900}
SEEDS = [5, 6, 7]
MEMBER = 2  # the member compared (and poisoned): on the SEs below, the one with short episodes
# Attributes that are not a member's state: member indices (0..P-1, they differ between P = 3 and
# P = 1) and the buffer rows they start at, and the scratch one call leaves for the next call of the same step (the last observed
# transition, the last action vectors or samples), whose rows of members outside ``active`` hold
# whatever the call computed for them.
SKIPPED_ATTRIBUTES = {"members", "_members", "_first_rows", "transition", "_last_vectors", "_sampled"}


def accepts(agent_class, env_id: str) -> bool:
    try:
        agent_class.check_spec(real_env_spec(env_id))
    except UserError:
        return False
    return True


def agent_envs(name: str) -> list[str]:
    envs = [env for env in ENVS if accepts(AGENTS[name], env)]
    return envs or [FALLBACK_ENV]


CASES = [(name, env) for name in AGENTS for env in agent_envs(name)]


def case_id(case) -> str:
    return "-".join(str(part) for part in case)


def has_field(name: str, field: str) -> bool:
    return any(f.name == field for f in dataclasses.fields(AGENTS[name].Config))


def first_train_env(env_id: str) -> str:
    return next(iter(TRAIN_ENVS[env_id]))


ALONE_CASES = ([(name, env, train_env, "plain") for name, env in CASES for train_env in TRAIN_ENVS[env]]
               + [(name, env, first_train_env(env), "icm") for name, env in CASES if has_field(name, "icm")]
               + [(name, env, first_train_env(env), "vary_hp") for name, env in CASES]
               + [(name, env, first_train_env(env), "vary_member_fields") for name, env in CASES]
               + [(name, env, first_train_env(env), "layer_norm") for name, env in CASES
                  if has_field(name, "layer_norm")])


# --------------------------------------------------------------------------- training

def small_config(name: str, env_id: str, train_env: str, variant: str = "plain"):
    config = getattr(load_config(None).agents, name)
    fields = {f.name for f in dataclasses.fields(config)}
    settings = SMALL | {"train_episodes": TRAIN_ENVS[env_id][train_env]}
    settings |= {"icm": True} if variant == "icm" else {}
    settings |= {"vary_hp": True} if variant == "vary_hp" else {}
    # Only the fields the agent holds per member vary: the members share one batched sub-agent.
    settings |= ({"vary_hp": True, "vary_fields": ",".join(AGENTS[name].MEMBER_FIELDS)}
                 if variant == "vary_member_fields" else {})
    settings |= {"layer_norm": True, "hidden_layer": 2} if variant == "layer_norm" else {}
    return dataclasses.replace(config, **{k: v for k, v in settings.items() if k in fields})


# Done-net output biases of the SEs of SE seeds 1, 2 and 3 (a random SE's episodes would all last
# until the step limit, or all end at once): on the first, episodes mostly last 200 steps; on the
# second, 1 to 6 (CartPole) or 1 to 200 (Pendulum); on the third (member MEMBER's), 1 to 10.
DONE_BIASES = {"CartPole-v0": (0.45, 0.5, 0.3), "Pendulum-v1": (0.45, 0.46, 0.4)}


def synthetic_nets(env_id: str, se_seeds) -> SyntheticEnvNets:
    """Random SEs (one per member) whose done nets fire at different times."""
    nets = SyntheticEnvNets.initialise(list(se_seeds), real_env_spec(env_id), 16, 1, "leakyrelu")
    for member, se_seed in enumerate(se_seeds):
        nets.nets["done_net"].biases[-1][member].fill_(DONE_BIASES[env_id][se_seed - 1])
    return nets


class NaNRewards:
    """A training env whose member ``MEMBER`` gets NaN rewards."""

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)

    def step(self, actions, active=None):
        obs, reward, *rest = self.env.step(actions, active)
        reward = reward.clone()
        reward[MEMBER] = float("nan")
        return obs, reward, *rest


def train(name: str, env_id: str, seeds: list[int], train_env: str = "real", variant: str = "plain",
          nan: str | None = None):
    """Members ``seeds`` of agent ``name`` (member m's SE is the one of SE seed m + 1 in any
    population) trained on ``train_env`` and tested on the real ``env_id``: (agent, result).
    ``nan``: where member ``MEMBER`` meets a NaN, in its ``"reward"`` or its ``"synthetic_env"``'s
    parameters."""
    config = small_config(name, env_id, train_env, variant)
    spec = real_env_spec(env_id)
    agent = make_agent(name, config, spec, seeds)
    if train_env == "real":
        env = RealVecEnv(env_id, [s + 100 for s in seeds])
    else:
        nets = synthetic_nets(env_id, [SEEDS.index(s) + 1 for s in seeds])
        if nan == "synthetic_env":
            flat = nets.to_flat()
            flat[MEMBER] = float("nan")
            nets = nets.with_flat(flat)
        env = SyntheticVecEnv(nets, spec, InitialStateSampler(env_id, [s + 300 for s in seeds]), autoreset=False)
    test_env = RealVecEnv(env_id, [s + 200 for s in seeds], config.test_episodes)
    protocol = dataclasses.replace(load_config(None).protocol, se_early_out=False, stop_when_solved=False,
                                   max_train_steps=MAX_TRAIN_STEPS[env_id], test_every=3)
    result = train_population(agent, NaNRewards(env) if nan == "reward" else env, test_env, config, protocol,
                              on_synthetic=train_env != "real")
    return agent, result


@functools.cache
def population_run(name: str, env_id: str, train_env: str, variant: str = "plain"):
    """The population every contract compares against, trained once per module."""
    return train(name, env_id, SEEDS, train_env, variant)


# --------------------------------------------------------------------------- comparing members

def member_state(agent, member: int) -> dict[str, torch.Tensor]:
    """Every tensor of ``member``'s state, by attribute path. A (P, ...) tensor gives its row
    ``member``; a (2P, ...) one (TD3's twin critics) its rows ``member`` and ``P + member``."""
    if isinstance(agent, VariedAgent):  # one sub-agent per sampled config
        for index, sub_agent in agent.groups:
            if member in index.tolist():
                return member_state(sub_agent, index.tolist().index(member))
    population, state, seen = agent.population, {}, set()

    def walk(value, path: str) -> None:
        if isinstance(value, np.ndarray):   # state kept in numpy (random-stream counters, Adam's beta powers)
            value = torch.from_numpy(value)
        if isinstance(value, torch.Tensor):
            if value.shape[0] == population:
                state[path] = value[member]
            elif value.shape[0] == 2 * population:
                state[path] = value[[member, population + member]]
            else:
                raise AssertionError(f"{path} {tuple(value.shape)}: not a population tensor of P = {population}")
            return
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif (type(value).__module__.split(".")[0] in ("agents", "models", "common") and hasattr(value, "__dict__")
              and not dataclasses.is_dataclass(value)):
            for key, item in vars(value).items():
                if key not in SKIPPED_ATTRIBUTES:
                    walk(item, f"{path}.{key}")

    walk(agent, type(agent).__name__)
    return state


RESULT_FIELDS = ("test_return", "train_steps", "train_episodes", "solved", "timed_out", "failed")


def assert_same_member(run_a, member_a: int, run_b, member_b: int) -> None:
    (agent_a, result_a), (agent_b, result_b) = run_a, run_b
    state_a, state_b = member_state(agent_a, member_a), member_state(agent_b, member_b)
    assert state_a.keys() == state_b.keys()
    assert len(state_a) > 0
    for path, tensor in state_a.items():
        assert torch.equal(tensor, state_b[path]), path
    for key, tensor in agent_a.member_state_dict(member_a).items():
        assert torch.equal(tensor, agent_b.member_state_dict(member_b)[key]), key
    for field in RESULT_FIELDS:
        assert torch.equal(getattr(result_a, field)[member_a], getattr(result_b, field)[member_b]), field
    assert result_a.episode_returns[member_a] == result_b.episode_returns[member_b]


# --------------------------------------------------------------------------- the contracts

@pytest.mark.parametrize("name", AGENTS)
def test_config_spec(name):
    agent_class = AGENTS[name]
    assert agent_class.name == name
    assert agent_class.title and "\n" not in agent_class.title
    assert dataclasses.is_dataclass(agent_class.Config) and issubclass(agent_class.Config, AgentConfig)
    assert agent_class.MEMBER_FIELDS and all(has_field(name, f) for f in agent_class.MEMBER_FIELDS)
    # The agents.<name> section is the agent's own Config with its own defaults.
    assert getattr(load_config(None).agents, name) == agent_class.Config()
    for env_id in ALL_ENVS:
        spec = real_env_spec(env_id)
        if env_id in agent_envs(name):
            config = load_config(None, [f"agent={name}", f"env={env_id}"])
            assert isinstance(config.agent_config(), agent_class.Config)
            agent = agent_class(config.agent_config(), spec, [1, 2])
            assert agent.population == 2 and agent.nonfinite_loss.tolist() == [False, False]
            assert agent.member_state_dict(1) and all(isinstance(t, torch.Tensor)
                                                      for t in agent.member_state_dict(1).values())
        elif not accepts(agent_class, env_id):
            message = rf"^agent '{name}' needs [^\n]+, but {env_id} has [^\n]+$"
            with pytest.raises(UserError, match=message):
                load_config(None, [f"agent={name}", f"env={env_id}"])
            with pytest.raises(UserError, match=message):
                agent_class(agent_class.Config(), spec, [0])


@pytest.mark.parametrize("name, env_id, train_env, variant", ALONE_CASES, ids=map(case_id, ALONE_CASES))
def test_a_member_trains_the_same_alone_as_in_a_population(name, env_id, train_env, variant):
    together = population_run(name, env_id, train_env, variant)
    alone = train(name, env_id, [SEEDS[MEMBER]], train_env, variant)
    steps = together[1].train_steps.tolist()
    assert len(set(steps)) > 1, f"members should finish episodes apart, or masking goes untested: {steps}"
    networks = [together[0].member_state_dict(m) for m in range(len(SEEDS))]
    for other in set(range(len(SEEDS))) - {MEMBER}:
        assert any(not torch.equal(v, networks[other][k]) for k, v in networks[MEMBER].items()), \
            "members should differ, or the check is vacuous"
    assert not together[1].failed.any()
    if variant == "icm":
        assert together[0].icm is not None
    if variant == "layer_norm":
        assert together[0].actor.norm and together[0].critics.norm
        assert not torch.equal(together[0].critics.norm[0], torch.ones_like(together[0].critics.norm[0])), "it learns"
    if variant == "vary_hp":
        # A sub-agent per member where a size varies; one for all where only per-member fields do (tabular).
        sizes = [f for f in PAPER_FIELDS.split(",") if has_field(name, f) and f not in AGENTS[name].MEMBER_FIELDS]
        assert isinstance(together[0], VariedAgent) and len(together[0].groups) == (len(SEEDS) if sizes else 1)
        assert together[0].member_configs[MEMBER] == alone[0].member_configs[0]
    if variant == "vary_member_fields":
        assert isinstance(together[0], VariedAgent) and len(together[0].groups) == 1, "one batch"
        configs = together[0].member_configs
        assert len({repr(c) for c in configs}) == len(SEEDS), "the members should differ"
        assert configs[MEMBER] == alone[0].member_configs[0]
    assert_same_member(together, MEMBER, alone, 0)


@pytest.mark.parametrize("name, env_id", CASES, ids=map(case_id, CASES))
def test_same_seeds_give_the_same_run(name, env_id):
    train_env = first_train_env(env_id)
    first, second = population_run(name, env_id, train_env), train(name, env_id, SEEDS, train_env)
    for member in range(len(SEEDS)):
        assert_same_member(first, member, second, member)


NAN_CASES = ([(name, env, first_train_env(env), "reward") for name, env in CASES]
             + [(name, env, "synthetic", "synthetic_env") for name, env in CASES if "synthetic" in TRAIN_ENVS[env]])


@pytest.mark.parametrize("name, env_id, train_env, source", NAN_CASES, ids=map(case_id, NAN_CASES))
def test_a_nan_stays_in_its_member(name, env_id, train_env, source):
    clean = population_run(name, env_id, train_env)
    agent, result = poisoned = train(name, env_id, SEEDS, train_env, nan=source)
    flagged = [m == MEMBER for m in range(len(SEEDS))]
    assert result.failed.tolist() == flagged
    if source == "reward":  # a NaN SE is caught by the env, a NaN reward by the agent's own loss
        assert agent.nonfinite_loss.tolist() == flagged
    assert result.test_return[MEMBER].item() == -math.inf and not result.solved[MEMBER]
    assert all(torch.isfinite(t).all() for t in agent.member_state_dict(MEMBER).values()), \
        "the update with the NaN loss should not be taken"
    for member in set(range(len(SEEDS))) - {MEMBER}:
        assert_same_member(poisoned, member, clean, member)
