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

BACKENDS = ("batched", "serial", "processes", "files", "dask")


# One section per registered agent, each with the hyperparameters its own file declares.
AgentsConfig = dataclasses.make_dataclass(
    "AgentsConfig", [(name, cls.Config, section(cls.Config, cls.title)) for name, cls in AGENTS.items()])
AgentsConfig.__module__ = __name__  # so configs pickle into worker processes


@dataclass
class NESConfig:
    population: int = option(16, "population size P (members per NES iteration)", low=1)
    max_iterations: int = option(100, "NES iterations before giving up", low=1)
    noise_std: float = option(0.0124, "std of the Gaussian perturbation eps_i", low=0.0, low_open=True)
    step_size: float = option(0.148, "NES step size alpha", low=0.0, low_open=True)
    nes_step_size: bool = option(False, "divide the step size by the population size")
    mirrored_sampling: bool = option(True, "also evaluate psi - eps_i and keep the better direction")
    num_grad_evals: int = option(1, "agents trained per perturbed SE (repeats of a score)", low=1)
    grad_eval_type: str = option("mean", "how repeats combine: mean, or minmax (the worst repeat)",
                                 choices=("mean", "minmax"))
    score_transform_type: int = option(3, "score transform 0-7 (see nes/score_transforms.py)", low=0, high=7)
    weight_decay: float = option(0.0, "psi <- psi * (1 - weight_decay) before each update", low=0.0, high=1.0)
    time_max: float = option(600.0, "seconds a member may take in the first iteration", low=0.0, low_open=True)
    time_mult: float = option(3.0, "later budget: time_mult x mean member seconds of the last iteration",
                              low=0.0, low_open=True)
    quit_when_solved: bool = option(True, "stop once agents trained with psi reach the threshold on average")
    objective: str = option("test_reward", "member score: test_reward, steps_to_threshold or auc "
                            "(see nes/objectives.py; auc needs learn: reward_env)", choices=OBJECTIVES)
    unsolved_weight: float = option(100.0, "steps_to_threshold: penalty per unit of test return below the threshold",
                                    low=0.0)
    init_model: str = option("", "start psi from this saved SE or RN (ours or the paper's; same env, kind and "
                             "network shape) instead of fresh networks")


@dataclass
class SyntheticEnvConfig:
    hidden_size: int = option(83, "hidden units of each SE network", low=1)
    hidden_layer: int = option(1, "hidden layers of each SE network", low=1)
    activation: str = option("leakyrelu", "SE activation", choices=ACTIVATIONS)


@dataclass
class RewardEnvConfig:
    """Defaults: the paper's CartPole RN (default_config_cartpole_reward_env.yaml of their code)."""

    type: str = option("potential_additive", "reward network type, a name or the paper's code: "
                       + ", ".join(f"{name} ({code})" for name, code in REWARD_TYPES.items()),
                       normalise=lambda value, key: reward_type_name(value, f"config key '{key}'"))
    hidden_size: int = option(64, "hidden units of the reward network", low=1)
    hidden_layer: int = option(2, "hidden layers of the reward network", low=1)
    activation: str = option("leakyrelu", "reward network activation", choices=ACTIVATIONS)


@dataclass
class ProtocolConfig:
    """How an inner agent is trained on an SE and scored on the real env."""

    test_every: int = option(
        1, "test on the real env after every k-th SE training episode (0: only after training)", low=0)
    stop_when_solved: bool = option(True, "stop training once a real-env test reaches the threshold")
    se_early_out: bool = option(True, "stop training when the SE return plateaus (early_out_* rule)")
    real_early_out: bool = option(False, "on the real env: stop once the mean of the last early_out_num training "
                                         "returns reaches the solved threshold (the paper's rule there)")
    max_train_steps: int = option(0, "stop a member after the episode that reaches this many training steps "
                                     "(0: no cap)", low=0)


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
    AGENTS[config.agent].check_spec(spec)
    if config.evaluator.backend == "processes" and config.evaluator.workers < 1:
        raise UserError("evaluator.workers must be >= 1 for the processes backend")
    if config.evaluator.backend == "dask" and not config.evaluator.scheduler and config.evaluator.workers < 1:
        raise UserError("evaluator.workers must be >= 1 for the dask backend's LocalCluster "
                        "(or give evaluator.scheduler)")
    if config.learn == "reward_env":
        check_reward_type(config.reward_env.type, spec)
    agent = config.agent_config()
    if getattr(agent, "eps_min", 0.0) > getattr(agent, "eps_init", 1.0):
        raise UserError(f"agents.{config.agent}.eps_min ({agent.eps_min}) exceeds eps_init ({agent.eps_init})")


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
