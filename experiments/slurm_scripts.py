"""Write SLURM batch scripts for a learn_env config or an evaluation, in one of four layouts.

    python -m experiments.slurm_scripts nes   --config F [--set k=v ...] --workers N --out DIR
    python -m experiments.slurm_scripts bohb  --space S [--set k=v ...] --iterations I --bohb-workers K
                                              --workers N --out DIR
    python -m experiments.slurm_scripts sweep --config F --seeds 0-9 --out DIR
    python -m experiments.slurm_scripts evaluate --models PATH... [--agent A] [--runs M] [--vary-hp] [--baseline]
                                                 [--seed S] [--set k=v ...] --workers N --out DIR
                                              [--time HH:MM:SS] [--partition P] [--mem M] [--idle-exit S]

Layouts:
  nes    an NES master job (``learn_env --evaluator files``) and an array of N one-core workers
         (``experiments.worker``) that serve it through the sync directory ``sync/``;
  bohb   a BOHB master (``experiments.tune``), an array of K BOHB workers (each an NES master on the
         files backend) and one array of N NES workers that serve all of them through ``sync/``;
  sweep  one ``learn_env`` per seed as a plain ``--array`` (each task batched on one core);
  evaluate  an ``evaluate_env --models`` master job on the files backend and an array of N one-core
         workers that train its agents; the models are copied into ``models/``, the CSV lands in ``run/``.

DIR is the layout's directory on the shared filesystem. It holds the frozen merged ``config.yaml``
(bohb: a copy of the space, whose ``base_config`` is the base of every sample; evaluate: the models,
which carry their configs),
``env.sh`` (the one place to activate your environment), the ``*.sbatch`` scripts and ``submit.sh``;
every job runs in DIR and every path in the scripts is relative to it (``sync/``, ``run/``,
``seed_<n>/``, ``bohb/``, ``logs/%x.%A_%a.out``). Submit with ``bash DIR/submit.sh``. A master or a
sweep task that is submitted again resumes its run from its ``latest.pt``; an evaluate master
submitted again reuses the results its workers wrote to ``sync/`` for the group of runs it was on.
"""
import dataclasses
import re
import shlex
import shutil
import sys
from pathlib import Path

import yaml

from common.config_files import read_yaml
from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import (DEFAULT_CONFIG, REPO_ROOT, RESULTS, add_config_flags, config_from_args, finite_float,
                             make_parser, run_name)
from nes.config import EvaluatorConfig, save_config
from nes.model_files import find_model_files, model_label

LAYOUTS = ("nes", "bohb", "sweep", "evaluate")
TIME_PATTERN = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")
MEM_PATTERN = re.compile(r"^\d+[KMGT]?$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.,-]+$")
SEEDS_PATTERN = re.compile(r"^(\d+)-(\d+)$")

ENV_SH = """\
# Sourced by every job of this layout, in the layout directory, before anything else runs.

# >>> activate your environment here >>>
# Put the commands that make SynthEnv's Python environment available on a compute node here.
# The example activates the virtual environment of the checkout these scripts were written from:
#   source {venv}
# or, on a cluster with environment modules:
#   module load python/3.11 && source $HOME/venvs/synthenv/bin/activate
# <<< activate your environment here <<<

# The SynthEnv code (the jobs run `python -m experiments...` from it) and one thread per core.
export PYTHONPATH={code}${{PYTHONPATH:+:$PYTHONPATH}}
export OMP_NUM_THREADS="${{SLURM_CPUS_PER_TASK:-1}}"
"""

HEADER = """\
#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --output=logs/%x.%A_%a.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
{extra}# {what}
# Runs in the layout directory (submit.sh submits from there); all paths are relative to it.
set -eo pipefail
source ./env.sh
"""

