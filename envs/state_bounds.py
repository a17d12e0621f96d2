"""The real env's observation bounds, which a learned env keeps its states inside.

An SE's networks can put out any vector; clipping it into the real env's observation bounds (where
they are finite) means an agent trained on the SE only sees states the real env could show it, and
lets the SE declare the real env's observation space. A one-hot observation has no bounds here: an
SE's state for it is a vector of scores that tabular agents read by ``argmax``, not a cell.
"""
import gymnasium as gym
import numpy as np
import torch

from envs.real import RealEnvSpec


def state_bounds(spec: RealEnvSpec) -> tuple[np.ndarray, np.ndarray]:
    """(S,) float32 lower and upper bounds of the states of an SE for ``spec``'s env (+-inf where none)."""
    if not spec.state_low:
        return np.full(spec.state_dim, -np.inf, np.float32), np.full(spec.state_dim, np.inf, np.float32)
    return np.array(spec.state_low, np.float32), np.array(spec.state_high, np.float32)


def observation_space(spec: RealEnvSpec) -> gym.spaces.Box:
    """The real env's observation space as a float32 Box (unbounded for a one-hot observation)."""
    low, high = state_bounds(spec)
    return gym.spaces.Box(low, high, dtype=np.float32)


class StateClipper:
    """Clips (..., S) state tensors into ``spec``'s bounds (NaN stays NaN, so a broken SE is still seen)."""

    def __init__(self, spec: RealEnvSpec):
        low, high = state_bounds(spec)
        self.low, self.high = torch.from_numpy(low), torch.from_numpy(high)

    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        return torch.clamp(states, self.low, self.high)
