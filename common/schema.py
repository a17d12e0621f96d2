"""Building blocks of the config schema: a documented, range-checked field and a section.

Kept apart from ``common.config`` so that each agent can declare its own hyperparameters in its
own file (as CleanRL does) without an import cycle.
"""
from dataclasses import field

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
