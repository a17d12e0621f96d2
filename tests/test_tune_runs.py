"""Real BOHB runs: a live nameserver on 127.0.0.1, real worker processes, tiny NES budgets.

One tune run with 2 worker processes is shared (module fixture); the other tests resume it,
analyse it, and feed its best_config.yaml to learn_env.
"""
import json
import threading

import ConfigSpace as CS
import numpy as np
import pytest
import serpent
import yaml

from hpbandster.core.nameserver import NameServer
from hpbandster.core.worker import Worker

from tests.helpers import REPO_ROOT, last_stdout_line, run_entry_point, set_flags
from tuning.runner import BOHBMaster, load_results

pytestmark = [pytest.mark.slow,  # BOHB with a live nameserver and worker processes
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # hpbandster on ConfigSpace 1.x

SE_SPACE = REPO_ROOT / "default_config" / "bohb" / "cartpole_synthetic_env.yaml"
TINY_SETS = ("nes.population=2", "nes.time_mult=1000", "agents.ddqn.train_episodes=3", "agents.ddqn.test_episodes=2")
# Budgets 1 and 2 NES iterations (eta 2): BOHB iteration 0 runs 2 configs at 1, the better at 2;
# iteration 1 runs 2 configs at 2. Five runs in all.
TINY_BOHB = ("--min-budget", 1, "--max-budget", 2, "--eta", 2, "--ping-interval", 1)
RUNS_IN_TWO_ITERATIONS = 5


def read_results(run_dir):
    return [json.loads(line) for line in (run_dir / "results.json").read_text().splitlines()]


@pytest.fixture(scope="module")
def tune_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "run"
    completed = run_entry_point("experiments.tune", "--space", SE_SPACE, "--iterations", 2, "--workers", 2,
                                *TINY_BOHB, *set_flags(TINY_SETS), "--out", out, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return out, completed


def test_parallel_run_writes_hpbandster_results(tune_run):
    out, completed = tune_run
    assert last_stdout_line(completed) == str(out)
    results = read_results(out)
    assert len(results) == RUNS_IN_TWO_ITERATIONS
    configs = [json.loads(line) for line in (out / "configs.json").read_text().splitlines()]
    assert {tuple(c[0]) for c in configs} == {tuple(r[0]) for r in results}
    for config_id, budget, stamps, result, exception in results:
        assert exception is None and stamps["finished"] >= stamps["started"]
        run = result["info"]["runs"][0]
        # The loss rule: NES iterations to solved, or budget x unsolved_factor (2) if unsolved.
        expected = run["iterations"] if run["solved"] else round(budget) * 2
        assert result["loss"] == expected
        assert (out / "evaluations" / "s0" / f"{'_'.join(map(str, config_id))}_b{budget:g}" / "repeat_0" /
                "metrics.csv").is_file()
    # The first two configs went to the two worker processes at once (neither is the master).
    assert len({r[3]["info"]["worker"] for r in results}) == 2
    assert "BOHB: 100%" in completed.stderr and f"{RUNS_IN_TWO_ITERATIONS}/{RUNS_IN_TWO_ITERATIONS}" in completed.stderr
    saved = yaml.safe_load((out / "space.yaml").read_text())
    assert saved["budget"] == {"maps_to": "nes.max_iterations", "min": 1.0, "max": 2.0, "eta": 2.0}
    assert json.loads((out / "tune.json").read_text())["overrides"] == list(TINY_SETS)


def test_analyze_round_trips_into_learn_env(tune_run, tmp_path):
    out, _ = tune_run
    completed = run_entry_point("experiments.tune", "--analyze", out, timeout=120)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((out / "analysis.json").read_text())
    assert "incumbent" in completed.stdout and "loss per budget" in completed.stdout
    best = min((r for r in read_results(out) if r[1] == 2.0), key=lambda r: r[3]["loss"])
    assert summary["losses_per_budget"]["2"] == best[3]["loss"]
    assert (out / "losses.png").stat().st_size > 5000
    best_config = yaml.safe_load((out / "best_config.yaml").read_text())
    for key, value in summary["values"].items():  # the incumbent's values (gamma as 1 - x) are in the file
        node = best_config
        for part in key.split("."):
            node = node[part]
        assert node == pytest.approx(value), key
    assert best_config["nes"]["max_iterations"] == 2 and best_config["nes"]["population"] == 2
    run = run_entry_point("experiments.learn_env", "--config", out / "best_config.yaml", "--out", tmp_path / "le",
                          timeout=200)
    assert run.returncode == 0, run.stderr
    assert yaml.safe_load((tmp_path / "le" / "config.yaml").read_text()) == best_config


def test_resume_warm_starts_and_keeps_earlier_results(tune_run):
    out, _ = tune_run
    before = read_results(out)
    completed = run_entry_point("experiments.tune", "--resume", out, "--iterations", 1, "--ping-interval", 1,
                                timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert read_results(out / "earlier" / "0") == before
    assert len(read_results(out)) == 3  # iteration 0 of the new session: 2 configs at budget 1, 1 at 2
    merged = load_results(out)
    assert len(merged.get_all_runs()) == RUNS_IN_TWO_ITERATIONS + 3
    assert json.loads((out / "tune.json").read_text())["session"] == 1


class NumpyWorker(Worker):
    """Loss and info as numpy scalars: the values that hang Pyro's serpent serializer under numpy 2
    without the fix in tuning/compat.py."""

    def compute(self, config_id, config, budget, working_directory):
        assert type(config["flag"]) is bool  # sent as a plain bool, not np.bool
        return {"loss": np.float64(config["x"] + 1 / budget), "info": {"n": np.int64(3), "f": np.float32(0.5)}}


def test_numpy_scalars_cross_pyro_with_a_live_nameserver(tmp_path):
    assert serpent.loads(serpent.dumps({"a": np.float64(0.25), "b": np.True_})) == {"a": 0.25, "b": True}
    space = CS.ConfigurationSpace(seed=3)
    space.add(CS.UniformFloatHyperparameter("x", 0.0, 1.0))
    space.add(CS.CategoricalHyperparameter("flag", [False, True]))
    nameserver = NameServer(run_id="np", host="127.0.0.1", port=0)
    host, port = nameserver.start()
    master = None
    try:
        NumpyWorker(run_id="np", nameserver=host, nameserver_port=port, host="127.0.0.1").run(background=True)
        master = BOHBMaster(space, 3, 1, 9, run_id="np", nameserver=host, nameserver_port=port, host="127.0.0.1",
                            working_directory=str(tmp_path), ping_interval=1)
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(result=master.run(n_iterations=2)), daemon=True)
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), "BOHB hung: a numpy value did not cross Pyro"
        runs = outcome["result"].get_all_runs()
        assert len(runs) == master.total_runs(2) == 13 + 4  # brackets (9, 3, 1) and (3, 1)
        assert all(isinstance(r.loss, float) and r.info == {"n": 3, "f": 0.5} for r in runs)
    finally:
        if master is not None:
            master.shutdown(shutdown_workers=True)
        nameserver.shutdown()
