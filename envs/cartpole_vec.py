"""CartPole for N episodes in one numpy batch, bit-identical to gymnasium's own vector CartPole.

gymnasium 1.4's ``CartPoleVectorEnv`` computes the dynamics of all N episodes in a few numpy
operations, but each call also checks its actions and runs its autoreset, which for a population
of one costs more than the physics. This is its step (Euler integration, the constants of a
``CartPoleEnv``) with every float64 operation in the same order and over all N episodes, as its
own, so the numbers are the same; an episode moves only where asked, and there is no autoreset:
``RealVecEnv`` starts each episode from the member's own seeded single env.
"""
import numpy as np

from envs.real import make_real_env


class CartPoleVecEnv:
    """N CartPole episodes; ``restart(index, single, obs)`` starts episode ``index`` at ``obs``,
    ``step(actions, keep, obs)`` advances the ``keep`` episodes (``obs``: the current observations)."""

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int):
        physics = make_real_env(env_id).unwrapped
        if physics.kinematics_integrator != "euler":
            raise ValueError(f"{env_id}: only the Euler integrator is batched here")
        self.gravity, self.masspole, self.total_mass = physics.gravity, physics.masspole, physics.total_mass
        self.length, self.polemass_length = physics.length, physics.polemass_length
        self.force_mag, self.tau = physics.force_mag, physics.tau
        self.x_threshold, self.theta_threshold = physics.x_threshold, physics.theta_threshold_radians
        self.max_episode_steps = max_episode_steps
        self.state = np.zeros((4, num_envs))
        self.steps = np.zeros(num_envs, dtype=np.int32)

    def restart(self, index: int, single, obs: np.ndarray) -> None:
        self.state[:, index] = obs
        self.steps[index] = 0

    def step(self, actions: np.ndarray, keep: np.ndarray, obs: np.ndarray):
        x, x_dot, theta, theta_dot = self.state
        force = np.sign(actions - 0.5) * self.force_mag
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        moved = np.stack((x + self.tau * x_dot, x_dot + self.tau * xacc,
                          theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc))
        self.state = np.where(keep, moved, self.state)
        self.steps += keep
        x, theta = self.state[0], self.state[2]
        terminated = ((x < -self.x_threshold) | (x > self.x_threshold)
                      | (theta < -self.theta_threshold) | (theta > self.theta_threshold))
        truncated = self.steps >= self.max_episode_steps
        return self.state.T.astype(np.float32), np.ones(len(keep), dtype=np.float32), terminated, truncated

    def close(self) -> None:
        pass
