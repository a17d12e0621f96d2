"""Intrinsic Curiosity Module (Pathak et al. 2017) for a population: the paper's curiosity baseline.

Placeholder for the options only; the module itself lands with the ICM work of issue 3.
"""
from dataclasses import dataclass

from common.schema import option


@dataclass
class ICMOptions:
    """ICM hyperparameters, mixed into the configs of the agents that support it (the paper's
    values from default_config_cartpole.yaml of their code)."""

    icm: bool = option(False, "add the ICM curiosity reward to the env reward")
    icm_lr: float = option(1e-3, "ICM Adam learning rate", low=0.0, low_open=True)
    icm_beta: float = option(0.2, "ICM loss weight of the forward model (1 - beta: inverse model)",
                             low=0.0, high=1.0)
    icm_eta: float = option(0.5, "scale of the intrinsic reward (eta / 2 x forward-model error)", low=0.0)
    icm_feature_size: int = option(128, "size of the ICM state features", low=1)
    icm_hidden_size: int = option(128, "hidden units of the ICM networks", low=1)
