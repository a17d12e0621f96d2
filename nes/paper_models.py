"""Model files published with the paper (Ferreira et al. 2022, automl/learning_environments).

Their files are ``torch.save``d dicts ``{'model': state_dict, 'config': the full YAML config}``:

- ``config['env_name']`` is an old gym id (``CartPole-v0``, ``Pendulum-v0``, ``Cliff`` ...);
  ``config['envs'][env_name]`` holds the network's ``hidden_size``, ``hidden_layer``,
  ``activation_fn`` and ``reward_env_type``; ``config['agents']`` the agents' hyperparameters;
- an SE's state dict has ``env.state_net.*``, ``env.reward_net.*`` and ``env.done_net.*``; an RN's
  only ``env.reward_net.*``. Each net is ``Linear, act, Linear, act, ..., Linear`` (indices 0, 2,
  4, ...; a PReLU puts its slope at 1, 3, ...), reading concat(one-hot action, state) for an SE and
  the state (plus the info vector for types 3/4/7/8) for an RN.

That is the layout of our own ``build_mlp`` and of our networks' inputs (action first), so the
weights load unchanged; this module only translates the config into ours and reads the
architecture off the weights (the weights, not the config, decide the shapes). The paper shares
one PReLU module across layers, which its state dict stores once per layer, so our per-layer
slopes take the same value and compute the same function.
"""
from pathlib import Path

from agents import AGENTS
from common.errors import UserError
from common.schema import ACTIVATIONS, to_dict
from envs.real import real_env_spec
from models.reward_env_nets import reward_type_name, uses_info
from nes.config import Config

# Old gym ids in the paper's configs -> today's gymnasium ids (same observations and actions).
PAPER_ENV_IDS = {
    "CartPole-v0": "CartPole-v0",
    "Acrobot-v1": "Acrobot-v1",
    "MountainCarContinuous-v0": "MountainCarContinuous-v0",
    "Pendulum-v0": "Pendulum-v1",
    "HalfCheetah-v3": "HalfCheetah-v5",
    "Cliff": "CliffWalking-v1",
}
# The paper's agent sections -> ours; keys that both have are carried over.
PAPER_AGENTS = {"ddqn": "ddqn", "duelingddqn": "dueling_ddqn", "td3_discrete_vary": "td3_discrete",
                "td3": "td3", "ppo": "ppo", "ql": "ql", "sarsa": "sarsa"}
SE_NETS = ("state_net", "reward_net", "done_net")


def is_paper_file(payload: dict) -> bool:
    """A paper file has no ``kind`` and the paper's config shape (``env_name`` and ``envs``)."""
    config = payload.get("config")
    return "kind" not in payload and isinstance(config, dict) and "env_name" in config and "envs" in config


def _mlp_layout(state: dict, prefix: str, path: Path) -> tuple[int, int, int, bool]:
    """(input dim, hidden size, hidden layers, has PReLU) of the MLP stored under ``prefix``."""
    linears, slopes = {}, set()
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        index, _, name = key[len(prefix):].partition(".")
        if not index.isdigit() or name not in ("weight", "bias"):
            raise UserError(f"model file {path} has an unexpected key {key!r} (not the paper's MLP layout)")
        if name == "weight" and value.dim() == 2:
            linears[int(index)] = value
        elif name == "weight":
            slopes.add(int(index))
    if not linears:
        raise UserError(f"model file {path} has no {prefix}* weights")
    indices = sorted(linears)
    if indices != list(range(0, 2 * len(indices), 2)) or any(i % 2 == 0 for i in slopes):
        raise UserError(f"model file {path}: {prefix}* is not a Linear-activation-...-Linear stack")
    first = linears[0]
    hidden_size = first.shape[0] if len(indices) > 1 else 1
    return first.shape[1], hidden_size, len(indices) - 1, bool(slopes)


def _activation(layout_prelu: bool, named: str, path: Path) -> str:
    if layout_prelu:
        return "prelu"
    if named not in ACTIVATIONS or named == "prelu":
        raise UserError(f"model file {path} has activation_fn {named!r} without matching weights")
    return named


def _can_act(agent_name: str, spec) -> bool:
    if agent_name not in AGENTS:
        return False
    try:
        AGENTS[agent_name].check_spec(spec)
    except UserError:
        return False
    return True


