"""Saved SEs and RNs: ``{'model': state_dict, 'config': ..., 'kind': 'synthetic_env' | 'reward_env'}``.

The state dict uses the paper's keys (``env.state_net.0.weight`` ...), so files in the paper's
layout and ours load through the same code; a bandit SE (``synthetic_env.kind: bandit`` in its
config) has ``env.start_net.*`` and ``env.reward_net.*``, and a config without a kind (older
files, the paper's) is an MDP SE; the paper's own published files (their config format,
old gym ids) are translated on reading (``nes/paper_models.py``), so every command that takes a
model takes theirs too.
"""
from pathlib import Path

from common.errors import UserError
from common.files import atomic_torch_save, load_torch_file
from common.schema import build, to_dict
from envs.real import RealEnvSpec, real_env_spec
from models.bandit_env_nets import BanditEnvNets
from models.mlp import PopulationMLP, build_mlp
from models.net_group import NetGroup
from models.reward_env_nets import RewardEnvNets
from models.synthetic_env_nets import SyntheticEnvNets
from nes.config import Config, load_config, validate_semantics
from nes.paper_models import convert_paper_file, is_paper_file

SE_KIND = "synthetic_env"
RN_KIND = "reward_env"


def save_synthetic_env(path: Path, nets: NetGroup, member: int, config: Config, extra: dict) -> dict:
    """Save member ``member`` of an SE population of either kind (``config.synthetic_env.kind`` says which)."""
    payload = {"kind": SE_KIND, "model": nets.member_state_dict(member), "config": to_dict(config), **extra}
    atomic_torch_save(payload, path)
    return payload


def save_reward_env(path: Path, nets: RewardEnvNets, member: int, config: Config, extra: dict) -> dict:
    payload = {"kind": RN_KIND, "model": nets.member_state_dict(member), "config": to_dict(config), **extra}
    atomic_torch_save(payload, path)
    return payload


def read_model_file(path: Path) -> dict:
    payload = load_torch_file(path, "model file")
    if is_paper_file(payload) and isinstance(payload.get("model"), dict):
        payload = convert_paper_file(payload, path)
    if "model" not in payload or "config" not in payload:
        raise UserError(f"model file {path} is not a SynthEnv model (needs 'model' and 'config')")
    if not isinstance(payload["model"], dict) or not isinstance(payload["config"], dict):
        raise UserError(f"model file {path} is malformed: 'model' and 'config' must be mappings")
    return payload


def _read_kind(path: Path, kind: str, what: str) -> tuple[dict, Config]:
    payload = read_model_file(path)
    if payload.get("kind", SE_KIND) != kind:
        raise UserError(f"model file {path} holds a {payload.get('kind')!r}, not a {what}")
    try:
        config = build(Config, payload["config"])
        validate_semantics(config)
    except UserError as error:
        raise UserError(f"model file {path} has a bad config: {error}") from None
    return payload, config


def load_reward_env(path: Path) -> tuple[RewardEnvNets, Config]:
    """Rebuild the reward network (a population of one) and its config from a model file."""
    payload, config = _read_kind(path, RN_KIND, "reward network")
    rn = config.reward_env
    try:
        nets = RewardEnvNets.from_state_dict(payload["model"], real_env_spec(config.env), rn.hidden_size,
                                             rn.hidden_layer, rn.activation, rn.type)
    except (RuntimeError, KeyError) as error:
        first_line = str(error).splitlines()[0]
        raise UserError(f"model file {path} does not match its config ({first_line})") from None
    return nets, config


def se_net_shapes(kind: str, spec: RealEnvSpec) -> dict[str, tuple[int, int]]:
    """(inputs, outputs) of each network of an SE of ``kind`` for ``spec``'s env."""
    step_input = spec.state_dim + spec.action_dim  # concat(action, state)
    if kind == "bandit":  # the start-state network maps a latent of the state's size to a state
        return {"start_net": (spec.state_dim, spec.state_dim), "reward_net": (step_input, 1)}
    return {"state_net": (step_input, spec.state_dim), "reward_net": (step_input, 1), "done_net": (step_input, 1)}


