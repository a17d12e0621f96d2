"""Put a learn_env run's SE or RN into the model zoo (``zoo/``), with how it was made.

    python -m experiments.zoo add RUN_DIR --name NAME --command "the learn_env command" [--note TEXT] [--zoo zoo]
                                          [--run-only] [--replace]

Copies the run's model into ``zoo/<env>/<NAME>.pt`` (its best.pt: the best solved model; a run
without one gives the psi of its latest.pt, marked unsolved), its config.yaml and metrics.csv into
``zoo/nes_runs/<NAME>/`` (what the success and step_size figures read), and records an entry in
``zoo/manifest.json``: file, kind, env, reward type (an RN) or ``synthetic_env_kind`` (an SE:
mdp or bandit), the command and seed that made it, the config, and its score (the mean real-env
test return of the agents trained on it during NES, the iteration, solved or not).

``--run-only`` keeps only the NES run (config, metrics; listed under ``runs`` in the manifest), not
its model: an unsolved SE would drag down every evaluation of the zoo's SEs, but the success
figure must count the runs that never solved.

NAME is a plain file stem: letters, digits, ``_``, ``-`` and ``.``, starting with a letter or digit.
A name the zoo already holds is refused unless ``--replace`` is given (then its old model file, NES
run and manifest entry are replaced). Everything is checked before anything is written.
"""
import csv
import json
import shutil
import sys
from pathlib import Path

import torch

from common.errors import UserError, exits_cleanly_on_user_error
from common.files import atomic_write_text, load_torch_file
from envs.real import real_env_spec
from experiments.cli import PLAIN_NAME, PLAIN_NAME_RULE, REPO_ROOT, make_parser
from experiments.runs import model_file, solved_at
from nes.learned_envs import initial_nets, nets_from_psi, psi_size, save_learned_env
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
    parser.add_argument("--replace", action="store_true",
                        help="replace an entry of the same name (its model, its NES run and its manifest entry)")
    return parser.parse_args(argv)


def check_name(name: str) -> None:
    """A name becomes a file stem and a folder name inside the zoo: nothing that could leave it or hide."""
    if not PLAIN_NAME.fullmatch(name):
        raise UserError(f"--name {name!r} is not a plain file stem ({PLAIN_NAME_RULE})")


def check_zoo_dir(zoo: Path) -> None:
    if zoo.exists() and not zoo.is_dir():
        raise UserError(f"--zoo {zoo} is not a directory")


def read_manifest(path: Path) -> dict:
    if not path.exists():
        return {"models": []}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"zoo manifest {path} cannot be read as JSON") from None
    listings = [manifest.get(listing, []) for listing in ("models", "runs")] if isinstance(manifest, dict) else [None]
    if not all(isinstance(entries, list) and all(isinstance(e, dict) and "name" in e for e in entries)
               for entries in listings):
        raise UserError(f"zoo manifest {path} is not a zoo manifest (lists 'models' and 'runs' of named entries)")
    return manifest


def entries_named(manifest: dict, name: str) -> list[dict]:
    return [e for listing in ("models", "runs") for e in manifest.get(listing, []) if e["name"] == name]


def check_not_taken(zoo: Path, manifest: dict, name: str, env: str) -> None:
    """Without --replace, a name already in the zoo (its manifest, its model or its run folder) is refused."""
    taken = ["its manifest entry"] if entries_named(manifest, name) else []
    taken += [str(path) for path in (zoo / env / f"{name}.pt", zoo / "nes_runs" / name) if path.exists()]
    if taken:
        raise UserError(f"the zoo already holds {name!r}: {'; '.join(taken)}; pass --replace to replace it")


def remove_replaced_models(zoo: Path, manifest: dict, name: str, keep: Path | None) -> None:
    """--replace: the old entry's model file goes too, unless the new one takes its place."""
    for entry in entries_named(manifest, name):
        old = (zoo / entry["file"]).resolve() if isinstance(entry.get("file"), str) else None
        if old is not None and old.is_relative_to(zoo.resolve()) and old != (keep and keep.resolve()):
            old.unlink(missing_ok=True)


