"""Paper mode (issue 29): the options that reproduce the paper's protocol, each checked where it can
fail, and the configs of default_config/paper/.

- ``synthetic_env.done_in_target: raw``: bootstrapping agents use 1 - the SE's raw done output;
- ``protocol.time_limit_is_terminal``: a step-limit cut on the real env is stored as terminal;
- ``protocol.solved_window``, ``test_init_episodes``, ``score_with_fresh_test``: the stop rule and
  the score of the paper's NES worker;
- ``nes.worst_score_on_timeout``: an agent out of its member's time scores -1e9;
- ``nes.evolve_prelu_slopes: false``: psi holds the Linear weights only.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from agents import make_agent
from agents.ddqn import DDQN
from agents.training import train_population
from common.errors import UserError
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import load_config
from nes.learned_envs import all_parameters, initial_nets, nets_from_psi, psi_of, psi_size, save_learned_env
from nes.master import initial_state
from nes.member_evaluation import TIMED_OUT_SCORE, evaluate_members
from nes.model_files import load_model
from nes.tasks import MemberTask
from tests.helpers import REPO_ROOT, TINY_OVERRIDES, leaf_keys, run_entry_point

CARTPOLE = real_env_spec("CartPole-v0")
PAPER_CONFIGS = sorted((REPO_ROOT / "default_config" / "paper").glob("*.yaml"))


# --- raw done in the TD target ------------------------------------------------------------------

AGENT_ENVS = {"ddqn": "CartPole-v0", "dueling_ddqn": "CartPole-v0", "td3_discrete": "CartPole-v0",
              "ppo": "CartPole-v0", "td3": "Pendulum-v1", "ql": "CliffWalking-v1", "sarsa": "CliffWalking-v1"}
SMALL = {"ddqn": ["hidden_size=8", "batch_size=4"], "dueling_ddqn": ["hidden_size=8", "feature_dim=8", "batch_size=4"],
         "td3_discrete": ["hidden_size=8", "batch_size=4", "init_episodes=0"],
         "td3": ["hidden_size=8", "batch_size=4", "init_episodes=0"], "ppo": ["hidden_size=8", "update_episodes=1"],
         "ql": ["init_episodes=0"], "sarsa": ["init_episodes=0"]}


def trained_on_one_transition(name: str, terminated: bool, done_value: float | None) -> dict:
    """One member's weights after 5 steps on one hand-made transition s -> s (reward 1), handed to
    ``observe`` as ``terminated`` and, unless None, the raw ``done_value``."""
    spec = real_env_spec(AGENT_ENVS[name])
    config = load_config(None, [f"agent={name}", f"env={spec.env_id}"] + [f"agents.{name}.{o}" for o in SMALL[name]])
    agent = make_agent(name, config.agent_config(), spec, [11])
    state = torch.zeros(1, 1, spec.state_dim)
    state[..., 0] = 1.0  # a one-hot cell for CliffWalking, a plain state elsewhere
    active = torch.ones(1, dtype=torch.bool)
    raw = {} if done_value is None else {"done_values": torch.full((1, 1), done_value)}
    for _ in range(5):
        actions = agent.act(state, active)
        agent.observe(active, state, actions, torch.ones(1, 1), state, torch.full((1, 1), terminated), **raw)
        agent.learn(active)
    agent.end_episode(active)
    return agent.member_state_dict(0)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", sorted(AGENT_ENVS))
def test_every_bootstrapping_agent_weighs_its_target_by_one_minus_the_raw_done(name):
    # Raw 1 and 0 are the thresholded flags exactly; a raw 0.37 is neither, so it must reach the target.
    assert same_weights(trained_on_one_transition(name, True, 1.0), trained_on_one_transition(name, True, None))
    assert same_weights(trained_on_one_transition(name, False, 0.0), trained_on_one_transition(name, False, None))
    partial = trained_on_one_transition(name, False, 0.37)
    assert not same_weights(partial, trained_on_one_transition(name, False, None))
    assert not same_weights(partial, trained_on_one_transition(name, True, None))


def test_the_ddqn_loss_uses_the_stored_raw_done_in_its_target():
    config = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=4"]).agents.ddqn
    agent = DDQN(config, CARTPOLE, [5])
    active = torch.ones(1, dtype=torch.bool)
    state, next_state = torch.full((1, 1, 4), 0.1), torch.full((1, 1, 4), -0.2)
    agent.observe(active, state, torch.ones(1, 1, dtype=torch.long), torch.full((1, 1), 2.0), next_state,
                  torch.zeros(1, 1, dtype=torch.bool), done_values=torch.full((1, 1), 0.3))
    seen = {}
    compute = agent._td_gradients

    def spy(q, q_target, gamma, states, taken, rewards, next_states, dones, out=None):
        seen["dones"] = dones.clone()
        seen["loss"] = compute(q, q_target, gamma, states, taken, rewards, next_states, dones)[1]
        return compute(q, q_target, gamma, states, taken, rewards, next_states, dones, out)

    q_before, q_target_before = agent.q.detached_copy(), agent.q_target.detached_copy()
    agent._td_gradients = spy
    agent.learn(active)
    assert torch.allclose(seen["dones"], torch.full((1, 4), 0.3))
    best_next = q_before(next_state).argmax(dim=-1, keepdim=True)
    target = 2.0 + config.gamma * q_target_before(next_state).gather(-1, best_next).squeeze(-1) * (1 - 0.3)
    expected = (q_before(state)[..., 1] - target) ** 2
    assert torch.allclose(seen["loss"], expected.mean(dim=1))


def se_with_done_output(done: float, seeds=(1, 2)) -> SyntheticEnvNets:
    """SEs whose done net outputs ``done`` everywhere."""
    nets = SyntheticEnvNets.initialise(list(seeds), CARTPOLE, 8, 1, "relu")
    done_net = nets.nets["done_net"]
    done_net.weights[-1].zero_(), done_net.biases[-1].fill_(done)
    return nets


def test_a_raw_done_se_publishes_the_raw_output_and_still_ends_episodes_at_one_half():
    nets = se_with_done_output(0.7)
    env = SyntheticVecEnv(nets, CARTPOLE, InitialStateSampler("CartPole-v0", [1, 2]), autoreset=False, raw_done=True)
    env.reset()
    _, _, terminated, _, _ = env.step(torch.zeros(2, 1, dtype=torch.long), torch.tensor([True, False]))
    assert torch.allclose(env.done_values, torch.tensor([[0.7], [0.0]]))
    assert terminated.tolist() == [[True], [False]]
    plain = SyntheticVecEnv(nets, CARTPOLE, InitialStateSampler("CartPole-v0", [1, 2]), autoreset=False)
    plain.reset()
    plain.step(torch.zeros(2, 1, dtype=torch.long))
    assert plain.done_values is None


@pytest.mark.parametrize("mode, stored", [("raw", 0.3), ("thresholded", 0.0)])
def test_training_on_an_se_stores_the_done_the_mode_names(mode, stored):
    config = load_config(None, [f"synthetic_env.done_in_target={mode}", "agents.ddqn.hidden_size=8",
                                "agents.ddqn.batch_size=4", "agents.ddqn.train_episodes=1",
                                "agents.ddqn.test_episodes=1", "protocol.test_every=0"])
    agent = DDQN(config.agents.ddqn, CARTPOLE, [1, 2])
    train_env = SyntheticVecEnv(se_with_done_output(0.3), CARTPOLE, InitialStateSampler("CartPole-v0", [1, 2]),
                                autoreset=False, raw_done=config.synthetic_env.done_in_target == "raw")
    test_env = RealVecEnv("CartPole-v0", [7, 8], 1)
    result = train_population(agent, train_env, test_env, config.agents.ddqn, config.protocol, on_synthetic=True)
    # Done 0.3 never ends an episode: each runs to the 200-step limit, every transition storing the done.
    assert result.train_steps.tolist() == [200, 200]
    dones = agent.replay.rows[:, :200, -1]
    assert torch.allclose(dones, torch.full_like(dones, stored))


# --- the real env's time limit ------------------------------------------------------------------

class CutAfterThreeSteps:
    """A stand-in real env whose episodes are truncated (never terminated) at their third step."""

    def __init__(self, population: int):
        self.population, self.elapsed = population, 0

    def reset(self, members=None):
        self.elapsed = 0
        return torch.zeros(self.population, 1, 4)

    def step(self, actions, active=None):
        self.elapsed += 1
        cut = torch.full((self.population, 1), self.elapsed >= 3)
        obs = torch.full((self.population, 1, 4), float(self.elapsed))
        return obs, torch.ones(self.population, 1), torch.zeros_like(cut), cut, obs


@pytest.mark.parametrize("terminal", [True, False])
def test_a_step_limit_cut_is_stored_as_terminal_only_with_the_option(terminal):
    config = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=4", "agents.ddqn.train_episodes=1",
                                "agents.ddqn.test_episodes=1", "protocol.test_every=0",
                                f"protocol.time_limit_is_terminal={str(terminal).lower()}"])
    agent = DDQN(config.agents.ddqn, CARTPOLE, [1])
    train_population(agent, CutAfterThreeSteps(1), RealVecEnv("CartPole-v0", [3], 1), config.agents.ddqn,
                     config.protocol, on_synthetic=False)
    assert agent.replay.rows[0, :3, -1].tolist() == [0.0, 0.0, 1.0 if terminal else 0.0]


def test_on_an_se_the_step_limit_never_counts_as_terminal():
    config = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=4", "agents.ddqn.train_episodes=1",
                                "agents.ddqn.test_episodes=1", "protocol.test_every=0",
                                "protocol.time_limit_is_terminal=true"])
    agent = DDQN(config.agents.ddqn, CARTPOLE, [1])
    train_population(agent, CutAfterThreeSteps(1), RealVecEnv("CartPole-v0", [3], 1), config.agents.ddqn,
                     config.protocol, on_synthetic=True)
    assert agent.replay.rows[0, :3, -1].tolist() == [0.0, 0.0, 0.0]


# --- stop rule and score ------------------------------------------------------------------------

class ScriptedTests:
    """A stand-in test env whose k-th test gives every tested member ``returns[k]``."""

    def __init__(self, returns, population: int = 1):
        self.returns, self.calls = list(returns), 0
        self.spec = CARTPOLE
        self.steps_used = np.zeros(population, dtype=np.int64)

    def test(self, policy, active):
        value = self.returns[self.calls]
        self.calls += 1
        return torch.where(active, torch.tensor(value, dtype=torch.float64), math.nan)


def train_against(returns, *overrides):
    """One DDQN member on a one-step SE (every episode lasts one step), tested by ``ScriptedTests``."""
    config = load_config(None, ["agents.ddqn.hidden_size=8", "agents.ddqn.batch_size=4", "agents.ddqn.train_episodes=6",
                                "protocol.se_early_out=false", *overrides])
    agent = DDQN(config.agents.ddqn, CARTPOLE, [1])
    train_env = SyntheticVecEnv(se_with_done_output(1.0, seeds=(1,)), CARTPOLE, InitialStateSampler("CartPole-v0", [1]),
                                autoreset=False)
    tests = ScriptedTests(returns)
    result = train_population(agent, train_env, tests, config.agents.ddqn, config.protocol, on_synthetic=True)
    return result, tests


def test_one_test_at_the_threshold_stops_a_member_and_scores_it_by_default():
    # init_episodes 1: tests follow episodes 1, 2, ...
    result, tests = train_against([100.0, 200.0, 200.0, 50.0])
    assert result.train_episodes.tolist() == [3] and tests.calls == 2
    assert result.test_return.tolist() == [200.0]


def test_the_solved_window_stops_when_the_mean_of_the_last_tests_reaches_the_threshold():
    # Means of the last two tests: 100, 150, 200: the third test stops the member.
    result, tests = train_against([100.0, 200.0, 200.0, 50.0], "protocol.solved_window=2")
    assert result.train_episodes.tolist() == [4] and tests.calls == 3
    assert result.test_return.tolist() == [200.0]


def test_a_fresh_test_scores_the_member_not_the_test_that_stopped_it():
    result, tests = train_against([100.0, 200.0, 50.0], "protocol.score_with_fresh_test=true")
    assert result.train_episodes.tolist() == [3] and tests.calls == 3
    assert result.test_return.tolist() == [50.0] and not result.solved.any()


def test_tests_after_the_init_episodes_fill_the_window():
    # With the init episode tested too the window holds [100, 200] after episode 1: no stop there.
    result, tests = train_against([100.0, 200.0, 200.0, 50.0], "protocol.solved_window=2",
                                  "protocol.test_init_episodes=true")
    assert result.train_episodes.tolist() == [3] and tests.calls == 3


# --- timeouts -----------------------------------------------------------------------------------

def one_member_task(config) -> MemberTask:
    psi = psi_of(config, initial_nets(config, CARTPOLE, 3))[0]
    return MemberTask(run_id="t", iteration=0, member=0, seed=4, psi=psi, eps=torch.full_like(psi, 0.01))


@pytest.mark.parametrize("worst", [True, False])
def test_an_agent_out_of_time_scores_minus_1e9_only_with_the_option(worst):
    config = load_config(None, [*TINY_OVERRIDES, f"nes.worst_score_on_timeout={str(worst).lower()}"])
    [result] = evaluate_members([one_member_task(config)], config, time_budget=0.0)
    assert result.timed_out
    if worst:
        assert (result.score, result.score_orig, result.test_return_orig) == (TIMED_OUT_SCORE,) * 3
    else:
        assert math.isfinite(result.score) and result.score > TIMED_OUT_SCORE


def test_an_agent_in_time_is_scored_as_usual_with_the_option():
    config = load_config(None, [*TINY_OVERRIDES, "nes.worst_score_on_timeout=true"])
    [result] = evaluate_members([one_member_task(config)], config, time_budget=math.inf)
    assert not result.timed_out and result.score_orig > TIMED_OUT_SCORE


# --- PReLU slopes outside psi -------------------------------------------------------------------

PRELU_SE = ["synthetic_env.activation=prelu", "synthetic_env.hidden_size=8", "synthetic_env.hidden_layer=2"]


def test_psi_leaves_the_prelu_slopes_out_with_the_option():
    with_slopes = load_config(None, PRELU_SE)
    without = load_config(None, [*PRELU_SE, "nes.evolve_prelu_slopes=false"])
    template = initial_nets(with_slopes, CARTPOLE, 0)
    slopes = 3 * 2  # three networks of two hidden layers, one slope each
    assert psi_size(with_slopes, template) == template.num_params
    assert psi_size(without, template) == template.num_params - slopes
    assert initial_state(without).psi.shape == (template.num_params - slopes,)


def test_slopes_stay_at_their_initial_value_through_an_nes_update_and_are_saved(tmp_path):
    config = load_config(None, [*TINY_OVERRIDES, *PRELU_SE, "nes.evolve_prelu_slopes=false"])
    template = initial_nets(config, CARTPOLE, 0)
    psi = initial_state(config).psi
    moved = psi + 0.5  # an NES step moves every coordinate of psi
    nets = nets_from_psi(config, template, moved[None])
    everything = all_parameters(config, moved[None])
    slopes = [s for net in nets.nets.values() for s in net.slopes]
    assert all(torch.equal(s, torch.full_like(s, 0.25)) for s in slopes)
    assert torch.equal(psi_of(config, nets)[0], moved) and everything.shape == (1, template.num_params)
    save_learned_env(tmp_path / "se.pt", config, nets, {})
    _, loaded, _ = load_model(tmp_path / "se.pt")
    assert torch.equal(loaded.to_flat(), everything)
    assert any(key.endswith(".1.weight") and value.numel() == 1 for key, value in loaded.member_state_dict(0).items())


def test_a_start_model_with_evolved_slopes_is_refused_when_psi_has_none(tmp_path):
    config = load_config(None, [*PRELU_SE])
    nets = initial_nets(config, CARTPOLE, 0)
    nets.nets["state_net"].slopes[0].fill_(0.4)
    save_learned_env(tmp_path / "se.pt", config, nets, {})
    with pytest.raises(UserError, match="evolve_prelu_slopes"):
        initial_state(load_config(None, [*PRELU_SE, "nes.evolve_prelu_slopes=false",
                                         f"nes.init_model={tmp_path / 'se.pt'}"]))


def test_the_default_keeps_the_slopes_in_psi_and_the_nets_bit_for_bit():
    config = load_config(None, PRELU_SE)
    psis = torch.randn(3, initial_nets(config, CARTPOLE, 0).num_params)
    assert all_parameters(config, psis) is psis


# --- the paper's configs ------------------------------------------------------------------------

def test_there_is_a_paper_config_per_figure():
    assert {path.stem for path in PAPER_CONFIGS} >= {"cartpole_se_success", "cartpole_se_vs_real_steps", "cartpole_se_transfer",
                                                     "cartpole_reward_env", "cartpole_rn_comparison", "acrobot_se"}


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda path: path.stem)
def test_every_paper_config_loads_and_comments_every_value(path: Path):
    config, data = load_config(path), yaml.safe_load(path.read_text())
    assert config.protocol.time_limit_is_terminal and config.protocol.score_with_fresh_test
    if "nes" in data:
        assert config.nes.worst_score_on_timeout and not config.nes.evolve_prelu_slopes
    if config.learn == "synthetic_env":
        assert config.synthetic_env.done_in_target == "raw"
    values = [line for line in path.read_text().splitlines()
              if ":" in line and not line.lstrip().startswith("#") and line.split(":", 1)[1].split("#")[0].strip()]
    uncommented = [line for line in values if "#" not in line]
    assert not uncommented, f"{path.name}: values without a comment naming their source: {uncommented}"
    assert len(values) == len(leaf_keys(data))  # every value is on a line of its own, with its comment


# --- bad values ---------------------------------------------------------------------------------

BAD_VALUES = {
    "synthetic_env.done_in_target=maybe": "choose one of thresholded, raw",
    "protocol.solved_window=0": "'protocol.solved_window' is 0",
    "protocol.score_with_fresh_test=fresh": "must be bool",
    "protocol.time_limit_is_terminal=1": "must be bool",
    "protocol.test_init_episodes=2": "must be bool",
    "nes.worst_score_on_timeout=sometimes": "must be bool",
    "nes.evolve_prelu_slopes=0": "must be bool",
    "agents.td3_discrete.layer_norm=sometimes": "must be bool",
}


@pytest.mark.parametrize("assignment", sorted(BAD_VALUES))
def test_a_bad_value_for_a_paper_option_is_a_one_line_user_error(assignment):
    with pytest.raises(UserError) as error:
        load_config(None, [assignment])
    assert BAD_VALUES[assignment] in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(BAD_VALUES))
def test_learn_env_exits_2_with_one_line_on_a_bad_paper_option(assignment, tmp_path):
    completed = run_entry_point("experiments.learn_env", "--set", assignment, "--out", tmp_path / "run", timeout=60)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and BAD_VALUES[assignment] in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_an_se_may_be_evaluated_and_continued_with_the_other_done_in_target(tmp_path):
    from nes.model_files import config_with_overrides

    config = load_config(None, [*TINY_OVERRIDES, "synthetic_env.hidden_size=8"])
    save_learned_env(tmp_path / "se.pt", config, initial_nets(config, CARTPOLE, 0), {})
    _, _, saved = load_model(tmp_path / "se.pt")
    raw = config_with_overrides(saved, ["synthetic_env.done_in_target=raw"], tmp_path / "se.pt")
    assert raw.synthetic_env.done_in_target == "raw"
    with pytest.raises(UserError, match="synthetic_env.hidden_size"):
        config_with_overrides(saved, ["synthetic_env.hidden_size=9"], tmp_path / "se.pt")
    continued = load_config(None, [*TINY_OVERRIDES, "synthetic_env.hidden_size=8", "synthetic_env.done_in_target=raw",
                                   f"nes.init_model={tmp_path / 'se.pt'}"])
    assert initial_state(continued).psi.shape == (initial_nets(config, CARTPOLE, 0).num_params,)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in PAPER_CONFIGS if "nes" in yaml.safe_load(p.read_text())],
                         ids=lambda path: path.stem)
def test_every_paper_nes_config_runs_an_iteration(path: Path, tmp_path):
    from nes.evaluators.local import BatchedEvaluator
    from nes.master import NESMaster

    agent = yaml.safe_load(path.read_text())["agent"]
    config = load_config(path, ["nes.population=2", "nes.max_iterations=1", f"agents.{agent}.train_episodes=3",
                                f"agents.{agent}.test_episodes=1", f"agents.{agent}.init_episodes=1",
                                "nes.time_max=1000"])
    row = NESMaster(config, BatchedEvaluator(config), tmp_path, "run").step()
    assert row["iteration"] == 0 and row["failed_members"] == 0 and row["timed_out_members"] == 0