# A master resumes its run if an earlier job of it got as far as a checkpoint. A run directory
# without one (the job died in its first iteration) is moved aside, not deleted.
RESUMABLE_RUN = """\
if [ -f {run}/latest.pt ]; then
    python -m experiments.learn_env --resume {run} {backend}
else
    if [ -e {run} ]; then mv {run} "{run}.incomplete.$(date +%s)"; fi
    python -m experiments.learn_env --config config.yaml {seed}--out {run} {backend}
fi
"""

SUBMIT_HEADER = """\
#!/bin/bash
# Submits this layout's jobs in order, from the layout directory: bash submit.sh
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p {folders}
"""


def parse_args(argv):
    parser = make_parser(__doc__)
    parser.add_argument("layout", choices=LAYOUTS, help="nes, bohb, sweep or evaluate")
    add_config_flags(parser, None)
    parser.add_argument("--out", type=Path, help="layout directory on the shared filesystem "
                        "(default: results/<env>__slurm_<layout>__<seed>__<time>)")
    parser.add_argument("--workers", type=int, help="nes, bohb, evaluate: worker array tasks (one core each)")
    parser.add_argument("--seeds", help="sweep: seeds as FIRST-LAST, one array task each, e.g. 0-9")
    parser.add_argument("--space", type=Path, help="bohb: the search space file for experiments.tune")
    parser.add_argument("--iterations", type=int, help="bohb: BOHB iterations")
    parser.add_argument("--bohb-workers", type=int, default=2, help="bohb: BOHB worker jobs, each an NES master")
    parser.add_argument("--models", type=Path, nargs="+", metavar="PATH",
                        help="evaluate: SE model files, run directories or folders of them")
    parser.add_argument("--agent", default="ddqn", help="evaluate: the agent to train (default ddqn)")
    parser.add_argument("--runs", type=int, default=20, help="evaluate: fresh agents per model (default 20)")
    parser.add_argument("--vary-hp", action="store_true", help="evaluate: every run samples its own hyperparameters")
    parser.add_argument("--baseline", action="store_true", help="evaluate: also train --runs agents on the real env")
    parser.add_argument("--time", default="24:00:00", help="time limit of every job ([D-]HH:MM:SS)")
    parser.add_argument("--partition", help="SLURM partition (default: the cluster's default)")
    parser.add_argument("--mem", help="memory per job, e.g. 4G (default: the cluster's default)")
    parser.add_argument("--idle-exit", type=finite_float,
                        help="seconds a worker waits without work before it exits "
                             "(default: evaluator.worker_idle_exit)")
    return parser.parse_args(argv)


def check_args(args) -> None:
    if args.layout in ("nes", "bohb", "evaluate") and (args.workers is None or args.workers < 1):
        raise UserError(f"the {args.layout} layout needs --workers N (N >= 1 worker array tasks)")
    if args.layout == "sweep":
        match = SEEDS_PATTERN.match(args.seeds or "")
        if not match or int(match[1]) > int(match[2]):
            raise UserError(f"the sweep layout needs --seeds FIRST-LAST (e.g. 0-9), got {args.seeds!r}")
    if args.layout == "bohb":
        if args.space is None or not args.space.is_file():
            raise UserError(f"the bohb layout needs --space FILE (an existing search space), got {args.space}")
        if args.iterations is None or args.iterations < 1:
            raise UserError("the bohb layout needs --iterations N (N >= 1)")
        if args.bohb_workers < 1:
            raise UserError(f"--bohb-workers must be >= 1, got {args.bohb_workers}")
    if args.layout == "evaluate":
        if not args.models:
            raise UserError("the evaluate layout needs --models PATH... (SE files, run directories or folders)")
        if args.runs < 1:
            raise UserError(f"--runs must be >= 1, got {args.runs}")
        if args.config is not None:
            raise UserError("the evaluate layout takes its configs from the models; give --set overrides "
                            "instead of --config")
    if not TIME_PATTERN.match(args.time):
        raise UserError(f"--time must be [D-]HH:MM:SS, got {args.time!r}")
    if args.mem is not None and not MEM_PATTERN.match(args.mem):
        raise UserError(f"--mem must be a number with an optional K/M/G/T unit, got {args.mem!r}")
    if args.partition is not None and not NAME_PATTERN.match(args.partition):
        raise UserError(f"--partition {args.partition!r} is not a partition name")
    if args.idle_exit is not None and args.idle_exit <= 0:
        raise UserError(f"--idle-exit must be > 0 seconds, got {args.idle_exit}")


