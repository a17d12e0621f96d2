"""The outer loop: BOHB (hpbandster) tunes NES, agent and environment hyperparameters.

``space`` reads a search-space file into ConfigSpace and turns a sample into a config,
``losses`` evaluates one sample on one budget (whole NES runs, or plain agent trainings),
``worker`` is the hpbandster worker that does it, ``runner`` starts the nameserver, the BOHB
master and its workers, and ``analysis`` reads a finished (or running) tune directory.

Importing this package installs the hpbandster compatibility fixes of ``compat`` (numpy 2 values
over Pyro), so every process that imports it, master or worker, is covered.
"""
from tuning import compat  # noqa: F401  (registers the Pyro serializer fix on import)