def _agent_sections(paper_agents: dict) -> dict:
    """Our ``agents`` sections from the paper's, keeping only the keys our agents have."""
    sections = {}
    for paper_name, ours in PAPER_AGENTS.items():
        values = paper_agents.get(paper_name)
        if not isinstance(values, dict):
            continue
        fields = to_dict(AGENTS[ours].Config())
        renamed = {("activation" if k == "activation_fn" else k): v for k, v in values.items()}
        sections[ours] = {k: v for k, v in renamed.items() if k in fields}
    return sections


def convert_paper_file(payload: dict, path: Path) -> dict:
    """The paper's file as one of ours: ``{'kind', 'model', 'config', 'source': 'paper'}``.

    Raises a one-line UserError for an env we do not know, weights that do not fit the env, or a
    layout other than the paper's.
    """
    config, state = payload["config"], payload["model"]
    paper_env = config["env_name"]
    if paper_env not in PAPER_ENV_IDS:
        raise UserError(f"model file {path} is for env {paper_env!r}; paper envs we know: {', '.join(PAPER_ENV_IDS)}")
    env = PAPER_ENV_IDS[paper_env]
    spec = real_env_spec(env)
    env_section = config["envs"].get(paper_env) if isinstance(config["envs"], dict) else None
    if not isinstance(env_section, dict):
        raise UserError(f"model file {path} has no envs['{paper_env}'] section in its config")
    named = str(env_section.get("activation_fn", "leakyrelu"))
    ours: dict = {"env": env}
    agents = config.get("agents") if isinstance(config.get("agents"), dict) else {}
    gtn_agent = str(agents.get("gtn", {}).get("agent_name", "")).lower().replace("_vary", "")
    agent_name = {"duelingddqn": "dueling_ddqn"}.get(gtn_agent, gtn_agent)
    if not _can_act(agent_name, spec):
        # No known meta-training agent named, or one for another action space: one that fits.
        agent_name = "ql" if spec.discrete_states else "ddqn" if spec.discrete_actions else "td3"
    ours["agent"] = agent_name
    ours["agents"] = _agent_sections(agents)

    if any(key.startswith("env.state_net.") for key in state):
        layouts = [_mlp_layout(state, f"env.{name}.", path) for name in SE_NETS]
        input_dim, hidden_size, hidden_layer, prelu = layouts[0]
        if any(layout != layouts[0] for layout in layouts[1:]):
            raise UserError(f"model file {path}: the SE's three networks differ in shape")
        if input_dim != spec.state_dim + spec.action_dim:
            raise UserError(f"model file {path}: its SE reads {input_dim} inputs, but {env} needs "
                            f"{spec.action_dim} (action) + {spec.state_dim} (state): a model for another env?")
        ours |= {"learn": "synthetic_env", "synthetic_env": {
            "hidden_size": hidden_size, "hidden_layer": hidden_layer, "activation": _activation(prelu, named, path)}}
        model = {k: v for k, v in state.items() if k.split(".")[1] in SE_NETS}
        kind = "synthetic_env"
    else:
        reward_type = reward_type_name(env_section.get("reward_env_type", 0), f"model file {path}: reward_env_type")
        rn = {"type": reward_type}
        if reward_type not in ("real", "info_linear_exclusive", "info_linear_additive"):
            input_dim, hidden_size, hidden_layer, prelu = _mlp_layout(state, "env.reward_net.", path)
            wanted = spec.state_dim + (spec.info_dim if uses_info(reward_type) else 0)
            if input_dim != wanted:
                raise UserError(f"model file {path}: its reward network reads {input_dim} inputs, but {env} "
                                f"gives {wanted}: a model for another env?")
            rn |= {"hidden_size": hidden_size, "hidden_layer": hidden_layer,
                   "activation": _activation(prelu, named, path)}
        ours |= {"learn": "reward_env", "reward_env": rn}
        model = {k: v for k, v in state.items() if k.startswith("env.reward_net")} if reward_type != "real" else {}
        kind = "reward_env"
    return {"kind": kind, "model": model, "config": _merge(ours), "source": "paper", "paper_env": paper_env}


def _merge(ours: dict) -> dict:
    """Schema defaults overlaid with the translated keys, as a plain dict."""
    merged = to_dict(Config())
    for key, value in ours.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                if isinstance(inner_value, dict):
                    merged[key][inner] = {**merged[key][inner], **inner_value}
                else:
                    merged[key][inner] = inner_value
        else:
            merged[key] = value
    return merged

