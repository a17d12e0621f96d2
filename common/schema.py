"""Typed, documented, range-checked config options, and building dataclasses from plain dicts.

Generic machinery only: the run schema (which sections exist) lives in ``nes/config.py``; this
module lets each agent declare its own hyperparameters in its own file (as CleanRL does) and
turns a dict of them into a validated dataclass, with one-line ``UserError``s for bad values.
"""
import dataclasses
import math
import typing
from dataclasses import field

from common.errors import UserError

ACTIVATIONS = ("tanh", "relu", "leakyrelu", "prelu")


def option(default, help: str, *, low=None, high=None, low_open=False, choices=None, normalise=None):
    """A config field with its one-line doc and its allowed range or choices.

    ``normalise(value, key)``, if given, replaces the type check: it returns the canonical value
    or raises a UserError (a field that takes several spellings, e.g. a name or a numeric code).
    """
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "choices": choices,
            "normalise": normalise}
    return field(default=default, metadata=meta)


def section(cls, help: str):
    return field(default_factory=cls, metadata={"help": help})


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key: str):
    """Check ``value`` against the field type; ints are accepted where floats are expected."""
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "3e-4" (no dot) as a string; it is still the number the user meant.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UserError(f"config key '{key}' must be a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise UserError(f"config key '{key}' must be {_type_name(tp)}, got {value!r}")


def _check_range(value, meta, key: str) -> None:
    choices, low, high = meta.get("choices"), meta.get("low"), meta.get("high")
    if choices is not None and value not in choices:
        raise UserError(f"config key '{key}' is {value!r}; choose one of {', '.join(map(str, choices))}")
    if low is not None and (value < low or (meta.get("low_open") and value == low)):
        bound = f"> {low}" if meta.get("low_open") else f">= {low}"
        raise UserError(f"config key '{key}' is {value!r}; it must be {bound}")
    if high is not None and value > high:
        raise UserError(f"config key '{key}' is {value!r}; it must be <= {high}")


def build(cls, data, prefix: str = ""):
    """Build the dataclass ``cls`` from a (partial) dict, validating keys, types and ranges."""
    if not isinstance(data, dict):
        raise UserError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UserError(f"unknown config key '{prefix}{unknown[0]}'")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in data:
            continue
        if dataclasses.is_dataclass(hints[name]):
            values[name] = build(hints[name], data[name], key + ".")
        elif f.metadata.get("normalise"):
            values[name] = f.metadata["normalise"](data[name], key)
        else:
            values[name] = _coerce(data[name], hints[name], key)
            _check_range(values[name], f.metadata, key)
    return cls(**values)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def describe(cls, prefix: str = "") -> list[str]:
    """One line per config key: name, type, default and doc, for ``--help``."""
    lines = []
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            lines.extend(describe(hints[f.name], prefix + f.name + "."))
        else:
            default = getattr(instance, f.name)
            lines.append(f"  {prefix + f.name} ({_type_name(hints[f.name])}, default {default}): "
                         f"{f.metadata['help']}")
    return lines