def metrics_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise UserError(f"run directory {run} has no finished NES iteration in metrics.csv")
    return rows


def run_model(run: Path, config, first_solved, iterations: int):
    """The run's model, checked but not written yet: (write(target), its score fields)."""
    if (run / "best.pt").is_file():
        payload = load_torch_file(run / "best.pt", "model file")
        load_model(run / "best.pt")  # a one-line error if it is not a model that loads
        score = {"source": "best.pt", "solved": True, "iteration": payload.get("iteration"),
                 "nes_mean_test_return": payload.get("mean_test_return_orig", payload.get("mean_score_orig"))}
        return (lambda target: shutil.copyfile(run / "best.pt", target)), score
    checkpoint = load_torch_file(run / "latest.pt", "checkpoint")
    template = initial_nets(config, real_env_spec(config.env), 0)
    psi = checkpoint.get("psi")
    if not isinstance(psi, torch.Tensor) or tuple(psi.shape) != (psi_size(config, template),):
        raise UserError(f"checkpoint {run / 'latest.pt'} has no psi of the {psi_size(config, template)} parameters "
                        f"its config's networks have")
    nets = nets_from_psi(config, template, psi[None].float())
    returns = [float(row["mean_test_return_orig"]) for row in metrics_rows(run)]
    score = {"source": "latest.pt psi (after the last iteration; never solved)", "solved": first_solved is not None,
             "iteration": iterations, "nes_mean_test_return": returns[-1], "nes_best_mean_test_return": max(returns)}
    extra = {"iteration": checkpoint.get("iteration", iterations)}
    return (lambda target: save_learned_env(target, config, nets, extra)), score


def se_kind(config) -> dict:
    """An SE's manifest field saying which kind it is (an MDP SE or a bandit SE); nothing for an RN."""
    return {"synthetic_env_kind": config.synthetic_env.kind} if config.learn == "synthetic_env" else {}


@exits_cleanly_on_user_error
def main(argv=None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check_name(args.name)
    check_zoo_dir(args.zoo)
    if not (args.run / "config.yaml").is_file():
        raise UserError(f"{args.run} is not a learn_env run directory (no config.yaml)")
    model_file(args.run)  # a one-line error if it has neither best.pt nor latest.pt
    manifest_path = args.zoo / "manifest.json"
    manifest = read_manifest(manifest_path)
    config, first_solved, iterations = solved_at(args.run)
    if not args.replace:
        check_not_taken(args.zoo, manifest, args.name, config.env)
    # Everything is checked before the first file is written.
    write_model, score = (None, None) if args.run_only else run_model(args.run, config, first_solved, iterations)
    runs_dir = args.zoo / "nes_runs" / args.name
    made = {"command": args.command, "seed": config.seed, "config": str((runs_dir / "config.yaml").relative_to(args.zoo)),
            "nes_run": str(runs_dir.relative_to(args.zoo))}
    target = None if args.run_only else args.zoo / config.env / f"{args.name}.pt"
    if args.replace:
        remove_replaced_models(args.zoo, manifest, args.name, keep=target)
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "metrics.csv"):
        shutil.copyfile(args.run / name, runs_dir / name)
    if args.run_only:
        listing = "runs"
        entry = {"name": args.name, "kind": config.learn, **se_kind(config), "env": config.env, "agent": config.agent,
                 **made, "iterations": iterations, "solved_at_iteration": first_solved}
    else:
        listing = "models"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_model(target)
        kind, nets, loaded = load_model(target)
        entry = {"name": args.name, "file": str(target.relative_to(args.zoo)), "kind": kind, **se_kind(loaded),
                 "env": loaded.env, "reward_type": getattr(nets, "reward_type", None), "agent": loaded.agent, **made,
                 "score": score, "parameters": int(nets.num_params), "bytes": target.stat().st_size}
    if args.note:
        entry["note"] = args.note
    for other in ("models", "runs"):  # a replaced name leaves both listings
        manifest[other] = [m for m in manifest.get(other, []) if m["name"] != args.name]
    manifest[listing] = manifest[listing] + [entry]
    manifest[listing].sort(key=lambda m: (m["env"], m["name"]))
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
