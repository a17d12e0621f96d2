"""What NES evolves (``learn``): a synthetic env (SE) or a reward network (RN) on the real env.

Both are populations of networks with one flat parameter vector psi per member; this module is the
one place that knows how to build each from psi, how agents train in it, and how it is saved.
"""
import dataclasses
from pathlib import Path

import torch

from common.errors import UserError
from envs.bandit_vec import BanditVecEnv
from envs.initial_states import InitialStateSampler
from envs.real import RealEnvSpec, real_env_spec
from envs.real_vec import RealVecEnv
from envs.reward_env import RewardVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.bandit_env_nets import BanditEnvNets
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import Config
from nes.model_files import load_model, save_reward_env, save_synthetic_env

LEARNED = ("synthetic_env", "reward_env")


def initial_nets(config: Config, spec: RealEnvSpec, seed: int):
    """A population of one, initialised from ``seed``: psi's starting point and shape."""
    if config.learn == "synthetic_env":
        se = config.synthetic_env
        if se.kind == "bandit":
            return BanditEnvNets.initialise([seed], spec, se.hidden_size, se.hidden_layer, se.activation,
                                            se.reward_scale)
        return SyntheticEnvNets.initialise([seed], spec, se.hidden_size, se.hidden_layer, se.activation)
    rn = config.reward_env
    return RewardEnvNets.initialise([seed], spec, rn.hidden_size, rn.hidden_layer, rn.activation, rn.type)


def psi_of(config: Config, nets):
    """(P, D) psi of ``nets``: every parameter, or, with ``nes.evolve_prelu_slopes`` false, all but
    the PReLU slopes (which then stay as the template's, PReLU's initial 0.25)."""
    return nets.to_flat(include_slopes=config.nes.evolve_prelu_slopes)


def nets_from_psi(config: Config, template, psis):
    """The population whose members have psi ``psis`` (P, D), slopes from ``template`` where psi
    leaves them out."""
    return template.with_flat(psis, include_slopes=config.nes.evolve_prelu_slopes)


def psi_size(config: Config, template) -> int:
    return template.flat_size(include_slopes=config.nes.evolve_prelu_slopes)


def all_parameters(config: Config, psis):
    """(P, D_all): every parameter of the nets of psi ``psis`` (what ``training_env`` takes)."""
    if config.nes.evolve_prelu_slopes:
        return psis
    spec = real_env_spec(config.env)
    return nets_from_psi(config, initial_nets(config, spec, 0), psis).to_flat()


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
    if _network_settings(model_config) != _network_settings(config):
        raise UserError(f"nes.init_model {path} has other {section} settings than this run "
                        f"({getattr(model_config, section)}); set {section}.* to match it")
    if not config.nes.evolve_prelu_slopes and not _same_slopes(config, nets, fresh):
        raise UserError(f"nes.init_model {path} has PReLU slopes other than 0.25, which psi without slopes cannot "
                        f"keep; set nes.evolve_prelu_slopes: true")
    return nets


def _network_settings(config: Config) -> dict:
    """The ``learn`` section's settings that shape the networks: an SE's done_in_target is how
    agents read it, so a start model learned with the other value still fits."""
    settings = dataclasses.asdict(getattr(config, config.learn))
    settings.pop("done_in_target", None)
    return settings


def _same_slopes(config: Config, nets, template) -> bool:
    """Whether ``nets`` has ``template``'s PReLU slopes: rebuilt from its psi on the template, it is itself."""
    return torch.equal(nets_from_psi(config, template, psi_of(config, nets)).to_flat(), nets.to_flat())


def training_env(config: Config, spec: RealEnvSpec, params, seeds: list[int]):
    """The env agents train in for the rows of ``params`` (P, D_all), every parameter of each member
    (``all_parameters`` makes them from psi): P SEs, or the real env with P reward networks;
    ``seeds`` are the members' train-env seeds (``agents.population.SeedRoles``)."""
    nets = initial_nets(config, spec, 0).with_flat(params)
    if config.learn == "synthetic_env" and config.synthetic_env.kind == "bandit":
        return BanditVecEnv(nets, spec, seeds)
    if config.learn == "synthetic_env":
        return SyntheticVecEnv(nets, spec, InitialStateSampler(config.env, seeds), episodes_per_member=1,
                               autoreset=False, raw_done=config.synthetic_env.done_in_target == "raw")
    # Potential-based shaping discounts with the agent's own gamma.
    return RewardVecEnv(RealVecEnv(config.env, seeds), nets, config.agent_config().gamma)


def save_learned_env(path, config: Config, nets, extra: dict) -> None:
    """Save member 0 of ``nets`` as a model file of its kind (weights plus the full config)."""
    save = save_synthetic_env if config.learn == "synthetic_env" else save_reward_env
    save(path, nets, 0, config, extra)
