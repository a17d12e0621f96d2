"""Gymnasium wrappers that put real envs into the form our networks read."""
import gymnasium as gym
import numpy as np


class OneHotObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """A ``Discrete(n)`` observation as a float32 one-hot vector of length n.

    Networks read the vector; tabular agents take its ``argmax`` as the cell index.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.cells = int(env.observation_space.n)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(self.cells,), dtype=np.float32)

    def observation(self, observation) -> np.ndarray:
        encoded = np.zeros(self.cells, dtype=np.float32)
        encoded[int(observation)] = 1.0
        return encoded