def layout_dir(out: Path | None, name: str) -> Path:
    directory = out if out is not None else RESULTS / name
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UserError(f"--out {directory} already exists and is not an empty directory; pick another")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "logs").mkdir()
    except OSError as error:
        raise UserError(f"cannot create layout directory {directory}: {error.strerror}") from None
    return directory


def batch_script(args, name: str, what: str, body: str, array: str | None = None) -> str:
    lines = [f"#SBATCH --time={args.time}"]
    lines += [f"#SBATCH --array={array}"] if array else []
    lines += [f"#SBATCH --partition={args.partition}"] if args.partition else []
    lines += [f"#SBATCH --mem={args.mem}"] if args.mem else []
    extra = "".join(line + "\n" for line in lines)
    return HEADER.format(name=name, extra=extra, what=what) + body


def worker_script(args, workers: int) -> str:
    body = f"python -m experiments.worker --sync-dir sync --idle-exit {args.idle_exit:g} --threads 1\n"
    return batch_script(args, "synthenv-worker", "NES workers: claim member tasks from sync/ and run them "
                        "(one core each; exit when told or when idle).", body, array=f"0-{workers - 1}")


def nes_layout(args) -> dict[str, str]:
    backend = "--evaluator files --workers 0 --sync-dir sync"
    master = RESUMABLE_RUN.format(run="run", seed="", backend=backend)
    master += "python -m experiments.worker --sync-dir sync --stop\n"
    submit = (SUBMIT_HEADER.format(folders="logs sync") + "master=$(sbatch --parsable master.sbatch)\n"
              "workers=$(sbatch --parsable --dependency=after:${master%%;*} workers.sbatch)\n"
              'echo "NES master job ${master%%;*}, worker array ${workers%%;*}; logs in logs/"\n')
    return {"master.sbatch": batch_script(args, "synthenv-master", "The NES master: writes member tasks to "
                                          "sync/ and updates the SE in run/.", master),
            "workers.sbatch": worker_script(args, args.workers), "submit.sh": submit}


BOHB_MASTER = """\
# hpbandster's nameserver listens on this node's address, which the BOHB workers read from bohb/.
host="${{BOHB_HOST:-$(hostname -i | cut -d' ' -f1)}}"
if [ -f bohb/tune.json ]; then
    python -m experiments.tune --resume bohb {common}
else
    python -m experiments.tune --space space.yaml --out bohb {common}{sets}
fi
python -m experiments.worker --sync-dir sync --stop
"""


def bohb_layout(args) -> dict[str, str]:
    common = (f"--iterations {args.iterations} --workers 0 --external-workers {args.bohb_workers} "
              '--host "$host"')
    sets = "".join(f" --set {shlex.quote(assignment)}" for assignment in args.overrides)
    sets += f" --seed {args.seed}" if args.seed is not None else ""
    master = BOHB_MASTER.format(common=common, sets=sets)
    nes_master = ("python -m experiments.tune --worker --out bohb --set evaluator.backend=files "
                  "--set evaluator.sync_dir=sync --set evaluator.workers=0\n")
    submit = (SUBMIT_HEADER.format(folders="logs sync") + "bohb=$(sbatch --parsable bohb_master.sbatch)\n"
              "nes=$(sbatch --parsable --dependency=after:${bohb%%;*} bohb_workers.sbatch)\n"
              "workers=$(sbatch --parsable --dependency=after:${nes%%;*} workers.sbatch)\n"
              'echo "BOHB master ${bohb%%;*}, BOHB workers ${nes%%;*}, NES workers ${workers%%;*}; logs in logs/"\n')
    return {"bohb_master.sbatch": batch_script(args, "synthenv-bohb", "The BOHB master: samples configs and "
                                               "waits for the BOHB workers; results in bohb/.", master),
            "bohb_workers.sbatch": batch_script(args, "synthenv-bohb-worker", "BOHB workers: each runs one NES "
                                                "master at a time, its members served by the NES workers.",
                                                nes_master, array=f"0-{args.bohb_workers - 1}"),
            "workers.sbatch": worker_script(args, args.workers), "submit.sh": submit}


