"""Search-space files (``default_config/bohb/<name>.yaml``): what BOHB tunes and how a run is scored.

A space file names config keys directly::

    base_config: default_config/cartpole_synthetic_env.yaml   # every sample starts from it
    fixed: {nes.max_iterations: 30}                # set for every sample (optional)
    loss: {kind: nes_iterations, unsolved_factor: 2, repeats: 1}
    budget: {maps_to: repeats, min: 1, max: 3, eta: 3}
    hyperparameters:
      nes.step_size: {type: float, low: 0.1, high: 1, log: true}
      agents.ddqn.gamma: {type: float, low: 0.001, high: 0.1, log: true, transform: one_minus}
      agents.ddqn.activation: {type: categorical, choices: [tanh, relu, leakyrelu, prelu]}

``transform: one_minus`` samples x and sets the key to 1 - x (the paper's gamma and eps_decay:
experiments/GTNC_evaluate_cartpole_params.py:63,68 @ 3216697).
A space that tunes ``nes.strategy`` (categorical) may tune the strategies' own settings too
(``nes.pgpe.max_speed``, ...): each ``nes.<strategy>.*`` hyperparameter is active only in samples
of that strategy (a ConfigSpace condition), so no sample sets another strategy's section.
``budget.maps_to`` is ``repeats`` (the budget is the number of runs with different seeds that
the loss averages) or an integer config key (the budget, rounded, becomes its value, e.g.
``nes.max_iterations``). ``loss.kind`` is one of ``LOSS_KINDS`` (see ``tuning/losses.py``).
"""
import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path

import ConfigSpace as CS

from common.config_files import read_yaml
from common.errors import UserError
from nes.config import Config, load_config
from nes.strategies import STRATEGIES
from tuning.compat import plain

REPO_ROOT = Path(__file__).resolve().parents[1]
LOSS_KINDS = ("nes_iterations", "nes_score", "test_return", "steps_to_solve")
HP_TYPES = ("float", "int", "categorical")
TRANSFORMS = {"one_minus": lambda x: 1.0 - x}
SECTIONS = ("base_config", "fixed", "loss", "budget", "hyperparameters")


@dataclass(frozen=True)
class LossSettings:
    kind: str = "nes_iterations"
    unsolved_factor: float = 2.0   # an unsolved run counts as (its iteration or step limit) x this
    repeats: int = 1               # runs per evaluation when the budget does not map to repeats


@dataclass(frozen=True)
class BudgetSettings:
    maps_to: str = "repeats"
    min: float = 1.0
    max: float = 3.0
    eta: float = 3.0


def config_key_type(key: str):
    """The Python type of config key ``a.b.c``, or None if the schema has no such key."""
    cls = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if not dataclasses.is_dataclass(cls) or part not in hints:
            return None
        tp = hints[part]
        if i == len(parts) - 1:
            return None if dataclasses.is_dataclass(tp) else tp
        cls = tp
    return None


def nested(flat: dict) -> dict:
    """``{'nes.population': 2}`` -> ``{'nes': {'population': 2}}``."""
    out: dict = {}
    for key, value in flat.items():
        node = out
        *sections, last = key.split(".")
        for part in sections:
            node = node.setdefault(part, {})
        node[last] = value
    return out


