"""Evaluation at scale: fresh agents trained on fixed learned SEs (or on the real env), tested on
the real env; one tidy row per training run.

A ``Run`` is one agent training: on the SE ``nets`` (no real-env interaction while training; the
agent stops by the SE early-out rule or its episode cap) or, with ``nets=None``, on the real env
(tested after every episode, stopping once a test reaches the env's threshold: the paper's
real-env protocol). Runs that share an env, an agent config and an SE architecture train as one
batched population (different SEs are different members), so N SEs x M agents cost about one
training of N*M members.

Backends: ``batched`` (every compatible group as one population), ``serial`` (one run at a time)
and ``processes`` (each group split over ``workers`` local processes, batched inside each). They
give identical rows except for ``wall_seconds``, because every run's randomness comes from its
own seed. This does not go through the NES evaluators (``nes/evaluators``): those score NES
member tasks (psi and psi +- eps) and return NES scores, while an evaluation needs each agent's
steps and episodes; a task kind for fixed models there would change the task and result records
that the file, SLURM and Dask backends exchange.
"""
import dataclasses
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from agents import make_agent
from agents.training import train_population
from common.config import Config
from common.rng import derive_seed
from envs.initial_states import InitialStateSampler
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from envs.synthetic_vec import SyntheticVecEnv
from models.synthetic_env_nets import SyntheticEnvNets

log = logging.getLogger(__name__)
EVAL_BACKENDS = ("batched", "serial", "processes")
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
    nets: SyntheticEnvNets | None = None

    @property
    def hp_mode(self) -> str:
        return "varied" if self.config.agent_config().vary_hp else "fixed"

    def group_key(self) -> str:
        """Runs with equal keys can train as one population."""
        nets = None if self.nets is None else [(w.shape, net.activation) for net in self.nets.nets.values()
                                               for w in net.weights]
        return json.dumps([self.config.env, self.config.agent, dataclasses.asdict(self.config.agent_config()),
                           dataclasses.asdict(self.config.protocol), str(nets)], sort_keys=True)


def _train(runs: list[Run]) -> list[dict]:
    """Train ``runs`` (one group) as one population; one row per run."""
    config = runs[0].config
    spec = real_env_spec(config.env)
    agent_config = config.agent_config()
    seeds = [r.seed for r in runs]
    agent = make_agent(config.agent, agent_config, spec, [derive_seed(s, 0) for s in seeds])
    test_env = RealVecEnv(config.env, [derive_seed(s, 2) for s in seeds], agent_config.test_episodes)
    synthetic = runs[0].nets is not None
    sampler = None
    if synthetic:
        sampler = InitialStateSampler(config.env, [derive_seed(s, 1) for s in seeds])
        flat = torch.cat([r.nets.to_flat() for r in runs])
        train_env = SyntheticVecEnv(runs[0].nets.with_flat(flat), spec, sampler, autoreset=False)
        protocol = dataclasses.replace(config.protocol, test_every=0, se_early_out=True)
    else:
        train_env = RealVecEnv(config.env, [derive_seed(s, 1) for s in seeds])
        protocol = dataclasses.replace(config.protocol, test_every=1, stop_when_solved=True, se_early_out=False)
    start = time.monotonic()
    try:
        result = train_population(agent, train_env, test_env, agent_config, protocol, on_synthetic=synthetic)
    finally:
        test_env.close()
        (sampler or train_env).close()
    wall = round(time.monotonic() - start, 3)
    return [{"model": r.model, "env": r.config.env, "agent": r.config.agent, "hp_mode": r.hp_mode, "run": r.run,
             "seed": r.seed, "test_return": float(result.test_return[i]), "train_steps": int(result.train_steps[i]),
             "train_episodes": int(result.train_episodes[i]), "wall_seconds": wall}
            for i, r in enumerate(runs)]


def _train_in_worker(runs: list[Run], threads: int) -> list[dict]:
    torch.set_num_threads(threads)
    return _train(runs)


def evaluate_runs(runs: list[Run], backend: str = "batched", workers: int = 2, threads: int = 1,
                  on_done=None) -> list[dict]:
    """Rows for ``runs`` in their order; ``on_done(count)`` hears how many runs each batch finished."""
    groups: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        groups.setdefault(run.group_key(), []).append(index)
    if backend == "serial":
        batches = [[i] for indices in groups.values() for i in indices]
    elif backend == "processes":
        batches = [indices[w::workers] for indices in groups.values() for w in range(workers) if indices[w::workers]]
    else:
        batches = list(groups.values())
    rows: dict[int, dict] = {}

    def finished(batch: list[int]) -> None:
        first = runs[batch[0]]
        log.info("%d of %d runs done (%s, %s on %s)", len(rows), len(runs), first.model, first.config.agent,
                 first.config.env)
        if on_done:
            on_done(len(batch))

    if backend == "processes":
        # spawn, not fork: forking a process that already ran torch can deadlock its thread pools.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [(batch, pool.submit(_train_in_worker, [runs[i] for i in batch], threads)) for batch in batches]
            for batch, future in futures:
                rows.update(zip(batch, future.result()))
                finished(batch)
    else:
        for batch in batches:
            rows.update(zip(batch, _train([runs[i] for i in batch])))
            finished(batch)
    return [rows[i] for i in range(len(runs))]
