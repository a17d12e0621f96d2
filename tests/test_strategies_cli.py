"""The strategies at the command line: --help lists them and their sections, bad strategy input is one
line with exit code 2 and writes nothing, and the benchmark entry point runs end to end (slow)."""
import json

import pytest

from experiments import benchmark_strategies, learn_env
from nes.config import load_config
from nes.strategies import STRATEGIES
from tests.helpers import REPO_ROOT, run_entry_point


def test_help_lists_every_strategy_and_its_settings(capsys):
    with pytest.raises(SystemExit) as exit_:
        learn_env.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "paper_nes, openai_es, pgpe, snes, cma_es" in out
    for name, cls in STRATEGIES.items():
        if cls.Config is not None:
            assert f"nes.{name}.sigma" in out


@pytest.mark.parametrize("sets, message", [
    (["nes.strategy=es"], "config key 'nes.strategy' is 'es'"),
    (["nes.pgpe.sigma_init=0.2"], "nes.pgpe.sigma_init is set but nes.strategy is cma_es"),
    (["nes.strategy=snes", "nes.snes.sigma_init=0"], "'nes.snes.sigma_init' is 0.0; it must be > 0.0"),
    (["nes.strategy=cma_es", "nes.population=2"], "too small for nes.strategy cma_es"),
    (["nes.strategy=openai_es", "nes.population=7"], "nes.population 7 is odd"),
])
def test_bad_strategy_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, sets, message):
    flags = [flag for assignment in sets for flag in ("--set", assignment)]
    with pytest.raises(SystemExit) as exit_:
        learn_env.main([*flags, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--strategies", "paper_nes,es"], "--strategies: unknown 'es'"),
    (["--problems", "mountaincar"], "--problems: unknown 'mountaincar'"),
    (["--strategies", "snes", "--set", "nes.pgpe.max_speed=1"], "nes.pgpe.max_speed is set but nes.strategy is snes"),
    (["--seeds", "0"], "--seeds must be >= 1"),
])
def test_bad_benchmark_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        benchmark_strategies.main([*args, "--out", str(tmp_path / "bench")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bench").exists()


def test_populations_give_every_strategy_the_same_trainings_per_iteration():
    config = benchmark_strategies.run_config("cartpole_se", "paper_nes", 0, benchmark_strategies.parse_args([]))
    assert {name: benchmark_strategies.population_for(name, 48, config) for name in STRATEGIES} == {
        "paper_nes": 16, "openai_es": 32, "pgpe": 32, "snes": 24, "cma_es": 24}


def test_the_bandit_problem_gives_cma_es_the_default_configs_population():
    args = benchmark_strategies.parse_args(["--problems", "cartpole_bandit_se"])
    config = benchmark_strategies.run_config("cartpole_bandit_se", "cma_es", 0, args)
    default = load_config(REPO_ROOT / "default_config" / "cartpole_bandit_se.yaml", [])
    assert config.synthetic_env.kind == "bandit" and config.nes.population == default.nes.population == 32


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end(tmp_path):
    completed = run_entry_point("experiments.benchmark_strategies", "--problems", "cliffwalking_rn",
                                "--strategies", "paper_nes,pgpe,cma_es", "--seeds", "1", "--iterations", "1",
                                "--trainings", "8", "--set", "agents.ql.train_episodes=5", "--out", tmp_path / "b")
    assert completed.returncode == 0, completed.stderr
    rows = [json.loads(line) for line in (tmp_path / "b" / "runs.jsonl").read_text().splitlines()]
    assert [(r["strategy"], r["population"], r["iterations"]) for r in rows] == [
        ("paper_nes", 2, 1), ("pgpe", 4, 1), ("cma_es", 4, 1)]
    assert "| cliffwalking_rn | cma_es | 4 | 0/1 |" in (tmp_path / "b" / "table.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pgpe", "cma_es"])
def test_a_learn_env_run_resumed_with_resume_ends_bit_identical(tmp_path, name):
    import torch

    from tests.helpers import TINY_OVERRIDES, mdp_se_flags, metrics_without_wall_clock

    sets = mdp_se_flags([*TINY_OVERRIDES, f"nes.strategy={name}", "nes.population=4", "nes.quit_when_solved=false"])
    whole = run_entry_point("experiments.learn_env", *sets, "--set", "nes.max_iterations=3", "--out", tmp_path / "w")
    cut = run_entry_point("experiments.learn_env", *sets, "--out", tmp_path / "c")
    resumed = run_entry_point("experiments.learn_env", "--resume", tmp_path / "c", "--set", "nes.max_iterations=3")
    assert whole.returncode == cut.returncode == resumed.returncode == 0, resumed.stderr
    ends = [torch.load(tmp_path / d / "latest.pt", weights_only=True) for d in ("w", "c")]
    assert ends[0]["strategy"] == ends[1]["strategy"] == name and ends[1]["iteration"] == 3
    for key, value in ends[0]["search_state"].items():
        other = ends[1]["search_state"][key]
        assert torch.equal(value, other) if torch.is_tensor(value) else value == other
    assert metrics_without_wall_clock(tmp_path / "w" / "metrics.csv") == metrics_without_wall_clock(
        tmp_path / "c" / "metrics.csv")
