"""What benchmark_learning measures on its learned SEs, and running it with results kept on disk.

Each ``Evaluation`` trains fresh agents only on every solved SE and tests them on the real env
(``experiments.evaluation``), or trains the real-env baseline, or trains a Stable-Baselines3 agent
through gymnasium (``experiments.sb3_transfer``). Its rows (``experiments.evaluation.CSV_COLUMNS``)
go to DIR/evaluations/<name>.json together with what they were made from, so a benchmark started
again with the same seeds and runs reuses them.

Hyperparameters, for an env whose default_config prefix is P (``cartpole`` for CartPole-v0):

- DDQN: the SE config's own ``agents.ddqn`` (what NES trained with), fixed and varied;
- Dueling DDQN, discrete TD3 and PPO, varied: on MDP SEs ``P_se_transfer.yaml``'s section for
  the agent where it has one (the paper's values for agents on SEs), else the SE config's; on bandit
  SEs always the SE config's (the paper's values are for multi-step episodes; the bandit configs
  hold sections set for one-step ones);
- the baseline, DDQN on the real env: ``P_ddqn.yaml`` (tuned for the real env) where it exists,
  else the SE config's ``agents.ddqn``; it stops by the paper's real-env rule, as
  ``evaluate_env --baseline`` does.
"""
import dataclasses
import json
import logging
from pathlib import Path

from common.config_files import read_yaml
from experiments import sb3_transfer
from experiments.cli import REPO_ROOT, agent_config_overrides
from experiments.evaluation import REAL, evaluate_runs, model_runs
from nes.config import EvaluatorConfig
from nes.model_files import model_label

log = logging.getLogger(__name__)
AGENT_SEED = 0  # seed of the fresh agents (evaluate_env's default): every SE gets the same agent seeds
TRANSFER_AGENTS = ("dueling_ddqn", "ppo", "td3_discrete")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    name: str                    # the CSV's ``evaluation`` and the file name of its rows
    agent: str                   # one of ours, or sb3_transfer's algorithm for ``library == "sb3"``
    vary_hp: bool = False
    hp_file: Path | None = None  # its ``agents.<agent>`` section replaces the SE config's
    real_env: bool = False       # the baseline: trained on the real env
    library: str = "ours"        # "ours" or "sb3"


def config_file(env: str, suffix: str) -> Path | None:
    """default_config/<prefix>_<suffix>.yaml for ``env`` (CartPole-v0 -> cartpole_...), if it exists."""
    path = REPO_ROOT / "default_config" / f"{env.split('-')[0].lower()}_{suffix}.yaml"
    return path if path.is_file() else None


def has_agent_section(path: Path | None, agent: str) -> bool:
    return path is not None and isinstance((read_yaml(path).get("agents") or {}).get(agent), dict)


def planned_evaluations(env: str, with_sb3: bool, se_kind: str = "mdp") -> list[Evaluation]:
    """What is measured on ``env``'s SEs of ``se_kind`` (synthetic_env.kind), in order."""
    transfer = config_file(env, "se_transfer") if se_kind == "mdp" else None
    real = config_file(env, "ddqn")
    planned = [Evaluation("ddqn_fixed", "ddqn"), Evaluation("ddqn_varied", "ddqn", vary_hp=True),
               Evaluation("baseline_ddqn_real_env", "ddqn", hp_file=real if has_agent_section(real, "ddqn") else None,
                          real_env=True)]
    if with_sb3:
        planned += [Evaluation(f"sb3_{algorithm}", algorithm, library="sb3")
                    for algorithm in sb3_transfer.algorithms_for(env)]
    # The transfer agents last, the costliest (discrete TD3's 510-unit layers) at the end, so a
    # benchmark cut short has the rest.
    planned += [Evaluation(f"{agent}_varied", agent, vary_hp=True,
                           hp_file=transfer if has_agent_section(transfer, agent) else None)
                for agent in TRANSFER_AGENTS]
    return planned


def evaluate(evaluation: Evaluation, models: dict[int, Path], runs: int, out: Path, evaluator: EvaluatorConfig,
             sb3_steps: int, jobs: int, agent_sets: list[str] = ()) -> list[dict]:
    """``evaluation``'s rows, each with the ``se_seed`` (learning seed) of its SE (None on the real
    env): read from DIR/evaluations when they were made from the same SEs and settings.
    ``agent_sets`` (``--set`` assignments) override the configs of our agents on the SEs."""
    agent_sets = [] if evaluation.real_env or evaluation.library == "sb3" else list(agent_sets)
    made_from = {"models": {str(seed): str(path) for seed, path in sorted(models.items())}, "runs": runs,
                 "agent_seed": AGENT_SEED, "evaluation": {k: str(v) for k, v in dataclasses.asdict(evaluation).items()},
                 **({"sb3_steps": sb3_steps} if evaluation.library == "sb3" else {}),
                 **({"agent_sets": agent_sets} if agent_sets else {})}
    path = out / "evaluations" / f"{evaluation.name}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved["made_from"] == made_from:
            log.info("%s: reusing %d rows from %s", evaluation.name, len(saved["rows"]), path)
            return saved["rows"]
    log.info("%s: %d runs %s", evaluation.name, runs,
             "on the real env" if evaluation.real_env else f"on each of {len(models)} SEs")
    rows = _train(evaluation, models, runs, out, evaluator, sb3_steps, jobs, agent_sets)
    seed_of = {model_label(path): seed for seed, path in models.items()}
    rows = [{**row, "se_seed": seed_of.get(row["model"])} for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"made_from": made_from, "rows": rows}, indent=1) + "\n")
    return rows


def _train(evaluation: Evaluation, models: dict[int, Path], runs: int, out: Path, evaluator: EvaluatorConfig,
           sb3_steps: int, jobs: int, agent_sets: list[str]) -> list[dict]:
    paths = [models[seed] for seed in sorted(models)]
    if evaluation.library == "sb3":
        return sb3_transfer.train_on_ses(paths, evaluation.agent, runs, AGENT_SEED, sb3_steps, jobs)
    overrides = agent_config_overrides(evaluation.hp_file, [evaluation.agent]) + agent_sets
    planned = model_runs(paths, evaluation.agent, runs, AGENT_SEED, evaluation.vary_hp, overrides,
                         baseline=evaluation.real_env)
    if evaluation.real_env:
        planned = [run for run in planned if run.model == REAL]
    return evaluate_runs(planned, evaluator, out / "evaluations" / evaluation.name)
