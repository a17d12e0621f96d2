"""Put a learn_env run's SE or RN into the model zoo (``zoo/``), with how it was made.

    python -m experiments.zoo add RUN_DIR --name NAME --command "the learn_env command" [--note TEXT] [--zoo zoo]
                                          [--run-only]

Copies the run's model into ``zoo/<env>/<NAME>.pt`` (its best.pt: the best solved model; a run
without one gives the psi of its latest.pt, marked unsolved), its config.yaml and metrics.csv into
``zoo/nes_runs/<NAME>/`` (what the success and step_size figures read), and records an entry in
``zoo/manifest.json``: file, kind, env, reward type, the command and seed that made it, the
config, and its score (the mean real-env test return of the agents trained on it during NES, the
iteration, solved or not).

``--run-only`` keeps only the NES run (config, metrics; listed under ``runs`` in the manifest), not
its model: an unsolved SE would drag down every evaluation of the zoo's SEs, but the success
figure must count the runs that never solved.
"""
import json
import shutil
import sys
from pathlib import Path

from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_text, load_torch_file
from envs.real import real_env_spec
from experiments.cli import REPO_ROOT, make_parser
from experiments.compare_reward_envs import model_file
from experiments.figures.success import solved_at
from nes.learned_envs import initial_nets, save_learned_env
from nes.model_files import load_model


def parse_args(argv):
    parser = make_parser(__doc__, with_config=False)
    parser.add_argument("action", choices=("add",), help="add: put a run's model into the zoo")
    parser.add_argument("run", type=Path, help="a learn_env run directory")
    parser.add_argument("--name", required=True, help="the model's name in the zoo (file stem)")
    parser.add_argument("--command", required=True, help="the command that made the run (for the manifest)")
    parser.add_argument("--note", help="anything else a reader should know (e.g. the run was stopped early)")
    parser.add_argument("--zoo", type=Path, default=REPO_ROOT / "zoo", help="zoo directory (default: zoo/)")
    parser.add_argument("--run-only", action="store_true",
                        help="keep only the NES run's config and metrics (for the success figure), not its model")
    return parser.parse_args(argv)


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {"models": []}


def model_from_run(run: Path, target: Path) -> dict:
    """Write the run's model to ``target``; its score fields."""
    config, first_solved, iterations = solved_at(run)
    metrics = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    column = metrics[0].index("mean_test_return_orig")
    if (run / "best.pt").is_file():
        payload = load_torch_file(run / "best.pt", "model file")
        shutil.copyfile(run / "best.pt", target)
        return {"source": "best.pt", "solved": True, "iteration": payload.get("iteration"),
                "nes_mean_test_return": payload.get("mean_test_return_orig", payload.get("mean_score_orig"))}
    checkpoint = load_torch_file(run / "latest.pt", "checkpoint")
    template = initial_nets(config, real_env_spec(config.env), 0)
    save_learned_env(target, config, template.with_flat(checkpoint["psi"][None].float()),
                     {"iteration": checkpoint["iteration"]})
    best = max(float(row[column]) for row in metrics[1:])
    return {"source": "latest.pt psi (after the last iteration; never solved)", "solved": first_solved is not None,
            "iteration": iterations, "nes_mean_test_return": float(metrics[-1][column]),
            "nes_best_mean_test_return": best}


@exits_cleanly_on_user_error
def main(argv=None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not (args.run / "config.yaml").is_file():
        raise UserError(f"{args.run} is not a learn_env run directory (no config.yaml)")
    model_file(args.run)  # a one-line error if it has neither best.pt nor latest.pt
    manifest_path = args.zoo / "manifest.json"
    manifest = read_manifest(manifest_path)
    config, first_solved, iterations = solved_at(args.run)
    runs_dir = args.zoo / "nes_runs" / args.name
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "metrics.csv"):
        shutil.copyfile(args.run / name, runs_dir / name)
    made = {"command": args.command, "seed": config.seed, "config": str((runs_dir / "config.yaml").relative_to(args.zoo)),
            "nes_run": str(runs_dir.relative_to(args.zoo))}
    if args.run_only:
        listing = "runs"
        entry = {"name": args.name, "kind": config.learn, "env": config.env, "agent": config.agent, **made,
                 "iterations": iterations, "solved_at_iteration": first_solved}
    else:
        listing = "models"
        target = args.zoo / config.env / f"{args.name}.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        score = model_from_run(args.run, target)
        kind, nets, loaded = load_model(target)
        entry = {"name": args.name, "file": str(target.relative_to(args.zoo)), "kind": kind, "env": loaded.env,
                 "reward_type": getattr(nets, "reward_type", None), "agent": loaded.agent, **made, "score": score,
                 "parameters": int(nets.num_params), "bytes": target.stat().st_size}
    if args.note:
        entry["note"] = args.note
    manifest[listing] = [m for m in manifest.get(listing, []) if m["name"] != args.name] + [entry]
    manifest[listing].sort(key=lambda m: (m["env"], m["name"]))
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
