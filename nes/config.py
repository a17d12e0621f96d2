"""The run schema: every section of a run's config, loading it and checking it as a whole.

One config path: schema defaults, then a YAML file (or a saved config dict), then extra values
(CLI flags, a BOHB sample), then ``--set a.b=value`` overrides. Every field is typed and documented
here; the docs become ``--help``. Validation happens once, in ``load_config``, and any problem
becomes a one-line ``UserError``.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from agents import AGENTS
from common.config_files import apply_override, deep_merge, read_yaml
from common.errors import UserError
from common.schema import ACTIVATIONS, build, option, section, to_dict
from envs.real import check_env_id, real_env_spec
from models.reward_env_nets import REWARD_TYPES, check_reward_type, reward_type_name
from nes.objectives import OBJECTIVES
from nes.strategies import STRATEGIES

BACKENDS = ("batched", "serial", "processes", "files", "dask")
DONE_IN_TARGET = ("thresholded", "raw")
SE_KINDS = ("mdp", "bandit")
LIMIT_POLICY_COMBINES = ("min", "mean")


# One section per registered agent, each with the hyperparameters its own file declares.
AgentsConfig = dataclasses.make_dataclass(
    "AgentsConfig", [(name, cls.Config, section(cls.Config, cls.title)) for name, cls in AGENTS.items()])
AgentsConfig.__module__ = __name__  # so configs pickle into worker processes


@dataclass
class NESSettings:
    """The NES loop's settings; noise_std .. weight_decay are the paper NES's (``paper_nes``)."""

    strategy: str = option("paper_nes", "how psi moves from the members' scores: " + ", ".join(STRATEGIES)
                           + " (nes/strategies/; each but paper_nes has its own nes.<strategy> section)",
                           choices=tuple(STRATEGIES))
    population: int = option(16, "population size P (members per NES iteration)", low=1)
    max_iterations: int = option(100, "NES iterations before giving up", low=1)
    noise_std: float = option(0.0124, "paper_nes: std of the Gaussian perturbation eps_i", low=0.0, low_open=True)
    step_size: float = option(0.148, "paper_nes: step size alpha", low=0.0, low_open=True)
    nes_step_size: bool = option(False, "paper_nes: divide the step size by the population size")
    mirrored_sampling: bool = option(True, "paper_nes: also evaluate psi - eps_i and keep the better direction")
    num_grad_evals: int = option(1, "agents trained per perturbed SE (repeats of a score)", low=1)
    member_agents: str = option(
        "", "agents each SE trains, comma-separated (e.g. ddqn,dueling_ddqn,ppo): every repeat of a member "
        "trains one of each, each with its agents.<name> section, and the member's score averages them; "
        "empty: the run's agent alone")
    hp_draws: int = option(
        0, "0: every agent trains with its agents.<name> section; K >= 1: each NES iteration draws K samples of "
        "the varied hyperparameters (vary_fields, with vary_hp's ranges; by default lr, batch size, width, "
        "depth) and repeat r of every member trains with sample r mod K, so members are ranked on the same "
        "draws, agents batch as K populations, and over a run the SE meets many draws (NES's agents then ignore vary_hp, which still "
        "applies to evaluations)", low=0)
    common_agent_seeds: bool = option(
        False, "the agents of every perturbed member share one iteration's seeds (common random numbers: "
        "members differ by their SE alone, so the ranking is not agent luck); the agents on psi keep their own")
    grad_eval_type: str = option("mean", "how repeats combine: mean, or minmax (the worst repeat)",
                                 choices=("mean", "minmax"))
    score_transform_type: int = option(3, "paper_nes: score transform 0-7 (see nes/score_transforms.py)", low=0, high=7)
    weight_decay: float = option(0.0, "paper_nes: psi <- psi * (1 - weight_decay) before each update",
                                 low=0.0, high=1.0)
    time_max: float = option(600.0, "seconds a member may take in the first iteration", low=0.0, low_open=True)
    time_mult: float = option(3.0, "later budget: time_mult x mean member seconds of the last iteration",
                              low=0.0, low_open=True)
    quit_when_solved: bool = option(True, "stop once agents trained with psi reach the threshold on average")
    confirm_solved: bool = option(
        False, "psi counts as solved (and is saved as best) only if P fresh agents trained with it also reach "
        "the threshold on average: the first iteration to pass was picked because it passed, so its own test "
        "flatters it")
    objective: str = option("test_reward", "member score: test_reward, steps_to_threshold or auc "
                            "(see nes/objectives.py; auc needs learn: reward_env)", choices=OBJECTIVES)
    unsolved_weight: float = option(100.0, "steps_to_threshold: penalty per unit of test return below the threshold",
                                    low=0.0)
    init_model: str = option("", "start psi from this saved SE or RN (ours or the paper's; same env, kind and "
                             "network shape) instead of fresh networks")
    worst_score_on_timeout: bool = option(
        False, "an agent whose training runs past its member's time budget scores -1e9, the worst (the paper's "
        "time_is_up); false: it is tested and scored as far as it trained")
    evolve_prelu_slopes: bool = option(
        True, "PReLU slopes are part of psi (perturbed and updated); false: psi holds the Linear weights and "
        "biases only and the slopes stay at PReLU's initial 0.25, as in the paper's NES")


# One section per registered strategy with settings (nes.openai_es.*, nes.pgpe.*, ...), each declared
# in its strategy's file, as the agents' sections are.
NESConfig = dataclasses.make_dataclass(
    "NESConfig", [(name, cls.Config, section(cls.Config, cls.title)) for name, cls in STRATEGIES.items() if cls.Config],
    bases=(NESSettings,))
NESConfig.__module__ = __name__  # so configs pickle into worker processes


@dataclass
class SyntheticEnvConfig:
    kind: str = option(
        "mdp", "mdp: next-state, reward and done networks, episodes up to the real env's step limit (the paper's "
        "SE); bandit: a learned start-state distribution and a reward network, one-step episodes (Liesen et al. "
        "2024)", choices=SE_KINDS)
    hidden_size: int = option(83, "hidden units of each SE network", low=1)
    hidden_layer: int = option(1, "hidden layers of each SE network", low=1)
    activation: str = option("leakyrelu", "SE activation", choices=ACTIVATIONS)
    reward_scale: float = option(
        1.0, "bandit: the reward network's output is multiplied by this; an agent resolves only reward gaps "
        "above its regression noise, and a larger scale lets a search's small weight steps open such gaps",
        low=0.0, low_open=True)
    limit_policy_score: bool = option(
        False, "bandit, discrete actions: a member's score and test return are the lower of its agents' and its "
        "limit policy's real-env test return; the limit policy, argmax_a r(s, a), is where every value-learning "
        "agent's training on a bandit SE ends, so the SE must be good to agents trained beyond NES's budget too")
    limit_policy_combine: str = option(
        "min", "limit_policy_score: how a member's two returns combine: min (the lower) or mean (their average, "
        "so the agents' return still ranks members whose limit policies tie, e.g. all at Acrobot's -500 floor)",
        choices=LIMIT_POLICY_COMBINES)
    done_in_target: str = option(
        "thresholded", "the done value agents put in their TD target, r + gamma (1 - done) v(s'): thresholded "
        "(the episode-ending flag, done output > 0.5) or raw (the done net's output itself, as the paper's "
        "replay buffers store it; episodes still end at > 0.5)", choices=DONE_IN_TARGET)


@dataclass
class RewardEnvConfig:
    """Defaults: the paper's CartPole RN (default_config_cartpole_reward_env.yaml @ 44626db of their
    code; its last version, d63949e, has prelu and 1 hidden layer)."""

    type: str = option("potential_additive", "reward network type, a name or the paper's code: "
                       + ", ".join(f"{name} ({code})" for name, code in REWARD_TYPES.items()),
                       normalise=lambda value, key: reward_type_name(value, f"config key '{key}'"))
    hidden_size: int = option(64, "hidden units of the reward network", low=1)
    hidden_layer: int = option(2, "hidden layers of the reward network", low=1)
    activation: str = option("leakyrelu", "reward network activation", choices=ACTIVATIONS)


@dataclass
class ProtocolConfig:
    """How an inner agent is trained on an SE and scored on the real env.

    The paper's NES worker, in these terms (see default_config/paper/): Dec 2020 (7070963, the
    success figure) trains without tests and stops by the plateau rule: test_every 0, se_early_out
    true, score_with_fresh_test true. HEAD (3216697) tests after every episode and stops when the
    mean of the last 10 test means reaches the threshold: test_every 1, solved_window 10,
    test_init_episodes true, se_early_out false, score_with_fresh_test true (and init_episodes one
    less: HEAD learns from episode >= init, we from > init). Both score by a fresh test.
    """

    test_every: int = option(
        1, "test on the real env after every k-th SE training episode (0: only after training)", low=0)
    stop_when_solved: bool = option(True, "stop training once a real-env test reaches the threshold")
    se_early_out: bool = option(True, "stop training when the SE return plateaus (early_out_* rule)")
    real_early_out: bool = option(False, "on the real env: stop once the mean of the last early_out_num training "
                                         "returns reaches the solved threshold (the paper's rule there)")
    max_train_steps: int = option(0, "stop a member after the episode that reaches this many training steps "
                                     "(0: no cap)", low=0)
    solved_window: int = option(
        1, "stop_when_solved: stop once the mean of the last k test means (fewer at first) reaches the threshold; "
        "1: the test itself (the paper's code since 6506f4b: its early_out_num, 10)", low=1)
    test_init_episodes: bool = option(
        False, "also test after the init episodes (their tests fill the solved window; the paper's code since "
               "6506f4b tests after every episode)")
    score_with_fresh_test: bool = option(
        False, "score a member by a new test after training stops, never by the test that stopped it "
               "(the paper's NES worker); false: a member tested after its last episode keeps that test")
    time_limit_is_terminal: bool = option(
        False, "real env and reward networks: an episode cut by the step limit counts as terminated in the TD "
               "target (gym 0.17's TimeLimit, as the paper's agents stored it); false: it bootstraps")


@dataclass
class EvaluatorConfig:
    backend: str = option("batched", "who runs the members: batched, serial, processes, files or dask",
                          choices=BACKENDS)
    workers: int = option(2, "worker processes of the processes and dask backends; files: local workers the "
                             "master starts (0: only workers started elsewhere, e.g. a SLURM array)", low=0)
    threads: int = option(1, "torch threads per process", low=1)
    sync_dir: str = option("", "files backend: the shared sync directory (empty: <run_dir>/sync)")
    lease_seconds: float = option(30.0, "files backend: a claimed task whose worker sent no heartbeat for this "
                                        "long is issued again", low=0.0, low_open=True)
    worker_idle_exit: float = option(300.0, "files backend: seconds a worker waits with no task before it exits",
                                     low=0.0)
    scheduler: str = option("", "dask backend: address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                            "empty: start a LocalCluster of evaluator.workers processes on 127.0.0.1")


@dataclass
class Config:
    env: str = option("CartPole-v0", "real gymnasium env the SE imitates or the RN rewards")
    learn: str = option("synthetic_env", "what NES evolves: synthetic_env (SE) or reward_env (RN)",
                        choices=("synthetic_env", "reward_env"))
    seed: int = option(0, "run seed: every random number derives from it", low=0)
    agent: str = option("ddqn", "inner-loop agent")
    nes: NESConfig = section(NESConfig, "NES middle loop")
    synthetic_env: SyntheticEnvConfig = section(SyntheticEnvConfig, "synthetic environment networks")
    reward_env: RewardEnvConfig = section(RewardEnvConfig, "reward network (learned reward on the real env)")
    agents: AgentsConfig = section(AgentsConfig, "agent hyperparameters, one section per agent")
    protocol: ProtocolConfig = section(ProtocolConfig, "inner-loop training protocol")
    evaluator: EvaluatorConfig = section(EvaluatorConfig, "evaluation backend")

    def member_agents(self) -> list[str]:
        """The agents every member's SE trains: ``nes.member_agents``, or the run's agent alone."""
        names = [name.strip() for name in self.nes.member_agents.split(",") if name.strip()]
        return names or [self.agent]

    def agent_config(self):
        return getattr(self.agents, self.agent)


def load_config(source: str | Path | dict | None = None, overrides=(), extra: dict | None = None) -> Config:
    """Schema defaults <- ``source`` (a YAML file, or a saved config dict: a checkpoint's, a model's)
    <- ``extra`` (e.g. a BOHB sample or CLI flags) <- ``--set`` overrides."""
    if isinstance(source, dict):
        data = deep_merge(source, {})
    else:
        data = read_yaml(source) if source is not None else {}
    if extra:
        data = deep_merge(data, extra)
    for assignment in overrides:
        apply_override(data, assignment)
    config = build(Config, data)
    validate_semantics(config)
    return config


def validate_semantics(config: Config) -> None:
    """Cross-field checks that need more than one key."""
    check_env_id(config.env)
    if config.agent not in AGENTS:
        raise UserError(f"unknown agent '{config.agent}'; choose one of {', '.join(sorted(AGENTS))}")
    spec = real_env_spec(config.env)
    if config.nes.objective == "auc" and config.learn != "reward_env":
        raise UserError("nes.objective 'auc' needs learn: reward_env (SE training returns are not real returns)")
    for name in config.member_agents():
        if name not in AGENTS:
            raise UserError(f"nes.member_agents: unknown agent '{name}'; choose from {', '.join(sorted(AGENTS))}")
        AGENTS[name].check_spec(spec)
    if config.evaluator.backend == "processes" and config.evaluator.workers < 1:
        raise UserError("evaluator.workers must be >= 1 for the processes backend")
    if config.evaluator.backend == "dask" and not config.evaluator.scheduler and config.evaluator.workers < 1:
        raise UserError("evaluator.workers must be >= 1 for the dask backend's LocalCluster "
                        "(or give evaluator.scheduler)")
    check_strategy_settings(config.nes)
    if config.learn == "reward_env":
        check_reward_type(config.reward_env.type, spec)
    if config.synthetic_env.kind == "mdp" and config.synthetic_env.reward_scale != 1.0:
        raise UserError("synthetic_env.reward_scale applies to bandit SEs (synthetic_env.kind: bandit) only")
    if config.synthetic_env.limit_policy_score and config.nes.objective != "test_reward":
        raise UserError("synthetic_env.limit_policy_score compares test returns; it needs nes.objective test_reward")
    if config.synthetic_env.limit_policy_score and (config.synthetic_env.kind != "bandit" or not spec.discrete_actions):
        raise UserError("synthetic_env.limit_policy_score needs a bandit SE (synthetic_env.kind: bandit) of an env "
                        f"with discrete actions; {config.env} with kind {config.synthetic_env.kind} is not one")
    if config.learn == "synthetic_env" and config.synthetic_env.kind == "bandit" and spec.discrete_states:
        raise UserError(f"synthetic_env.kind bandit needs a vector observation; {config.env} has discrete states "
                        f"(use kind mdp)")
    agent = config.agent_config()
    if getattr(agent, "eps_min", 0.0) > getattr(agent, "eps_init", 1.0):
        raise UserError(f"agents.{config.agent}.eps_min ({agent.eps_min}) exceeds eps_init ({agent.eps_init})")


def check_strategy_settings(nes) -> None:
    """The chosen strategy's population rules, and no setting in another strategy's section.

    A section counts as set when it differs from its defaults: saved configs (config.yaml, checkpoints,
    model files) carry every section at its defaults and load as they are, while a value given for a
    strategy that does not run would silently do nothing."""
    STRATEGIES[nes.strategy].check_population(nes.population)
    for name, cls in STRATEGIES.items():
        if name == nes.strategy or cls.Config is None:
            continue
        for f in dataclasses.fields(cls.Config):
            if getattr(getattr(nes, name), f.name) != f.default:
                raise UserError(f"nes.{name}.{f.name} is set but nes.strategy is {nes.strategy}; "
                                f"set nes.strategy={name} or drop nes.{name}.*")


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