EVALUATE_MASTER = """\
# A run without evaluation.csv was cut short: it is moved aside, and the new master reuses the
# results its workers already wrote to sync/ for the group of runs it was on (same run id, same tasks).
if [ ! -f run/evaluation.csv ]; then
    if [ -e run ]; then mv run "run.incomplete.$(date +%s)"; fi
    python -m experiments.evaluate_env --models models {options}--out run --evaluator files --workers 0 --sync-dir sync
fi
python -m experiments.worker --sync-dir sync --stop
"""


def checked_models(args) -> dict[str, Path]:
    """The model files by label, checked here once: they, --agent and --set must make a valid evaluation."""
    from agents import AGENTS  # torch and the agents: only this layout needs them
    from experiments.evaluation import model_runs

    if args.agent not in AGENTS:
        raise UserError(f"unknown agent '{args.agent}'; choose one of {', '.join(sorted(AGENTS))}")
    paths = find_model_files(args.models)
    model_runs(paths, args.agent, 1, args.seed or 0, args.vary_hp, args.overrides)
    labels = [model_label(path) for path in paths]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise UserError(f"two models are named {twice[0]!r}; give each a distinct file or run directory name")
    return dict(zip(labels, paths))


# What the BOHB workers' NES masters add to every sample's config (see bohb_layout).
BOHB_WORKER_SETS = ("evaluator.backend=files", "evaluator.sync_dir=sync", "evaluator.workers=0")


def checked_space(args, destination: Path) -> str:
    """The space file's text for ``destination``, checked as the BOHB master and workers will read
    it there (a relative base_config becomes absolute: the jobs run in the layout directory), with
    the layout's --set and the workers' evaluator keys."""
    from tuning.space import SearchSpace  # ConfigSpace: only this layout needs it

    data, text = read_yaml(args.space), args.space.read_text()
    space = SearchSpace(data, str(args.space))
    if space.base_config is not None and not _same_base_config(SearchSpace, data, destination, space.base_config):
        data = {**data, "base_config": str(space.base_config.resolve())}
        text = yaml.safe_dump(data, sort_keys=False)
        space = SearchSpace(data, str(args.space))
    defaults = {name: hp.default_value for name, hp in space.configspace(0).items()}
    space.config(defaults, space.budget.max, [*args.overrides, *BOHB_WORKER_SETS])
    return text


def _same_base_config(space_class, data: dict, destination: Path, base: Path) -> bool:
    """Whether the space, read from ``destination``, finds the same base config file."""
    try:
        return space_class(data, str(destination)).base_config.resolve() == base.resolve()
    except UserError:
        return False


def checked_config(args):
    """The nes and sweep layouts' config, checked as their ``learn_env`` jobs will start from it:
    its init model loads, and a relative ``nes.init_model`` becomes absolute (the jobs run in the
    layout directory)."""
    from nes.master import initial_state  # torch: only these layouts need it

    config = config_from_args(args)
    if config.nes.init_model:
        init_model = str(Path(config.nes.init_model).resolve())
        config = dataclasses.replace(config, nes=dataclasses.replace(config.nes, init_model=init_model))
    initial_state(config)
    return config


