"""A worker of the ``files`` backend: serves every master whose tasks appear in a sync dir (NES
members of ``learn_env``, agent trainings of ``evaluate_env``).

    python -m experiments.worker --sync-dir D [--idle-exit S] [--threads T] [--batch N] [--name NAME]
    python -m experiments.worker --sync-dir D --stop

Start any number of them (by hand, or as a SLURM array) next to masters run with
``--evaluator files --sync-dir D``. A worker needs no config: it reads each run's config from the
sync dir. It exits after ``--idle-exit`` seconds without a task, or when told: ``--stop`` tells
every worker of D started before it to exit.
"""
import logging
import sys
from pathlib import Path

import torch

from common.errors import UserError, exits_cleanly_on_user_error
from experiments.cli import check_plain_name, finite_float, make_parser, setup_logging
from nes.config import EvaluatorConfig
from nes.file_worker import FileWorker, check_sync_dir, request_stop

log = logging.getLogger("worker")


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("--sync-dir", type=Path, required=True, help="the sync directory shared with the masters")
    parser.add_argument("--idle-exit", type=finite_float, default=EvaluatorConfig().worker_idle_exit,
                        help="exit after this many seconds without a task (default %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--batch", type=int, default=0,
                        help="claim at most this many members at once (default 0: the iteration's members "
                             "over the live workers)")
    parser.add_argument("--name", help="worker name, unique in the sync dir (default: <host>-<pid>)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="also exit when the process that started this one ends (a master's local workers)")
    parser.add_argument("--stop", action="store_true", help="tell every running worker of --sync-dir to exit, and exit")
    args = parser.parse_args(argv)
    if args.idle_exit < 0 or args.threads < 1 or args.batch < 0:
        raise UserError("--idle-exit and --batch must be >= 0, --threads >= 1")
    if args.name is not None:
        check_plain_name(args.name, "--name")
    return args


@exits_cleanly_on_user_error
def main(argv=None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    sync_dir = check_sync_dir(args.sync_dir, create=False)
    if args.stop:
        log.info("told the workers of %s to stop (%s)", sync_dir, request_stop(sync_dir))
        return
    torch.set_num_threads(args.threads)
    worker = FileWorker(sync_dir, args.name, args.idle_exit, args.batch, args.exit_with_parent)
    log.info("worker %s serves %s", worker.name, sync_dir)
    reason = worker.run()
    log.info("worker %s exits: %s; answered %d tasks", worker.name, reason, worker.answered)


if __name__ == "__main__":
    main()
