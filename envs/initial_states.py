"""Initial states drawn from the real env's own reset, one seeded env per member."""
import numpy as np

from envs.real import make_real_env


class InitialStateSampler:
    """Member m's k-th draw depends only on its seed and k, whatever the batch it runs in."""

    def __init__(self, env_id: str, seeds: list[int]):
        self.envs = [make_real_env(env_id) for _ in seeds]
        self.seeds = list(seeds)
        self.started = [False] * len(seeds)

    def sample(self, members, count: int) -> np.ndarray:
        """(len(members), count, state_dim) initial observations for the given members."""
        draws = []
        for m in members:
            row = []
            for _ in range(count):
                seed = None if self.started[m] else self.seeds[m]
                self.started[m] = True
                observation, _ = self.envs[m].reset(seed=seed)
                row.append(observation)
            draws.append(row)
        return np.asarray(draws, dtype=np.float32)

    def close(self) -> None:
        for env in self.envs:
            env.close()