def load_synthetic_env(path: Path) -> tuple[SyntheticEnvNets | BanditEnvNets, Config]:
    """Rebuild the SE (a population of one, of the kind its config names) and its config from a model file."""
    payload, config = _read_kind(path, SE_KIND, "synthetic environment")
    spec = real_env_spec(config.env)
    se = config.synthetic_env
    modules = {}
    for name, (inputs, outputs) in se_net_shapes(se.kind, spec).items():
        module = build_mlp(inputs, outputs, se.hidden_size, se.hidden_layer, se.activation)
        prefix = f"env.{name}."
        state = {k[len(prefix):]: v for k, v in payload["model"].items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state)
        except (RuntimeError, KeyError) as error:
            first_line = str(error).splitlines()[0]
            raise UserError(f"model file {path} does not match its config ({se.kind} SE, {name}: "
                            f"{first_line})") from None
        modules[name] = PopulationMLP.from_modules([module], se.activation)
    if se.kind == "bandit":
        return BanditEnvNets(modules, spec.state_dim, spec.action_dim, spec.discrete_actions, spec.state_low,
                             spec.state_high, se.reward_scale), config
    return SyntheticEnvNets(modules, spec.state_dim, spec.action_dim, spec.discrete_actions), config


def load_model(path: Path):
    """An SE or an RN, whichever the file holds: (kind, nets, config)."""
    kind = read_model_file(path).get("kind", SE_KIND)
    if kind == RN_KIND:
        return (RN_KIND, *load_reward_env(path))
    return (SE_KIND, *load_synthetic_env(path))


# What a model file fixes: its env, what it is and its networks' shape. A --set of one of these
# would describe another model than the file holds (and fail deep inside, or be ignored).
MODEL_KEYS = ("env", "learn", "synthetic_env", "reward_env")
# Keys inside those sections that say how agents use the learned env, not what the file holds:
# an SE learned with one done_in_target may be evaluated with the other.
AGENT_SIDE_KEYS = ("synthetic_env.done_in_target",)


def _first_difference(before, after, key: str):
    if key in AGENT_SIDE_KEYS:
        return None
    if isinstance(before, dict) and isinstance(after, dict):
        for name in before:
            found = _first_difference(before[name], after.get(name), f"{key}.{name}")
            if found:
                return found
        return None
    return (key, before, after) if before != after else None


def config_with_overrides(config: Config, overrides, path: Path) -> Config:
    """A model's config with ``overrides`` (agent, hyperparameters, protocol, budgets); changing a
    key the model file fixes (``MODEL_KEYS``) is a one-line error naming the key."""
    changed = load_config(to_dict(config), overrides)
    before, after = to_dict(config), to_dict(changed)
    for key in MODEL_KEYS:
        found = _first_difference(before[key], after[key], key)
        if found:
            name, old, new = found
            raise UserError(f"--set {name}={new} conflicts with model file {path}, whose {name} is {old}")
    return changed


def find_model_files(paths) -> list[Path]:
    """Model files named by ``paths``: a file as it is; a directory's best.pt (a learn_env run), or
    else every *.pt below it but checkpoints (a zoo, a folder of runs), sorted."""
    found = []
    for given in map(Path, paths):
        if given.is_file():
            found.append(given)
        elif given.is_dir():
            if (given / "best.pt").is_file():
                found.append(given / "best.pt")
                continue
            # latest.pt is a run's checkpoint, not a model.
            inside = sorted(p for p in given.rglob("*.pt") if p.is_file() and p.name != "latest.pt")
            if not inside:
                raise UserError(f"model directory {given} holds no models (*.pt files or run directories with best.pt)")
            found.extend(inside)
        else:
            raise UserError(f"model file or directory not found: {given}")
    return found


def model_label(path: Path) -> str:
    """A short name: the file's stem, or its run directory's name for a best.pt."""
    path = Path(path)
    return path.parent.name if path.name == "best.pt" else path.stem