def evaluate_layout(args) -> dict[str, str]:
    options = f"--agent {shlex.quote(args.agent)} --runs {args.runs} "
    options += "--vary-hp " if args.vary_hp else ""
    options += "--baseline " if args.baseline else ""
    options += f"--seed {args.seed} " if args.seed is not None else ""
    options += "".join(f"--set {shlex.quote(assignment)} " for assignment in args.overrides)
    submit = (SUBMIT_HEADER.format(folders="logs sync") + "master=$(sbatch --parsable master.sbatch)\n"
              "workers=$(sbatch --parsable --dependency=after:${master%%;*} workers.sbatch)\n"
              'echo "evaluation master job ${master%%;*}, worker array ${workers%%;*}; logs in logs/"\n')
    return {"master.sbatch": batch_script(args, "synthenv-evaluate", "The evaluation master: writes the agents' "
                                          "training tasks to sync/ and the rows to run/evaluation.csv.",
                                          EVALUATE_MASTER.format(options=options)),
            "workers.sbatch": worker_script(args, args.workers), "submit.sh": submit}


def sweep_layout(args) -> dict[str, str]:
    body = RESUMABLE_RUN.format(run="seed_$SLURM_ARRAY_TASK_ID", seed="--seed $SLURM_ARRAY_TASK_ID ", backend="")
    body = body.replace(" \n", "\n")
    submit = SUBMIT_HEADER.format(folders="logs") + ("sweep=$(sbatch --parsable sweep.sbatch)\n"
                              'echo "sweep array ${sweep%%;*}; logs in logs/, runs in seed_<n>/"\n')
    return {"sweep.sbatch": batch_script(args, "synthenv-sweep", "One learn_env per seed (the array task id), "
                                         "batched on one core, in seed_<n>/.", body, array=args.seeds),
            "submit.sh": submit}


@exits_cleanly_on_user_error
def main(argv=None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check_args(args)
    if args.layout == "bohb":
        if args.config is not None:
            raise UserError("the bohb layout takes its base config from the space's base_config; "
                            "give --set overrides instead of --config")
        args.idle_exit = args.idle_exit or EvaluatorConfig().worker_idle_exit
        name = run_name(args.space.stem, "slurm_bohb", args.seed or 0)
        space_text = checked_space(args, (args.out if args.out is not None else RESULTS / name) / "space.yaml")
        directory = layout_dir(args.out, name)
        (directory / "space.yaml").write_text(space_text)
    elif args.layout == "evaluate":
        args.idle_exit = args.idle_exit or EvaluatorConfig().worker_idle_exit
        models = checked_models(args)
        directory = layout_dir(args.out, run_name("models", "slurm_evaluate", args.seed or 0))
        (directory / "models").mkdir()
        for label, path in models.items():
            shutil.copyfile(path, directory / "models" / f"{label}.pt")
    else:
        args.config = args.config or DEFAULT_CONFIG
        config = checked_config(args)
        args.idle_exit = args.idle_exit or config.evaluator.worker_idle_exit
        directory = layout_dir(args.out, run_name(config.env, f"slurm_{args.layout}", config.seed))
        save_config(config, directory / "config.yaml")
    layouts = {"nes": nes_layout, "bohb": bohb_layout, "sweep": sweep_layout, "evaluate": evaluate_layout}
    scripts = layouts[args.layout](args)
    scripts["env.sh"] = ENV_SH.format(venv=shlex.quote(str(REPO_ROOT / ".venv" / "bin" / "activate")),
                                      code=shlex.quote(str(REPO_ROOT)))
    for name, text in scripts.items():
        (directory / name).write_text(text)
        if name.endswith((".sh", ".sbatch")) and name != "env.sh":
            (directory / name).chmod(0o755)
    print(f"wrote {', '.join(sorted(scripts))} to {directory}; submit with: bash {directory / 'submit.sh'}",
          file=sys.stderr)
    print(directory)
    return directory


if __name__ == "__main__":
    main()
