"""model_based: an SE-shaped model fitted by supervised learning on real transitions, against the
learned SEs, as the training env of fresh agents.

The baseline has the SEs' architecture (three MLPs on concat(one-hot action, state): next state,
reward, done > 0.5). It is fitted with Adam on mean squared error to ``--transitions`` real
transitions of a uniformly random policy (done target 1 for a terminal step, 0 otherwise). Then
``--runs`` agents train on it and ``--runs`` on each learned SE, with the same protocol (SE early
out, no real-env interaction), and all are tested on the real env. The fitted model is saved as
``model_based_se.pt`` (a model file every command takes). A bandit SE has no transitions to
compare with: the figure leaves bandit SEs out of a folder that also has MDP SEs (the zoo holds both
kinds) and refuses --models with none.
"""
import logging
from pathlib import Path

import numpy as np
import torch

from common.errors import UserError
from common.rng import derive_seed
from common.schema import to_dict
from envs.real import make_real_env, real_env_spec
from experiments.evaluation import CSV_COLUMNS, Run, evaluate_runs
from experiments.figures.common import evaluator_of, load_models, new_figure, plot_return_densities, save, write_csv
from models.mlp import PopulationMLP, build_mlp
from models.synthetic_env_nets import NET_NAMES, SyntheticEnvNets
from nes.config import load_config
from nes.model_files import save_synthetic_env

log = logging.getLogger(__name__)

BASELINE = "model-based (supervised)"
EPOCHS, BATCH, LR = 30, 256, 1e-3


def random_transitions(env_id: str, count: int, seed: int):
    """(inputs (N, A + S), next states (N, S), rewards (N,), terminated (N,)) of a random policy."""
    spec = real_env_spec(env_id)
    env = make_real_env(env_id)
    env.action_space.seed(seed)
    state, _ = env.reset(seed=seed)
    inputs, next_states, rewards, dones = [], [], [], []
    for _ in range(count):
        action = env.action_space.sample()
        encoded = np.eye(spec.action_dim)[action] if spec.discrete_actions else np.atleast_1d(action)
        next_state, reward, terminated, truncated, _ = env.step(action)
        inputs.append(np.concatenate([encoded, state])), next_states.append(next_state)
        rewards.append(reward), dones.append(float(terminated))
        state = env.reset()[0] if terminated or truncated else next_state
    env.close()
    as_tensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
    return as_tensor(inputs), as_tensor(next_states), as_tensor(rewards), as_tensor(dones)


def fit_model(config, transitions, seed: int) -> SyntheticEnvNets:
    """The SE architecture of ``config`` fitted to ``transitions`` by supervised learning."""
    spec = real_env_spec(config.env)
    se = config.synthetic_env
    inputs, *targets = transitions
    targets = [targets[0], targets[1][:, None], targets[2][:, None]]
    torch.manual_seed(seed)
    modules = {name: build_mlp(inputs.shape[1], target.shape[1], se.hidden_size, se.hidden_layer, se.activation)
               for name, target in zip(NET_NAMES, targets)}
    generator = torch.Generator().manual_seed(seed)
    for name, target in zip(NET_NAMES, targets):
        optimiser = torch.optim.Adam(modules[name].parameters(), lr=LR)
        for _ in range(EPOCHS):
            for batch in torch.randperm(len(inputs), generator=generator).split(BATCH):
                loss = torch.nn.functional.mse_loss(modules[name](inputs[batch]), target[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    nets = {name: PopulationMLP.from_modules([modules[name]], se.activation) for name in NET_NAMES}
    return SyntheticEnvNets(nets, spec.state_dim, spec.action_dim, spec.discrete_actions)


def make(args, out_dir: Path) -> str:
    loaded = load_models(args.models, "synthetic_env", args.env, args.overrides)
    models = [m for m in loaded if m.config.synthetic_env.kind != "bandit"]
    if not models:
        raise UserError(f"model_based compares a model of real transitions with learned MDP SEs, and --models has "
                        f"none: {loaded[0].path} is a bandit SE{', as are the others' if len(loaded) > 1 else ''}")
    if len(models) < len(loaded):
        log.info("model_based leaves out %d bandit SEs: they have no transitions", len(loaded) - len(models))
    agent = (args.agents or ("ddqn",))[0]
    config = load_config(to_dict(models[0].config), [f"agent={agent}"])
    fitted = fit_model(config, random_transitions(config.env, args.transitions, args.seed), args.seed)
    save_synthetic_env(out_dir / "model_based_se.pt", fitted, 0, config,
                       {"fitted_on": f"{args.transitions} random-policy transitions, seed {args.seed}"})
    seeds = [derive_seed(args.seed, run, 0x3B) for run in range(args.runs)]
    runs = [Run(BASELINE, config, run, s, fitted) for run, s in enumerate(seeds)]
    for m in models:
        runs += [Run(m.label, load_config(to_dict(m.config), [f"agent={agent}"]), run, s, m.nets)
                 for run, s in enumerate(seeds)]
    rows = evaluate_runs(runs, evaluator_of(args), out_dir)
    for row in rows:
        row["trained_on"] = BASELINE if row["model"] == BASELINE else "learned SEs"
    write_csv(out_dir / "model_based.csv", ("trained_on", *CSV_COLUMNS), rows)
    groups = {name: np.array([r["test_return"] for r in rows if r["trained_on"] == name])
              for name in (BASELINE, "learned SEs")}
    figure, axes = new_figure(1, 2, width=4.8)
    colours = dict(zip(groups, ("tab:red", "tab:blue")))   # the same colour for a model kind in both panels
    plot_return_densities(axes[0][0], groups, colours)
    axes[0][0].set(title=f"{agent}, {config.env}: test returns")
    axes[0][0].legend(fontsize="small", title="trained on")
    axes[0][1].bar(range(2), [v.mean() for v in groups.values()], yerr=[v.std() for v in groups.values()], capsize=4,
                   color=list(colours.values()))
    axes[0][1].set_xticks(range(2), list(groups))
    axes[0][1].set(ylabel="real-env test return (mean ± sd)", title="agents trained on each kind of model")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    save(figure, out_dir, "model_based")
    return "; ".join(f"{name}: mean real-env return {v.mean():.1f} over {len(v)} agents" for name, v in groups.items())
