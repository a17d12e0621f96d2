"""Reward variants: fresh agents trained on the real env with a learned reward network's reward,
the plain real reward, or the real reward plus ICM curiosity, one population per variant, every
variant on the same seeds. ``compare_reward_envs`` and the ``rn_curves`` figure both run them.

A variant's agents are tested on the real env after every episode and go on to the step budget or
their episode cap (no stop when solved); every test is a point of its learning curve.
"""
import dataclasses
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from agents import AGENTS
from agents.icm import ICMOptions
from agents.population import SeedRoles, train_fresh_population
from common.rng import derive_seed
from common.schema import to_dict
from envs.real_vec import RealVecEnv
from envs.reward_env import RewardVecEnv
from models.reward_env_nets import RewardEnvNets
from nes.config import Config, load_config

PLAIN, ICM = "plain", "ICM"
_SEED_TAG = 0xC0


@dataclasses.dataclass
class RewardModel:
    path: Path
    nets: RewardEnvNets
    config: Config
    label: str = ""


def run_seeds(seed: int, runs: int) -> list[int]:
    """The base seeds of a comparison's runs: compare_reward_envs and rn_curves train the same agents from one seed."""
    return [derive_seed(seed, run, _SEED_TAG) for run in range(runs)]


def label_models(models: list[RewardModel]) -> None:
    """Label by RN type; a type that appears twice also names the model's folder (and a number
    if one folder gives it twice)."""
    for m in models:
        m.label = m.nets.reward_type
    for relabel in (lambda m, k: f"{m.label} ({m.path.parent.name})", lambda m, k: f"{m.label} #{k}"):
        labels = [m.label for m in models]
        for i, m in enumerate(models):
            if labels.count(labels[i]) > 1:
                m.label = relabel(m, labels[:i + 1].count(labels[i]))


def variant_config(base: Config, agent: str, options, icm: bool) -> Config:
    """``base`` with the variant's agent, budget and protocol: a test after every episode, no stop.

    ``options`` holds ``vary_hp`` (each run samples its own hyperparameters) and ``steps`` (the
    real-env step budget; None keeps the model's)."""
    overrides = [f"agent={agent}"]
    overrides += [f"agents.{agent}.vary_hp=true"] if options.vary_hp else []
    overrides += [f"protocol.max_train_steps={options.steps}"] if options.steps is not None else []
    if issubclass(AGENTS[agent].Config, ICMOptions):
        overrides.append(f"agents.{agent}.icm={str(icm).lower()}")
    config = load_config(to_dict(base), overrides)
    protocol = dataclasses.replace(config.protocol, test_every=1, stop_when_solved=False, se_early_out=False)
    return dataclasses.replace(config, protocol=protocol)


def train_variant(label: str, config: Config, seeds: list[int], nets: RewardEnvNets | None) -> dict:
    """Train one agent per seed with the RN ``nets`` (None: the real reward); every test as a point."""
    agent_config = config.agent_config()
    roles = SeedRoles.of(seeds)
    real = RealVecEnv(config.env, roles.train_env)
    train_env = real if nets is None else RewardVecEnv(
        real, nets.with_flat(nets.to_flat().repeat(len(seeds), 1)), agent_config.gamma)
    points: list[list[tuple[int, float]]] = [[] for _ in seeds]
    bar = tqdm(total=agent_config.train_episodes, desc=label, unit="ep", dynamic_ncols=True, file=sys.stderr)

    def on_episode(report) -> None:
        for m in torch.nonzero(report.tested).flatten().tolist():
            points[m].append((int(train_env.steps_used[m]), float(report.test_returns[m])))
        bar.update(max(0, int(report.episode.max()) + 1 - bar.n))   # the furthest member's episodes

    start = time.monotonic()
    try:
        result = train_fresh_population(config.agent, agent_config, config.env, roles, train_env, config.protocol,
                                        on_synthetic=False, on_episode=on_episode).result
    finally:
        bar.close()
    for m, run in enumerate(points):
        # A run that hit the step budget gets its final test after the episode loop.
        final_step, final = int(train_env.steps_used[m]), float(result.test_return[m])
        if not result.failed[m] and (not run or run[-1][0] != final_step):
            run.append((final_step, final))
    return {"points": points, "final_returns": result.test_return.tolist(),
            "wall_seconds": round(time.monotonic() - start, 2)}
