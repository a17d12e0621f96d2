"""Search strategies: how the NES master moves psi from its members' scores (``nes.strategy``).

A strategy is a ``Strategy`` subclass (``base.py``) with its own ``SearchState`` and, if it has
settings, its own ``nes.<name>`` config section (its ``Config`` dataclass); registering it here is
all the master and the config need.

- ``paper_nes``: the paper's rule; its settings are the ``nes.*`` keys (noise_std, step_size, ...).
- ``openai_es``, ``pgpe``, ``snes``, ``cma_es``: each file says its source, its defaults and why it
  is our own code rather than a library's.
"""
from nes.strategies.base import Strategy
from nes.strategies.cma_es import CMAES
from nes.strategies.openai_es import OpenAIES
from nes.strategies.paper_nes import PaperNES
from nes.strategies.pgpe import PGPE
from nes.strategies.snes import SNES

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (PaperNES, OpenAIES, PGPE, SNES, CMAES)}


def make_strategy(config) -> Strategy:
    """The strategy ``config.nes.strategy``, with the run's settings."""
    return STRATEGIES[config.nes.strategy](config)


def mirrored_sampling(config) -> bool:
    """Whether a member is scored on psi - eps too (every backend's member evaluation asks this)."""
    return STRATEGIES[config.nes.strategy].mirrored(config)
