"""Acrobot-v1 for N episodes in one numpy batch, bit-identical to N single gymnasium envs.

A population steps hundreds of Acrobot episodes at once; one Python ``env.step`` per episode made
that the slowest part of an NES iteration. This is gymnasium 1.4's ``AcrobotEnv`` (book dynamics,
no torque noise) under its ``TimeLimit``, with every float64 operation done in the same order as
gymnasium's scalar code, so observations, rewards and flags equal the single env's exactly.
Like a single env, an episode that ended keeps stepping if asked to; there is no autoreset.
"""
import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from numpy import cos, pi, sin

_TORQUES = np.array(AcrobotEnv.AVAIL_TORQUE, dtype=np.float64)


def _square(x: np.ndarray) -> np.ndarray:
    """``x**2`` as gymnasium computes it on a float64 scalar: C ``pow``, which is not always the
    correctly rounded ``x * x`` that numpy's array ``**2`` gives; ``float_power`` calls ``pow``."""
    return np.float_power(x, 2)


def _dsdt(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``AcrobotEnv._dsdt`` (book) for states (N, 4). The torque ``a`` is passed apart: gymnasium
    appends it to the state with a zero derivative, so ``rk4`` carries it through unchanged."""
    theta1, theta2, dtheta1, dtheta2 = s.T
    m1, m2 = AcrobotEnv.LINK_MASS_1, AcrobotEnv.LINK_MASS_2
    l1 = AcrobotEnv.LINK_LENGTH_1
    lc1, lc2 = AcrobotEnv.LINK_COM_POS_1, AcrobotEnv.LINK_COM_POS_2
    I1 = I2 = AcrobotEnv.LINK_MOI
    g = 9.8
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos(theta2)) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos(theta2)) + I2
    phi2 = m2 * lc2 * g * cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * _square(dtheta2) * sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * cos(theta1 - pi / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * _square(dtheta1) * sin(theta2) - phi2
    ) / (m2 * lc2**2 + I2 - _square(d2) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return np.stack((dtheta1, dtheta2, ddtheta1, ddtheta2), axis=1)


def _rk4(y0: np.ndarray, torque: np.ndarray, dt: float) -> np.ndarray:
    """gymnasium's ``rk4`` over ``[0, dt]`` for states (N, 4)."""
    dt2 = dt / 2.0
    k1 = _dsdt(y0, torque)
    k2 = _dsdt(y0 + dt2 * k1, torque)
    k3 = _dsdt(y0 + dt2 * k2, torque)
    k4 = _dsdt(y0 + dt * k3, torque)
    return y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def _wrap(x: np.ndarray, m: float, M: float) -> np.ndarray:
    """gymnasium's ``wrap``: subtract or add the period one at a time, as its loops do."""
    diff = M - m
    while (above := x > M).any():
        x = np.where(above, x - diff, x)
    while (below := x < m).any():
        x = np.where(below, x + diff, x)
    return x


class AcrobotVecEnv:
    """N Acrobot-v1 episodes; each is started from a single env's seeded reset (``restart``)."""

    def __init__(self, num_envs: int, max_episode_steps: int):
        self.max_episode_steps = max_episode_steps
        # float64 like gymnasium's state after the first step; the reset state is float32, which
        # float64 holds exactly.
        self.state = np.zeros((num_envs, 4))
        self.elapsed = np.zeros(num_envs, dtype=np.int64)   # TimeLimit's step count per episode

    def restart(self, index: int, single, obs: np.ndarray) -> None:
        """Start episode ``index`` where ``single`` (a gymnasium Acrobot just reset) starts."""
        self.state[index] = single.unwrapped.state
        self.elapsed[index] = 0

    def step(self, actions: np.ndarray, keep: np.ndarray, obs: np.ndarray):
        """Step the ``keep`` episodes (N,); the others stay as they are and their rows of the
        returned (obs, reward, terminated, truncated) are meaningless. ``obs`` is not needed:
        frozen states are simply not touched."""
        rows = np.flatnonzero(keep)
        ns = _rk4(self.state[rows], _TORQUES[actions[rows]], AcrobotEnv.dt)
        ns[:, 0] = _wrap(ns[:, 0], -pi, pi)
        ns[:, 1] = _wrap(ns[:, 1], -pi, pi)
        ns[:, 2] = np.clip(ns[:, 2], -AcrobotEnv.MAX_VEL_1, AcrobotEnv.MAX_VEL_1)
        ns[:, 3] = np.clip(ns[:, 3], -AcrobotEnv.MAX_VEL_2, AcrobotEnv.MAX_VEL_2)
        self.state[rows] = ns
        self.elapsed[rows] += 1
        s = self.state
        terminated = -cos(s[:, 0]) - cos(s[:, 1] + s[:, 0]) > 1.0
        reward = np.where(terminated, 0.0, -1.0)
        truncated = self.elapsed >= self.max_episode_steps
        observation = np.stack((cos(s[:, 0]), sin(s[:, 0]), cos(s[:, 1]), sin(s[:, 1]), s[:, 2], s[:, 3]),
                               axis=1).astype(np.float32)
        return observation, reward, terminated, truncated

    def close(self) -> None:
        """Nothing to release; here so that every batched env closes alike."""
