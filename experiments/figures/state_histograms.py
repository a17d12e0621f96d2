"""state_histograms: which states agents visit while they train on the SEs vs on the real env.

``--runs`` agents (the first of ``--agents``, default DDQN) train on each SE (the evaluation
protocol: no real-env interaction; SE early out, or the whole budget on a bandit SE) and ``--runs``
on the real env (until their training returns reach the threshold); every state they step into is
recorded. A bandit SE shows each agent one state per episode, drawn from its start-state
distribution whatever the agent does, so its histogram is that distribution. One panel per state
dimension: normalised histograms of the two, on shared bins (1st to 99th percentile of both together).
"""
from pathlib import Path

import numpy as np
import torch

from agents.population import SeedRoles, train_fresh_population
from common.rng import derive_seed
from common.schema import to_dict
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from experiments.figures.common import load_models, new_figure, save, write_csv
from nes.config import load_config
from nes.fixed_env_training import evaluation_protocol
from nes.learned_envs import training_env

BINS = 40
STATE_NAMES = {"CartPole-v0": ("cart position", "cart velocity", "pole angle", "pole angular velocity"),
               "Acrobot-v1": ("cos θ1", "sin θ1", "cos θ2", "sin θ2", "θ1 velocity", "θ2 velocity")}


class Recording:
    """A training env that records the next states of its active members."""

    def __init__(self, env):
        self.env, self.states = env, []

    def __getattr__(self, name):
        return getattr(self.env, name)

    def step(self, actions, active=None):
        out = self.env.step(actions, active)
        keep = torch.ones(out[0].shape[:2], dtype=torch.bool) if active is None else (
            active[:, None].expand(out[0].shape[:2]) if active.dim() == 1 else active)
        self.states.append(out[4][keep].numpy().copy())
        return out


def se_label(models) -> str:
    """The legend label of the SEs' states, naming their kind where any is a bandit (start states)."""
    bandits = sum(m.config.synthetic_env.kind == "bandit" for m in models)
    if bandits == len(models):
        return f"bandit SEs ({len(models)})"
    return f"SEs ({len(models)}{f', {bandits} bandit' if bandits else ''})"


def visited_states(config, seeds, nets=None) -> np.ndarray:
    """The states agents (base seeds ``seeds``) step into while they train on the SE ``nets`` (None: the real env)."""
    spec = real_env_spec(config.env)
    roles = SeedRoles.of(seeds)
    if nets is not None:  # the SE agents train in during an evaluation, one copy per agent
        env = Recording(training_env(config, spec, nets.to_flat().repeat(len(seeds), 1), roles.train_env))
    else:
        env = Recording(RealVecEnv(config.env, roles.train_env))
    protocol = evaluation_protocol(config.protocol, None if nets is None else config.synthetic_env.kind)
    train_fresh_population(config.agent, config.agent_config(), config.env, roles, env, protocol,
                           on_synthetic=nets is not None)
    return np.concatenate(env.states) if env.states else np.zeros((0, spec.state_dim))


def make(args, out_dir: Path) -> str:
    models = load_models(args.models, "synthetic_env", args.env, args.overrides)
    agent = (args.agents or ("ddqn",))[0]
    seeds = [derive_seed(args.seed, run, 0x5A) for run in range(args.runs)]
    configs = [load_config(to_dict(m.config), [f"agent={agent}"]) for m in models]
    se_states = np.concatenate([visited_states(c, seeds, m.nets) for c, m in zip(configs, models)])
    real_states = visited_states(configs[0], [derive_seed(s, 1) for s in seeds])
    env = configs[0].env
    dims = se_states.shape[1]
    names = STATE_NAMES.get(env, tuple(f"state {i}" for i in range(dims)))
    cols = min(dims, 3)
    figure, axes = new_figure((dims + cols - 1) // cols, cols, width=4.0, height=3.0)
    rows = []
    for dim in range(dims):
        both = np.concatenate([se_states[:, dim], real_states[:, dim]])
        finite = both[np.isfinite(both)]
        low, high = np.percentile(finite, [1, 99]) if len(finite) else (0.0, 1.0)
        edges = np.linspace(low, high if high > low else low + 1, BINS + 1)
        ax = axes[dim // cols][dim % cols]
        for label, states in (("real env", real_states), (se_label(models), se_states)):
            density, _ = np.histogram(states[:, dim], bins=edges, density=True)
            real = label == "real env"
            ax.stairs(density, edges, label=f"{label}, {len(states)} states", fill=real, alpha=0.6 if real else 1.0,
                      linewidth=1.6)
            rows += [{"dim": dim, "state": names[dim], "trained_on": label, "bin_low": float(edges[i]),
                      "bin_high": float(edges[i + 1]), "density": float(density[i])} for i in range(BINS)]
        ax.set(xlabel=names[dim], ylabel="density of visited states", title=f"{env}: {names[dim]}")
        ax.legend(fontsize="x-small")
        ax.grid(alpha=0.3)
    for extra in range(dims, len(axes.flat)):
        axes.flat[extra].set_visible(False)
    write_csv(out_dir / "state_histograms.csv", ("dim", "state", "trained_on", "bin_low", "bin_high", "density"), rows)
    save(figure, out_dir, "state_histograms")
    return f"{len(se_states)} SE states, {len(real_states)} real-env states ({agent}, {args.runs} runs per env)"
