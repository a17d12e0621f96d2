"""Tune NES, agent and environment hyperparameters with BOHB (hpbandster).

    python -m experiments.tune --space F --iterations N [--workers K] [--min-budget a --max-budget b --eta e]
                               [--out DIR] [--resume DIR] [--set k=v ...] [--seed S]
    python -m experiments.tune --space F --iterations N --out DIR --workers 0 --external-workers K
    python -m experiments.tune --worker --out DIR [--set evaluator.backend=...]
    python -m experiments.tune --analyze DIR

Modes: --workers 1 (default) runs one worker in this process; --workers K >= 2 starts K worker
processes; --workers 0 --external-workers K waits for K workers started elsewhere (SLURM) with
--worker --out DIR. Each BOHB run is a whole NES run (or agent training) scored by the space's
loss (default_config/bohb/*.yaml). Writes configs.json and results.json (hpbandster's result
logger), space.yaml, base_config.yaml, tune.json, evaluations/, and at the end best_config.yaml,
losses.png and analysis.json; prints the run directory last.
"""
import json
import logging
import socket
import sys
from pathlib import Path

from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import finite_float, fresh_run_dir, make_parser, run_name, setup_logging
from tuning.analysis import analyze, format_summary
from tuning.runner import SessionStopped, TuneSettings, run_session
from tuning.space import SearchSpace
from tuning.worker import SPACE_FILE, TUNE_FILE, run_worker

RESUMABLE_CHANGES = ("evaluator.",)

log = logging.getLogger("tune")


def parse_args(argv):
    parser = make_parser(__doc__)
    parser.add_argument("--space", type=Path, help="search-space file (default_config/bohb/<name>.yaml)")
    parser.add_argument("--iterations", type=int, help="BOHB iterations (successive-halving brackets)")
    parser.add_argument("--workers", type=int, default=1,
                        help="1: one worker in this process; K >= 2: K worker processes; 0: external workers only")
    parser.add_argument("--external-workers", type=int, default=0,
                        help="with --workers 0: wait for this many workers started with --worker (SLURM)")
    parser.add_argument("--min-budget", type=finite_float, help="smallest budget (default: the space's)")
    parser.add_argument("--max-budget", type=finite_float, help="largest budget (default: the space's)")
    parser.add_argument("--eta", type=finite_float, help="successive-halving factor (default: the space's)")
    parser.add_argument("--out", type=Path, help="run directory (default: results/<space>__tune__<seed>__<time>)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the tune run in DIR, warm-started")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key in every evaluation, e.g. --set nes.population=8")
    parser.add_argument("--seed", type=int, default=0, help="seed of BOHB's sampling (evaluations use the config's)")
    parser.add_argument("--ping-interval", type=int, default=10,
                        help="seconds between the master's checks for new and dead workers")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address the nameserver and master listen on (a reachable one for multi-node runs)")
    parser.add_argument("--worker", action="store_true", help="be one BOHB worker of the run in --out")
    parser.add_argument("--wait", type=finite_float, default=300, help="--worker: seconds to wait for the master")
    parser.add_argument("--analyze", type=Path, metavar="DIR", help="print the incumbent of DIR and write its files")
    return parser.parse_args(argv)


def check_counts(args) -> None:
    if args.iterations is None or args.iterations < 1:
        raise UserError("--iterations must be given and >= 1")
    if args.workers < 0 or args.external_workers < 0:
        raise UserError("--workers and --external-workers must be >= 0")
    if args.workers == 0 and args.external_workers == 0:
        raise UserError("--workers 0 needs --external-workers K >= 1 (workers started with --worker)")
    if args.workers > 0 and args.external_workers > 0:
        raise UserError("--external-workers needs --workers 0")
    if args.ping_interval < 1:
        raise UserError("--ping-interval must be >= 1 second")


def check_host(host: str) -> None:
    """The nameserver and master listen on ``host``: an address this machine cannot listen on is a
    one-line error before the run directory is made, not a socket traceback after."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, 0))
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UserError(f"--host {host!r}: this machine cannot listen there ({reason})") from None


def fresh_space(args) -> SearchSpace:
    if args.space is None:
        raise UserError("--space is required (a file in default_config/bohb/)")
    return SearchSpace.from_file(args.space).with_budgets(args.min_budget, args.max_budget, args.eta)


def resumed_space(args) -> tuple[SearchSpace, list[str]]:
    """The space and overrides of the run in ``--resume DIR``; a different space is refused."""
    run_dir = args.resume
    if not (run_dir / TUNE_FILE).is_file() or not (run_dir / SPACE_FILE).is_file():
        raise UserError(f"nothing to resume in {run_dir}: no {TUNE_FILE} / {SPACE_FILE}")
    saved = SearchSpace.from_file(run_dir / SPACE_FILE)
    if args.space is not None and SearchSpace.from_file(args.space).identity() != saved.identity():
        raise UserError(f"{run_dir} was tuned with another space than {args.space}")
    for flag, value, old in (("--min-budget", args.min_budget, saved.budget.min),
                             ("--max-budget", args.max_budget, saved.budget.max), ("--eta", args.eta, saved.budget.eta)):
        if value is not None and value != old:
            raise UserError(f"cannot change {flag} when resuming ({old} in {run_dir})")
    for assignment in args.overrides:
        if not assignment.partition("=")[0].startswith(RESUMABLE_CHANGES):
            raise UserError(f"cannot change '{assignment.partition('=')[0]}' when resuming; only evaluator.* may change")
    earlier = json.loads((run_dir / TUNE_FILE).read_text())["overrides"]
    return saved, earlier + list(args.overrides)


@exits_cleanly_on_user_error
def main(argv=None) -> Path | None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    for name in ("hpbandster", "tuning.hpbandster", "tuning.hpbandster_worker"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.analyze is not None:
        print(format_summary(analyze(args.analyze)))
        return args.analyze
    if args.worker:
        if args.out is None:
            raise UserError("--worker needs --out DIR, the tune run directory")
        if args.wait < 0:
            raise UserError(f"--wait must be >= 0 seconds, got {args.wait:g}")
        run_worker(args.out, args.overrides, args.wait)
        return None
    check_counts(args)
    check_host(args.host)
    if args.resume is not None:
        space, overrides = resumed_space(args)
        run_dir = args.resume
    else:
        space = fresh_space(args)
        overrides = list(args.overrides)
        # Every sample's config is checked once here, so a bad --set fails before any run starts.
        space.config({name: hp.default_value for name, hp in space.configspace(0).items()}, space.budget.max, overrides)
        run_dir = fresh_run_dir(args.out, run_name(args.space.stem, "tune", args.seed), resumable=True)
    settings = TuneSettings(iterations=args.iterations, workers=args.workers, external_workers=args.external_workers,
                            seed=args.seed, ping_interval=args.ping_interval, host=args.host, overrides=overrides)
    try:
        run_session(space, run_dir, settings)
    except SessionStopped as stopped:
        log.error("%s", stopped)
        sys.exit(1)
    try:
        print(format_summary(analyze(run_dir)))
    except UserError as error:
        log.warning("no incumbent: %s", error)
    print(run_dir)
    return run_dir


if __name__ == "__main__":
    main()
