"""Learn a synthetic environment with NES (default: a contextual-bandit CartPole-v0 SE, DDQN, this PC).

    python -m experiments.learn_env [--config F] [--set k=v ...] [--seed N] [--evaluator B]
                                    [--workers N] [--sync-dir D] [--scheduler ADDRESS] [--out DIR] [--resume DIR]

Writes a run directory (config.yaml, metrics.csv, latest.pt, best.pt, summary.json, tensorboard/);
prints where the learned env is and the command that evaluates it (or how to go on with an unsolved
run), then the run directory's path as the last line. The progress bar's ``solved_by`` is the mean
real-env test return of the agents trained on the current env against the env's threshold.
"""
import json
import logging
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_csv, atomic_write_text, load_torch_file
from experiments.cli import (DEFAULT_CONFIG, add_config_flags, add_evaluator_flags, config_from_args,
                             evaluator_overrides, make_parser, new_run_dir, run_name, setup_logging)
from nes.config import load_config, save_config
from nes.evaluators import check_evaluator_inputs, make_evaluator
from nes.master import CHECKPOINT_KIND, NESMaster, initial_state, state_from_checkpoint

# What may change when a run is resumed: how it is computed and how long it goes on, not what it is.
RESUMABLE_CHANGES = ("evaluator.", "nes.max_iterations", "nes.quit_when_solved")

log = logging.getLogger("learn_env")


def parse_args(argv):
    parser = make_parser(__doc__)
    add_config_flags(parser, DEFAULT_CONFIG)
    add_evaluator_flags(parser)
    parser.add_argument("--out", type=Path, help="run directory (default: results/<env>__learn_env__<seed>__<time>)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its latest.pt")
    return parser.parse_args(argv)


def load_resume(args):
    """The checkpoint and config of ``--resume DIR``, with only the allowed changes applied."""
    run_dir = args.resume
    latest = run_dir / "latest.pt"
    if not latest.is_file():
        raise UserError(f"nothing to resume in {run_dir}: no latest.pt")
    payload = load_torch_file(latest, "checkpoint")
    if payload.get("kind") != CHECKPOINT_KIND:
        raise UserError(f"{latest} is not a learn_env checkpoint")
    overrides = list(args.overrides) + evaluator_overrides(args)
    overrides += [f"seed={args.seed}"] if args.seed is not None else []
    for assignment in overrides:
        key = assignment.partition("=")[0]
        if not key.startswith(RESUMABLE_CHANGES):
            raise UserError(f"cannot change '{key}' when resuming; only evaluator.*, nes.max_iterations "
                            f"and nes.quit_when_solved may change")
    return run_dir, payload, load_config(payload["config"], overrides)


class TensorBoardHook:
    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def __call__(self, row, state):
        for key in ("mean_score_orig", "max_score", "mean_score", "wall_seconds", "mean_member_seconds"):
            self.writer.add_scalar(f"nes/{key}", row[key], row["iteration"])
        self.writer.flush()


@exits_cleanly_on_user_error
def main(argv=None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args.resume is not None:
        run_dir, payload, config = load_resume(args)
        check_evaluator_inputs(config.evaluator)
        return run(config, payload["run_id"], state_from_checkpoint(payload), run_dir)
    config = config_from_args(args, evaluator_overrides(args))
    check_evaluator_inputs(config.evaluator)
    state = initial_state(config)
    run_id = run_name(config.env, "learn_env", config.seed)
    # A start that fails before the first checkpoint (a bad sync dir, an unreachable scheduler)
    # leaves no run directory behind, so the same command can be run again.
    with new_run_dir(args.out, run_id, resumable=True, started=lambda d: (d / "latest.pt").exists()) as run_dir:
        return run(config, run_id, state, run_dir)


def run(config, run_id: str, state, run_dir: Path) -> Path:
    """Run (or go on with) NES in ``run_dir``; prints and returns the run directory."""
    # The backend starts first: one that cannot (a bad sync dir, an unreachable scheduler) must not
    # have overwritten a resumed run's config.
    evaluator = make_evaluator(config, run_dir)
    save_config(config, run_dir / "config.yaml")
    master = NESMaster(config, evaluator, run_dir, run_id, state)
    bar = tqdm(total=config.nes.max_iterations, initial=master.state.iteration, desc="NES", unit="it",
               dynamic_ncols=True, file=sys.stderr)

    def progress(row, state):
        bar.update(1)
        # What decides "solved": the real-env test return of the agents trained on psi, against the
        # env's threshold. The strategy's own health figures (e.g. sigma_mean, step_norm) follow.
        bar.set_postfix({"solved_by": f"{row['mean_test_return_orig']:.1f}/{master.spec.solved_reward:g}",
                         "best": f"{row['max_score']:.1f}",
                         **{name: f"{row[name]:.3g}" for name in master.strategy.health_names}})

    master.hooks += [lambda row, state: atomic_write_csv(run_dir / "metrics.csv", state.metrics),
                     TensorBoardHook(run_dir), progress]
    try:
        final = master.run()
    finally:
        bar.close()
        evaluator.close()
    summary = {"solved": final.solved, "iterations": final.iteration, "wall_seconds": round(final.elapsed_seconds, 2),
               "best_mean_score": final.best_mean_score if final.solved else None,
               "paths": {"run_dir": str(run_dir), "config": str(run_dir / "config.yaml"),
                         "metrics": str(run_dir / "metrics.csv"), "latest": str(master.latest_path),
                         "best_model": str(master.best_path) if final.solved else None}}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    log.info("solved=%s after %d iterations in %.0f s", final.solved, final.iteration, final.elapsed_seconds)
    print(next_steps(config, final, master.best_path, run_dir))
    print(run_dir)
    return run_dir


def next_steps(config, final, best_path: Path, run_dir: Path) -> str:
    """Where the learned env is and the command that evaluates it, or how to go on with the run."""
    if not final.solved:
        iterations = f"{final.iteration} iteration{'' if final.iteration == 1 else 's'}"
        return (f"not solved after {iterations}; the run is in {run_dir}. Go on with:\n"
                f"  python -m experiments.learn_env --resume {shlex.quote(str(run_dir))} "
                f"--set nes.max_iterations={final.iteration + config.nes.max_iterations}")
    model = shlex.quote(str(best_path))
    if config.learn == "synthetic_env":
        command = f"python -m experiments.evaluate_env {model} --runs 20 --baseline"
    else:
        command = f"python -m experiments.compare_reward_envs --env {config.env} --models {model}"
    return f"solved: the {config.learn.replace('_', ' ')} is {best_path}. Evaluate it with:\n  {command}"


if __name__ == "__main__":
    main()
