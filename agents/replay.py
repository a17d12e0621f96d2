"""A replay buffer per member, stored as one tensor with a leading population dimension."""
import numpy as np
import torch

from common.rng import MemberStreams

_INITIAL_CAPACITY = 4096


class PopulationReplay:
    """Each member appends to and samples from its own ring buffer of ``capacity`` transitions.

    A transition is one packed row [state, action, reward, next state, done], so sampling is a
    single ``index_select`` on the flattened buffer. Storage grows by doubling up to the capacity,
    so short trainings (the usual case on an SE) do not pay for 100k-transition buffers.
    """

    def __init__(self, population: int, capacity: int, state_dim: int, action_dim: int = 1):
        self.population, self.capacity = population, capacity
        self.state_dim, self.action_dim = state_dim, action_dim
        self.width = 2 * state_dim + action_dim + 2
        self.rows = torch.zeros(population, min(capacity, _INITIAL_CAPACITY), self.width)
        # The ring positions and sizes are P numbers each: numpy updates them for a fraction of
        # what torch's calls cost, which a population of one pays at every step.
        self.position = np.zeros(population, dtype=np.int64)
        self.size = np.zeros(population, dtype=np.int64)
        self._first_rows = self._member_first_rows()
        # An upper bound of position.max() kept in Python: the buffer grows without reading a tensor.
        self._most_added = 0

    def _member_first_rows(self) -> np.ndarray:
        """Each member's first row in the flattened buffer."""
        return np.arange(self.population) * self.rows.shape[1]

    def _grow_if_full(self) -> None:
        allocated = self.rows.shape[1]
        if allocated < self.capacity and self._most_added >= allocated:
            extra = min(allocated, self.capacity - allocated)
            self.rows = torch.cat([self.rows, torch.zeros(self.population, extra, self.width)], dim=1)
            self._first_rows = self._member_first_rows()

    def add(self, active: torch.Tensor, states, actions, rewards, next_states, dones) -> None:
        """Append the transition of every ``active`` member, as one env step gives it (one episode
        per member): states (P, 1, S), actions (P, 1[, A]), rewards and dones (P, 1)."""
        self._grow_if_full()
        self._most_added = min(self._most_added + 1, self.capacity)
        # float32 before the cat: a cat that promotes integer actions and boolean dones costs more.
        packed = torch.cat([states, actions.reshape(self.population, 1, -1).float(), rewards[..., None], next_states,
                            dones[..., None].float()], dim=2).view(self.population, self.width)
        flat_rows = self.rows.view(-1, self.width)
        if bool(active.all()):
            flat_rows.index_copy_(0, torch.from_numpy(self._first_rows + self.position), packed)
            self.position = (self.position + 1) % self.capacity
            self.size = np.minimum(self.size + 1, self.capacity)
            return
        members = np.flatnonzero(active.numpy())
        flat_rows.index_copy_(0, torch.from_numpy(self._first_rows[members] + self.position[members]),
                              packed.index_select(0, torch.from_numpy(members)))
        self.position[members] = (self.position[members] + 1) % self.capacity
        self.size[members] = np.minimum(self.size[members] + 1, self.capacity)

    def sample(self, rng: MemberStreams, batch_size: int, active: torch.Tensor, members: torch.Tensor | None):
        """(M, batch) states, actions, rewards, next states and dones (actions (M, batch, A)).

        Each member draws uniformly from its own buffer; ``members`` are the M indices of the
        ``active`` mask (None: all P are active), and only they advance their random streams.
        """
        index = rng.integers(torch.from_numpy(np.maximum(self.size, 1)), batch_size, active)
        if members is None:
            first_rows, count = torch.from_numpy(self._first_rows[:, None]), self.population
        else:
            index = index[members] if len(members) < self.population else index
            first_rows, count = members[:, None] * self.rows.shape[1], len(members)
        flat = index.add_(first_rows).view(-1)   # rows of the flattened buffer
        batch = self.rows.view(-1, self.width).index_select(0, flat).view(count, batch_size, self.width)
        states, actions, rewards, next_states, dones = batch.split(
            [self.state_dim, self.action_dim, 1, self.state_dim, 1], dim=-1)
        return states, actions, rewards[..., 0], next_states, dones[..., 0]
