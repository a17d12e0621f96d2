"""learned_rewards: the reward each CliffWalking reward network gives, cell by cell.

For each RN (the paper shows types 1, 2, 5 and 6: GTNC_evaluate_gridworld_heatmap.py @ 3216697)
and each cell s of the 4 x 12 grid: the mean,
over the four actions a, of the learned part of the reward the agent sees for (s, a) (for an
additive type, the seen reward minus the real reward r; for an exclusive type, all of it),
computed from gymnasium's transition table (s' and r) and the RN with its agent's discount gamma.
The start is bottom left, the goal bottom right, the cliff between them (stepping onto it sends
the agent back to the start with r = -100); the agent never stands on the cliff, so those cells
are left blank.
"""
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from experiments.figures.common import load_models, new_figure, save, write_csv
from models.reward_env_nets import REWARD_TYPES, is_additive

ENV = "CliffWalking-v1"
CLIFF = list(range(37, 47))


def cell_rewards(nets, gamma: float) -> np.ndarray:
    """(48,) mean learned reward term over the actions taken in each cell (NaN on the cliff)."""
    table = gym.make(ENV).unwrapped.P
    cells = len(table)
    states, next_states, rewards = [], [], []
    for s in range(cells):
        for a in range(4):
            (_, s_next, r, _), = table[s][a]
            states.append(s), next_states.append(int(s_next)), rewards.append(float(r))
    one_hot = torch.eye(cells)
    seen = nets.rewards(one_hot[states][None], one_hot[next_states][None], torch.tensor(rewards)[None],
                        gamma=gamma)[0]
    learned = seen - torch.tensor(rewards) if is_additive(nets.reward_type) else seen
    values = learned.reshape(cells, 4).mean(dim=1).numpy()
    values[CLIFF] = np.nan
    return values


def make(args, out_dir: Path) -> str:
    models = load_models(args.models, "reward_env", ENV, args.overrides)
    cols = min(len(models), 2)
    figure, axes = new_figure((len(models) + cols - 1) // cols, cols, width=6.0, height=2.6)
    rows = []
    for ax, m in zip(axes.flat, models):
        gamma = getattr(m.config.agent_config(), "gamma", 0.99)
        values = cell_rewards(m.nets, gamma)
        grid = values.reshape(4, 12)
        image = ax.imshow(grid, cmap="viridis")
        middle = np.nanmean(grid)
        for (row, col), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(col, row, f"{value:.2g}", ha="center", va="center", fontsize=6,
                        color="white" if value < middle else "black")
        ax.add_patch(_cliff_outline())
        ax.text(5.5, 3, "cliff", ha="center", va="center", color="red", fontsize=8)
        ax.set(title=f"{m.label}: {m.nets.reward_type} (type {REWARD_TYPES[m.nets.reward_type]})",
               xlabel="column (start S at left, goal G at right)", ylabel="row")
        figure.colorbar(image, ax=ax, label="learned reward\n(mean over actions)", shrink=0.8)
        rows += [{"model": m.label, "reward_type": m.nets.reward_type, "cell": c, "row": c // 12, "col": c % 12,
                  "mean_learned_reward": float(v)} for c, v in enumerate(values)]
    for extra in range(len(models), len(axes.flat)):
        axes.flat[extra].set_visible(False)
    write_csv(out_dir / "learned_rewards.csv", ("model", "reward_type", "cell", "row", "col", "mean_learned_reward"), rows)
    save(figure, out_dir, "learned_rewards")
    return f"{len(models)} reward networks: {', '.join(m.nets.reward_type for m in models)}"


def _cliff_outline():
    from matplotlib.patches import Rectangle

    return Rectangle((0.5, 2.5), 10, 1, fill=False, edgecolor="red", linewidth=1.5, label="cliff")
