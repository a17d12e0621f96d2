"""What NES evolves (``learn``): a synthetic env (SE) or a reward network (RN) on the real env.

Both are populations of networks with one flat parameter vector psi per member; this module is the
one place that knows how to build each from psi, how agents train in it, and how it is saved.
"""
from pathlib import Path

from common.errors import UserError
from common.rng import derive_seed
from envs.initial_states import InitialStateSampler
from envs.real import RealEnvSpec
from envs.real_vec import RealVecEnv
from envs.reward_env import RewardVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import Config
from nes.model_files import load_model, save_reward_env, save_synthetic_env

LEARNED = ("synthetic_env", "reward_env")


def initial_nets(config: Config, spec: RealEnvSpec, seed: int):
    """A population of one, initialised from ``seed``: psi's starting point and shape."""
    if config.learn == "synthetic_env":
        se = config.synthetic_env
        return SyntheticEnvNets.initialise([seed], spec, se.hidden_size, se.hidden_layer, se.activation)
    rn = config.reward_env
    return RewardEnvNets.initialise([seed], spec, rn.hidden_size, rn.hidden_layer, rn.activation, rn.type)


def starting_nets(config: Config, fresh):
    """psi's starting point: the nets of ``nes.init_model`` when it names a model (so NES can go on
    from a learned SE or RN, e.g. under another objective), else ``fresh``."""
    path = config.nes.init_model
    if not path:
        return fresh
    kind, nets, model_config = load_model(Path(path))
    if kind != config.learn:
        raise UserError(f"nes.init_model {path} holds a {kind}, but this run learns a {config.learn}")
    if model_config.env != config.env:
        raise UserError(f"nes.init_model {path} was learned for {model_config.env}, but this run's env is {config.env}")
    section = config.learn
    if getattr(model_config, section) != getattr(config, section):
        raise UserError(f"nes.init_model {path} has other {section} settings than this run "
                        f"({getattr(model_config, section)}); set {section}.* to match it")
    return nets


class TrainingEnv:
    """The env agents train in for the rows of ``psis``, and whether it is synthetic."""

    def __init__(self, config: Config, spec: RealEnvSpec, psis, seeds: list[int]):
        nets = initial_nets(config, spec, 0).with_flat(psis)
        self.synthetic = config.learn == "synthetic_env"
        if self.synthetic:
            self.sampler = InitialStateSampler(config.env, [derive_seed(s, 1) for s in seeds])
            self.env = SyntheticVecEnv(nets, spec, self.sampler, episodes_per_member=1, autoreset=False)
        else:
            real = RealVecEnv(config.env, [derive_seed(s, 1) for s in seeds])
            # Potential-based shaping discounts with the agent's own gamma.
            self.env = RewardVecEnv(real, nets, config.agent_config().gamma)

    def close(self) -> None:
        if self.synthetic:
            self.sampler.close()
        else:
            self.env.close()


def save_learned_env(path, config: Config, nets, extra: dict) -> None:
    """Save member 0 of ``nets`` as a model file of its kind (weights plus the full config)."""
    save = save_synthetic_env if config.learn == "synthetic_env" else save_reward_env
    save(path, nets, 0, config, extra)
