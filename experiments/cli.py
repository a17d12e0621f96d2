"""Shared edges of the entry points: logging, config flags, evaluator flags, run directories."""
import argparse
import contextlib
import json
import logging
import math
import os
import platform
import re
import shutil
import time
from pathlib import Path

import torch

from common.config_files import read_yaml
from common.errors import UserError
from common.schema import describe
from nes.config import BACKENDS, Config, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "results"
# learn_env's default run (and slurm_scripts'): a contextual-bandit CartPole-v0 SE, the config that
# learns reliably in minutes (BENCHMARKS.md, "SE learning").
DEFAULT_CONFIG = REPO_ROOT / "default_config" / "cartpole_bandit_se.yaml"
# The paper's MDP SE with the schema's defaults: the NES speed benchmarks measure its iterations.
MDP_SE_CONFIG = REPO_ROOT / "default_config" / "cartpole_synthetic_env.yaml"


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but bad flags are a one-line error with exit code 2 and no usage dump."""

    def error(self, message):
        raise UserError(message)


def finite_float(text: str) -> float:
    """argparse type of every float option: nan and inf would slip through range checks (every
    comparison with nan is false) and end in invalid JSON or meaningless results."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


# A name that becomes a file or folder name: nothing that could leave its directory or hide in it.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
PLAIN_NAME_RULE = "letters, digits, '_', '-' and '.', starting with a letter or digit, at most 100 characters"


def check_plain_name(name: str, flag: str) -> None:
    if not PLAIN_NAME.fullmatch(name):
        raise UserError(f"{flag} {name!r} is not a usable file name ({PLAIN_NAME_RULE})")


def make_parser(description: str, with_config: bool = True) -> argparse.ArgumentParser:
    epilog = "config keys (set with --set key=value):\n" + "\n".join(describe(Config)) if with_config else None
    return _ArgumentParser(description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_config_flags(parser: argparse.ArgumentParser, default_config: Path | None) -> None:
    parser.add_argument("--config", type=Path, default=default_config,
                        help=f"YAML config file (default: {default_config.relative_to(REPO_ROOT) if default_config else 'none'})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set nes.population=8 (repeatable)")
    parser.add_argument("--seed", type=int, help="run seed (same as --set seed=N)")


def add_evaluator_flags(parser: argparse.ArgumentParser) -> None:
    """--evaluator, --workers, --sync-dir and --scheduler: the evaluator section from the command line."""
    parser.add_argument("--evaluator", choices=sorted(BACKENDS), help="evaluation backend (evaluator.backend)")
    parser.add_argument("--workers", type=int, help="worker processes of the processes backend, local workers of "
                                                    "the files backend (0: only workers started elsewhere, e.g. "
                                                    "a SLURM array) (evaluator.workers)")
    parser.add_argument("--sync-dir", help="sync directory of the files backend (evaluator.sync_dir; "
                                           "default <run_dir>/sync)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="dask backend: a running Dask scheduler (evaluator.scheduler)")


def evaluator_overrides(args) -> list[str]:
    """The ``--set`` assignments that the flags of ``add_evaluator_flags`` stand for."""
    overrides = []
    if args.evaluator:
        overrides.append(f"evaluator.backend={args.evaluator}")
    if args.workers is not None:
        overrides.append(f"evaluator.workers={args.workers}")
    if args.sync_dir is not None:
        overrides.append(f"evaluator.sync_dir={json.dumps(args.sync_dir)}")  # quoted: any path is a string
    if args.scheduler is not None:
        overrides.append(f"evaluator.scheduler={json.dumps(args.scheduler)}")
    return overrides


def agent_config_overrides(path: Path | None, agents=None) -> list[str]:
    """``--set`` assignments for every key of ``path``'s ``agents.<agent>`` sections: each of
    ``agents``, which must be there, or every section of the file (none without a path)."""
    if path is None:
        return []
    sections = read_yaml(path).get("agents") or {}
    wanted = list(sections) if agents is None else list(agents)
    for agent in wanted or ["<agent>"]:
        if not isinstance(sections.get(agent), dict):
            raise UserError(f"agent config {path} has no agents.{agent} section")
    return [f"agents.{agent}.{key}={json.dumps(value)}" for agent in wanted for key, value in sections[agent].items()]


def config_from_args(args, extra_overrides: list[str] = ()):
    overrides = list(args.overrides) + list(extra_overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    return load_config(args.config, overrides)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_name(env: str, experiment: str, seed: int) -> str:
    """CleanRL-style ``{env}__{experiment}__{seed}__{time}``."""
    return f"{env}__{experiment}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def fresh_run_dir(out: Path | None, name: str, resumable: bool = False) -> Path:
    """A new, empty run directory; an existing non-empty one is refused rather than overwritten
    (with a hint to ``--resume`` it where the command has that flag: ``resumable``)."""
    run_dir = out if out is not None else RESULTS / name
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file, not a directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        hint = f"pass --resume {run_dir} to continue it, or pick another --out" if resumable else "pick another --out"
        raise UserError(f"{run_dir} already holds a run or other files; {hint}")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create run directory {run_dir}: {error.strerror}") from None
    return run_dir


@contextlib.contextmanager
def new_run_dir(out: Path | None, name: str, resumable: bool = False, started=lambda run_dir: False):
    """``fresh_run_dir`` for the block that starts a run, undone if the block raises a UserError
    before ``started(run_dir)`` says there is something worth keeping (a checkpoint, a sync dir
    with results): a failed start leaves nothing behind, so the same command can simply be run
    again. A directory that existed (empty) before stays, emptied."""
    existed = (out if out is not None else RESULTS / name).is_dir()
    run_dir = fresh_run_dir(out, name, resumable)
    try:
        yield run_dir
    except UserError:
        if not started(run_dir):
            _remove_run_dir(run_dir, keep_dir=existed)
        raise


def _remove_run_dir(run_dir: Path, keep_dir: bool) -> None:
    if not keep_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for child in run_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def machine_line() -> str:
    """The machine line of a benchmark report."""
    return (f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}  ")


def record_benchmark(name: str, text: str) -> None:
    """Put ``text`` between the ``<!-- name:start -->`` and ``<!-- name:end -->`` markers of
    BENCHMARKS.md (appended if the markers are not there yet)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    path = REPO_ROOT / "BENCHMARKS.md"
    content = path.read_text() if path.exists() else "# Benchmarks\n"
    if start not in content:
        content += f"\n{start}\n{end}\n"
    head, rest = content.split(start, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")
