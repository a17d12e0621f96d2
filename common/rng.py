"""Counter-based random numbers, one independent stream per population member.

A member's draws depend only on its own seed and on how many draws it has made, never on which
other members share its batch. That is what makes a member trained inside a population of 48 give
bit-for-bit the result it gives when trained alone, and what lets any backend (batched, serial,
worker processes, cluster) reproduce the same run.
"""
import functools
from collections.abc import Sequence

import numpy as np
import torch

_MASK32 = 0xFFFFFFFF
_GOLDEN32 = 0x9E3779B9


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Chris Wellons' 'lowbias32' integer hash on int64 tensors holding 32-bit values."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


@functools.lru_cache(maxsize=64)
def _lane_hashes(n: int) -> torch.Tensor:
    """The hashed lane numbers of an n-wide draw: the same for every draw, so computed once per n."""
    return _mix32(torch.arange(n, dtype=torch.int64) * _GOLDEN32 + 0x632BE5AB)


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from a tuple of integers (run seed, iteration, member, role, ...)."""
    # The length goes in first: SeedSequence pads with zeros, so (5,) and (5, 0) would collide.
    return int(np.random.SeedSequence([len(parts), *(int(p) & _MASK32 for p in parts)]).generate_state(1)[0])


class MemberStreams:
    """P independent random streams; each draw advances only the members asked to draw."""

    def __init__(self, seeds: Sequence[int]):
        self.keys = _mix32(torch.tensor([int(s) & _MASK32 for s in seeds], dtype=torch.int64))
        self.counters = torch.zeros(len(seeds), dtype=torch.int64)

    def __len__(self) -> int:
        return self.keys.shape[0]

    def _bits(self, n: int, active: torch.Tensor | None) -> torch.Tensor:
        draw_key = _mix32(self.keys ^ _mix32(self.counters * _GOLDEN32 + 1))
        bits = _mix32(draw_key[:, None] ^ _lane_hashes(n)[None, :])
        step = torch.ones_like(self.counters) if active is None else active.to(torch.int64)
        self.counters += step
        return bits

    def uniform(self, n: int, active: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n) float32 uniforms in [0, 1)."""
        return (self._bits(n, active) >> 8).to(torch.float32) * (1.0 / (1 << 24))

    def integers(self, high: torch.Tensor, n: int, active: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n) int64 uniform in [0, high[p]) for a per-member upper bound ``high`` (P,)."""
        u = self.uniform(n, active).to(torch.float64)
        return torch.minimum((u * high[:, None]).to(torch.int64), (high[:, None] - 1).clamp(min=0))

    def normal(self, n: int, active: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n) float32 standard normals (Box-Muller on two uniform draws)."""
        u1 = self.uniform(n, active)
        u2 = self.uniform(n, active)
        return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * torch.pi * u2)
