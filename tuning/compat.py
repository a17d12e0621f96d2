"""Small shims that keep hpbandster 0.7.4 working on numpy 2 and ConfigSpace 1.x.

hpbandster talks over Pyro4, whose default serializer (serpent) writes a numpy scalar either as
its repr (``np.float64(0.5)``, which the receiver cannot read: the call is silently dropped and
the master waits forever) or not at all (``np.bool``). ConfigSpace 1.x hands out numpy scalars
in every sampled configuration, and user losses are often numpy scalars too. We register a
serpent rule that sends a numpy scalar as the plain Python value it holds; it must be registered
in every process that talks to Pyro, which importing ``tuning`` does.

The config generator shim returns configurations with plain Python values (hpbandster's JSON
result logger cannot write numpy scalars) and treats a warm-started run without a loss (one that
crashed earlier) as a crash, which hpbandster's own warm start would pass on as ``loss: None`` and
then fail on. We subclass; site-packages stay untouched.
"""
import warnings

import numpy as np
import serpent
from hpbandster.optimizers.config_generators.bohb import BOHB as BOHBConfigGenerator

# hpbandster calls ConfigSpace methods that 1.x deprecates (but still provides).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"hpbandster\..*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ConfigSpace\..*")


def _serialize_numpy_scalar(obj, serializer, out, level) -> None:
    serializer._serialize(obj.item(), out, level)


serpent.register_class(np.generic, _serialize_numpy_scalar)


def plain(value):
    """A numpy scalar as its Python value; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


class PlainConfigGenerator(BOHBConfigGenerator):
    """hpbandster's BOHB model (KDEs per budget), with JSON-safe samples and crash-safe warm start."""

    def get_config(self, budget):
        sample, info = super().get_config(budget)
        return {name: plain(value) for name, value in dict(sample).items()}, info

    def new_result(self, job, update_model=True):
        if job.result is not None and job.result.get("loss") is None:
            job.result = None  # a crash recorded by an earlier run: counted as a bad configuration
        super().new_result(job, update_model=update_model)
