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
_GOLDEN32 = np.uint32(0x9E3779B9)

# The streams compute in numpy uint32, whose multiplications wrap modulo 2**32 as the hash wants:
# a few numpy operations on arrays of P numbers cost a fraction of the same torch operations, and
# a population of one draws several times per step.


def _mix32(x: np.ndarray) -> np.ndarray:
    """Chris Wellons' 'lowbias32' integer hash of a uint32 array (a new array)."""
    x = x ^ (x >> np.uint32(16))
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


# Up to this many numbers, a hash runs on Python ints: numpy's fixed cost per operation (about a
# microsecond) is most of the cost of a population of one's draws, several per step.
_FEW = 4


def _mix32_int(x: int) -> int:
    """``_mix32`` of one number as a Python int (the same hash, for ``_FEW`` numbers or fewer)."""
    x ^= x >> 16
    x = x * 0x7FEB352D & _MASK32
    x ^= x >> 15
    x = x * 0x846CA68B & _MASK32
    return x ^ (x >> 16)


@functools.lru_cache(maxsize=64)
def _lane_hashes(n: int) -> np.ndarray:
    """The hashed lane numbers of an n-wide draw: the same for every draw, so computed once per n."""
    hashes = _mix32(np.arange(n, dtype=np.uint32) * _GOLDEN32 + np.uint32(0x632BE5AB))
    hashes.flags.writeable = False   # shared by every draw of width n
    return hashes


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from a tuple of integers (run seed, iteration, member, role, ...)."""
    # The length goes in first: SeedSequence pads with zeros, so (5,) and (5, 0) would collide.
    return int(np.random.SeedSequence([len(parts), *(int(p) & _MASK32 for p in parts)]).generate_state(1)[0])


class MemberStreams:
    """P independent random streams; each draw advances only the members asked to draw."""

    def __init__(self, seeds: Sequence[int]):
        self.keys = _mix32(np.array([int(s) & _MASK32 for s in seeds], dtype=np.uint32))
        self._key_ints = self.keys.tolist()
        self.counters = np.zeros(len(seeds), dtype=np.int64)

    def __len__(self) -> int:
        return self.keys.shape[0]

    def _bits(self, n: int, active: torch.Tensor | None) -> np.ndarray:
        """(P, n) uint32 hashes of (member key, member counter, lane); advances the active counters."""
        if len(self) <= _FEW:
            draw_key = np.array([_mix32_int(key ^ _mix32_int((counter * int(_GOLDEN32) + 1) & _MASK32))
                                 for key, counter in zip(self._key_ints, self.counters.tolist())], dtype=np.uint32)
        else:
            draw_key = _mix32(self.keys ^ _mix32(self.counters.astype(np.uint32) * _GOLDEN32 + np.uint32(1)))
        lanes = _lane_hashes(n)
        if draw_key.size * n <= _FEW:
            bits = np.array([[_mix32_int(key ^ lane) for lane in lanes.tolist()] for key in draw_key.tolist()],
                            dtype=np.uint32).reshape(len(self), n)
        else:
            bits = _mix32(draw_key[:, None] ^ lanes[None, :])
        self.counters += 1 if active is None else active.numpy()
        return bits

    def _uniform(self, n: int, active: torch.Tensor | None) -> np.ndarray:
        return (self._bits(n, active) >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))

    def uniform(self, n: int, active: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n) float32 uniforms in [0, 1)."""
        return torch.from_numpy(self._uniform(n, active))

    def integers(self, high: torch.Tensor, n: int, active: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n) int64 uniform in [0, high[p]) for a per-member upper bound ``high`` (P,)."""
        high = high.numpy()[:, None]
        drawn = (self._uniform(n, active).astype(np.float64) * high).astype(np.int64)
        return torch.from_numpy(np.minimum(drawn, np.maximum(high - 1, 0)))

    def normal(self, n: int, active: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n) float32 standard normals (Box-Muller on two uniform draws)."""
        u1 = self.uniform(n, active)
        u2 = self.uniform(n, active)
        return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * torch.pi * u2)
