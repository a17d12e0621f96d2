"""A replay buffer per member, stored as one set of tensors with a leading population dimension."""
import torch

from common.rng import MemberStreams

_INITIAL_CAPACITY = 4096


class PopulationReplay:
    """Each member appends to and samples from its own ring buffer of ``capacity`` transitions.

    Storage grows by doubling up to the capacity, so short trainings (the usual case on an SE) do
    not pay for 100k-transition buffers.
    """

    def __init__(self, population: int, capacity: int, state_dim: int, action_shape=(), action_dtype=torch.long):
        self.population, self.capacity = population, capacity
        size = min(capacity, _INITIAL_CAPACITY)
        self.states = torch.zeros(population, size, state_dim)
        self.next_states = torch.zeros(population, size, state_dim)
        self.actions = torch.zeros(population, size, *action_shape, dtype=action_dtype)
        self.rewards = torch.zeros(population, size)
        self.dones = torch.zeros(population, size)
        self.position = torch.zeros(population, dtype=torch.long)
        self.size = torch.zeros(population, dtype=torch.long)
        self._members = torch.arange(population)

    def _fields(self):
        return ("states", "next_states", "actions", "rewards", "dones")

    def _grow_if_full(self) -> None:
        allocated = self.states.shape[1]
        if allocated < self.capacity and int(self.position.max()) >= allocated:
            extra = min(allocated, self.capacity - allocated)
            for name in self._fields():
                tensor = getattr(self, name)
                pad = torch.zeros(tensor.shape[0], extra, *tensor.shape[2:], dtype=tensor.dtype)
                setattr(self, name, torch.cat([tensor, pad], dim=1))

    def add(self, active: torch.Tensor, states, actions, rewards, next_states, dones) -> None:
        """Append one transition (leading dim P) for every ``active`` member."""
        self._grow_if_full()
        rows = self._members[active]
        slots = self.position[active]
        self.states[rows, slots] = states[active]
        self.next_states[rows, slots] = next_states[active]
        self.actions[rows, slots] = actions[active]
        self.rewards[rows, slots] = rewards[active]
        self.dones[rows, slots] = dones[active].to(self.dones.dtype)
        self.position[active] = (slots + 1) % self.capacity
        self.size[active] = torch.clamp(self.size[active] + 1, max=self.capacity)

    def sample(self, rng: MemberStreams, batch_size: int, active: torch.Tensor):
        """(P, batch) transitions drawn uniformly from each member's own buffer."""
        index = rng.integers(self.size.clamp(min=1), batch_size, active)
        rows = self._members[:, None]
        return (self.states[rows, index], self.actions[rows, index], self.rewards[rows, index],
                self.next_states[rows, index], self.dones[rows, index])
