"""Building blocks of the config schema: a documented, range-checked field and a section.

Kept apart from ``common.config`` so that each agent can declare its own hyperparameters in its
own file (as CleanRL does) without an import cycle.
"""
from dataclasses import field

ACTIVATIONS = ("tanh", "relu", "leakyrelu", "prelu")


def option(default, help: str, *, low=None, high=None, low_open=False, choices=None):
    """A config field with its one-line doc and its allowed range or choices."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "choices": choices}
    return field(default=default, metadata=meta)


def section(cls, help: str):
    return field(default_factory=cls, metadata={"help": help})