class SearchSpace:
    """A validated space file: the ConfigSpace, the fixed keys, the loss and budget settings."""

    def __init__(self, data: dict, source: str):
        self.data, self.source = data, source
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise UserError(f"space {source}: unknown section '{unknown[0]}'; sections are {', '.join(SECTIONS)}")
        self.base_config = self._base_config(data.get("base_config"))
        self.fixed = self._mapping(data.get("fixed") or {}, "fixed")
        self.loss = self._settings(LossSettings, data.get("loss") or {}, "loss")
        self.budget = self._settings(BudgetSettings, data.get("budget") or {}, "budget")
        self.hyperparameters = self._mapping(data.get("hyperparameters") or {}, "hyperparameters")
        if not self.hyperparameters:
            raise UserError(f"space {source} names no hyperparameters")
        for key in list(self.fixed) + list(self.hyperparameters):
            if config_key_type(key) is None:
                raise UserError(f"space {source}: unknown config key '{key}'")
        self._check_settings()
        self.config(self.default_sample(), self.budget.max)

    @classmethod
    def from_file(cls, path: Path) -> "SearchSpace":
        return cls(read_yaml(path), str(path))

    def _base_config(self, value) -> Path | None:
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute():
            # Beside the space file first (a tune run directory's copy), else from the repository root.
            beside = Path(self.source).parent / path
            path = beside if beside.is_file() else REPO_ROOT / path
        if not path.is_file():
            raise UserError(f"space {self.source}: base_config {value} not found")
        return path

    def _mapping(self, value, name: str) -> dict:
        if not isinstance(value, dict):
            raise UserError(f"space {self.source}: '{name}' must be a mapping of config keys")
        return value

    def _settings(self, cls, value, name: str):
        value = self._mapping(value, name)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise UserError(f"space {self.source}: unknown {name} setting '{unknown[0]}'; "
                            f"settings are {', '.join(sorted(names))}")
        return cls(**value)

    def _check_settings(self) -> None:
        loss, budget = self.loss, self.budget
        if loss.kind not in LOSS_KINDS:
            raise UserError(f"space {self.source}: loss kind '{loss.kind}'; choose one of {', '.join(LOSS_KINDS)}")
        if not isinstance(loss.repeats, int) or loss.repeats < 1:
            raise UserError(f"space {self.source}: loss.repeats must be an integer >= 1")
        if budget.maps_to != "repeats" and config_key_type(budget.maps_to) is not int:
            raise UserError(f"space {self.source}: budget.maps_to must be 'repeats' or an integer config key, "
                            f"got '{budget.maps_to}'")
        check_budgets(budget.min, budget.max, budget.eta)

    def identity(self) -> dict:
        """What makes two spaces the same experiment (budgets aside): resuming requires it equal."""
        base = read_yaml(self.base_config) if self.base_config else {}
        return {"base_config": base, "fixed": self.fixed, "loss": dataclasses.asdict(self.loss),
                "maps_to": self.budget.maps_to, "hyperparameters": self.hyperparameters}

    def with_budgets(self, low=None, high=None, eta=None) -> "SearchSpace":
        """The same space with the budgets given on the command line."""
        budget = {"maps_to": self.budget.maps_to, "min": self.budget.min if low is None else low,
                  "max": self.budget.max if high is None else high, "eta": self.budget.eta if eta is None else eta}
        return SearchSpace({**self.data, "budget": budget}, self.source)

    def configspace(self, seed: int) -> CS.ConfigurationSpace:
        space = CS.ConfigurationSpace(seed=seed)
        for key, spec in self.hyperparameters.items():
            space.add(self._hyperparameter(key, spec))
        for condition in self._strategy_conditions(space):
            space.add(condition)
        return space

    def default_sample(self) -> dict:
        """The space's default configuration: its active hyperparameters at their defaults."""
        return dict(self.configspace(seed=0).get_default_configuration())

    def _strategy_conditions(self, space: CS.ConfigurationSpace) -> list:
        """``nes.<strategy>.*`` is active only where ``nes.strategy`` is that strategy."""
        if "nes.strategy" not in self.hyperparameters:
            return []
        choices = getattr(space["nes.strategy"], "choices", ())
        conditions = []
        for key in self.hyperparameters:
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "nes" and parts[1] in STRATEGIES:
                if parts[1] not in choices:
                    raise UserError(f"space {self.source}: hyperparameter '{key}' belongs to strategy "
                                    f"'{parts[1]}', which nes.strategy's choices leave out")
                conditions.append(CS.EqualsCondition(space[key], space["nes.strategy"], parts[1]))
        return conditions

    def _hyperparameter(self, key: str, spec):
        where = f"space {self.source}: hyperparameter '{key}'"
        if not isinstance(spec, dict) or spec.get("type") not in HP_TYPES:
            raise UserError(f"{where} needs a type: one of {', '.join(HP_TYPES)}")
        allowed = {"type", "low", "high", "log", "choices", "transform", "default"}
        if set(spec) - allowed:
            raise UserError(f"{where}: unknown field '{sorted(set(spec) - allowed)[0]}'")
        if spec.get("transform") not in (None, *TRANSFORMS):
            raise UserError(f"{where}: transform must be one of {', '.join(TRANSFORMS)}")
        extra = {"default_value": spec["default"]} if "default" in spec else {}
        try:
            if spec["type"] == "categorical":
                choices = spec.get("choices")
                if not isinstance(choices, list) or not choices:
                    raise UserError(f"{where}: categorical needs a non-empty list of choices")
                return CS.CategoricalHyperparameter(key, choices, **extra)
            low, high = spec.get("low"), spec.get("high")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
                raise UserError(f"{where}: {spec['type']} needs numbers low and high")
            if low >= high:
                raise UserError(f"{where}: low ({low}) must be below high ({high})")
            make = CS.UniformFloatHyperparameter if spec["type"] == "float" else CS.UniformIntegerHyperparameter
            return make(key, low, high, log=bool(spec.get("log", False)), **extra)
        except (ValueError, TypeError) as error:
            raise UserError(f"{where}: {error}") from None

    def values(self, sample: dict) -> dict:
        """Config key -> value for a BOHB sample, transforms applied."""
        out = {}
        for key, value in sample.items():
            value = plain(value)
            transform = self.hyperparameters[key].get("transform")
            out[key] = TRANSFORMS[transform](value) if transform else value
        return out

    def config(self, sample: dict, budget: float, overrides=()) -> Config:
        """The full config of one evaluation: base file <- fixed <- sample <- budget <- ``--set``."""
        flat = {**self.fixed, **self.values(sample)}
        if self.budget.maps_to != "repeats":
            flat[self.budget.maps_to] = budget_value(budget)
        try:
            return load_config(self.base_config, overrides, extra=nested(flat))
        except UserError as error:
            raise UserError(f"space {self.source}: {error}") from None

    def repeats(self, budget: float) -> int:
        return budget_value(budget) if self.budget.maps_to == "repeats" else self.loss.repeats


def budget_value(budget: float) -> int:
    """hpbandster's budgets are floats (max_budget x eta^-k); a count is the nearest integer."""
    return max(1, int(round(budget)))


def check_budgets(low, high, eta) -> None:
    for name, value in (("min budget", low), ("max budget", high), ("eta", eta)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise UserError(f"{name} must be a number, got {value!r}")
    if low <= 0:
        raise UserError(f"min budget must be > 0, got {low}")
    if low > high:
        raise UserError(f"min budget {low} exceeds max budget {high}")
    if eta <= 1:
        raise UserError(f"eta must be > 1, got {eta}")
