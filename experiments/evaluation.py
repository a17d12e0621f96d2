"""Evaluation at scale: fresh agents trained on fixed learned SEs (or on the real env), tested on
the real env; one tidy row per training run.

A ``Run`` is one agent training: on the SE ``nets`` (no real-env interaction while training; the
agent stops by the SE early-out rule or its episode cap, or on a bandit SE trains for its whole
budget) or, with ``nets=None``, on the real env (stopping once its mean training return over the
last ``early_out_num`` episodes reaches the env's threshold: the paper's real-env protocol, see
``nes/fixed_env_training.py``). Runs that share one config
(env, agent and its hyperparameters, protocol, SE architecture) form a group: its runs become the
fixed-env tasks (``nes/tasks.py``) of one run id, and an evaluator backend made from that config
(``nes/evaluators``) runs them. So a group is one batched population with the ``batched`` backend
(different SEs are different members: N SEs x M agents cost about one training of N*M members), and
spreads over worker processes, a Dask cluster, or ``experiments.worker`` processes (a SLURM array)
over a sync directory with the others. Every backend gives the same rows except ``wall_seconds``,
because every run's randomness comes from its own seed.

``model_runs`` plans the runs of many models (evaluate_env, and slurm_scripts checking a layout).
"""
import dataclasses
import hashlib
import json
import logging
import math
from pathlib import Path

from common.errors import UserError
from common.rng import derive_seed
from envs.real import real_env_spec
from models.net_group import NetGroup
from nes.config import Config, EvaluatorConfig
from nes.evaluators import make_evaluator
from nes.learned_envs import initial_nets
from nes.model_files import SE_KIND, config_with_overrides, find_model_files, load_model, model_label
from nes.tasks import FixedEnvResult, FixedEnvTask

log = logging.getLogger(__name__)
REAL = "real env"
CSV_COLUMNS = ("model", "env", "agent", "hp_mode", "run", "seed", "test_return", "train_steps",
               "train_episodes", "wall_seconds")


@dataclasses.dataclass
class Run:
    """One agent training: ``config.agent`` (with ``config``'s hyperparameters) on ``nets`` or the real env."""

    model: str
    config: Config
    run: int
    seed: int
    nets: NetGroup | None = None   # an SE of either kind (its config's synthetic_env.kind)

    @property
    def hp_mode(self) -> str:
        return "varied" if self.config.agent_config().vary_hp else "fixed"

    def group_key(self) -> str:
        """Runs with equal keys train under one config (one population with the batched backend)."""
        se = None if self.nets is None else dataclasses.asdict(self.config.synthetic_env)
        return json.dumps([self.config.env, self.config.agent, dataclasses.asdict(self.config.agent_config()),
                           dataclasses.asdict(self.config.protocol), se], sort_keys=True)

    def psi(self):
        """The SE's parameter vector (None on the real env), checked against its config's architecture."""
        if self.nets is None:
            return None
        psi = self.nets.to_flat()[0].detach()
        expected = initial_nets(dataclasses.replace(self.config, learn="synthetic_env"),
                                real_env_spec(self.config.env), 0).num_params
        if self.nets.population != 1 or psi.numel() != expected:
            raise ValueError(f"run of {self.model}: its SE is not one SE of its config's synthetic_env shape")
        return psi


def model_runs(paths, agent: str, runs: int, seed: int, vary_hp: bool, overrides=(), baseline: bool = False) -> list[Run]:
    """``runs`` agents on each SE in ``paths`` (the same seeds for every model) and, with
    ``baseline``, ``runs`` agents on each env's real env (configured like that env's first model)."""
    planned, first_config = [], {}
    seeds = [derive_seed(seed, run, 0xE7A1) for run in range(runs)]
    extra = [f"agent={agent}", f"agents.{agent}.vary_hp={str(vary_hp).lower()}", *overrides]
    for path in find_model_files(paths):
        kind, nets, config = load_model(path)
        if kind != SE_KIND:
            continue  # a folder may hold reward networks too (zoo/CartPole-v0); they have no SE to train on
        config = config_with_overrides(config, extra, path)
        first_config.setdefault(config.env, config)
        planned += [Run(model_label(path), config, run, s, nets) for run, s in enumerate(seeds)]
    if not first_config:
        raise UserError(f"no synthetic environments in {', '.join(map(str, paths))}")
    if baseline:
        real_seeds = [derive_seed(seed, run, 0xBA5E) for run in range(runs)]
        for config in first_config.values():
            planned += [Run(REAL, config, run, s) for run, s in enumerate(real_seeds)]
    return planned


def evaluate_runs(runs: list[Run], evaluator: EvaluatorConfig | None = None, out_dir: Path | None = None) -> list[dict]:
    """Rows for ``runs`` in their order, each group run by the ``evaluator`` backend (default batched).

    Group k's run id is ``<out_dir name>.g<k>-<digest of its config and tasks>``: a master started
    again on the same work finds its results in a files backend's sync dir (default <out_dir>/sync),
    and two evaluations that share a sync dir never mix their tasks.
    """
    evaluator = evaluator or EvaluatorConfig()
    groups: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        groups.setdefault(run.group_key(), []).append(index)
    name = out_dir.name if out_dir is not None else "evaluation"
    rows: dict[int, dict] = {}
    for k, indices in enumerate(groups.values()):
        first = runs[indices[0]]
        config = dataclasses.replace(first.config, learn="synthetic_env", evaluator=evaluator)
        psis = [runs[i].psi() for i in indices]
        run_id = f"{name}.g{k}-{_digest(first.group_key(), [runs[i].seed for i in indices], psis)}"
        tasks = [FixedEnvTask(run_id=run_id, iteration=0, member=row, seed=runs[i].seed, psi=psi)
                 for row, (i, psi) in enumerate(zip(indices, psis))]
        backend = make_evaluator(config, out_dir)
        try:
            results = backend.evaluate(tasks, math.inf)
        finally:
            backend.close()
        for result in results:
            rows[indices[result.member]] = _row(runs[indices[result.member]], result)
        log.info("%d of %d runs done (group %d: %d runs of %s on %s, %s)", len(rows), len(runs), k, len(indices),
                 first.config.agent, first.config.env, "real env" if first.nets is None else "SEs")
    return [rows[i] for i in range(len(runs))]


def _digest(group_key: str, seeds: list[int], psis: list) -> str:
    digest = hashlib.sha256(json.dumps([group_key, seeds]).encode())
    for psi in psis:
        if psi is not None:
            digest.update(psi.numpy().tobytes())
    return digest.hexdigest()[:10]


def _row(run: Run, result: FixedEnvResult) -> dict:
    return {"model": run.model, "env": run.config.env, "agent": run.config.agent, "hp_mode": run.hp_mode,
            "run": run.run, "seed": run.seed, "test_return": result.test_return, "train_steps": result.train_steps,
            "train_episodes": result.train_episodes, "wall_seconds": round(result.seconds, 3)}
