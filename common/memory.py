"""Keep freed heap memory in the process rather than handing it back to the kernel.

A population's update allocates and frees activations of a few MB many times per step (DDQN at
P=48: (48, 398, 57) floats a pass). glibc serves blocks that large from fresh mmaps, and hands the
top of its heap back once enough of it is free, so the next step faults every page in again:
1,300-1,800 page faults per DDQN update at P=48 on a 2-core VM, a sizeable share of the step.
Above the mmap threshold and trim threshold set here, freed blocks stay mapped and are reused; the
process's peak memory is unchanged, it is only kept.
"""
import ctypes
import functools
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameters (malloc.h)
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024           # glibc refuses more on 64-bit
_NEVER_TRIM = 2**31 - 1                          # mallopt takes an int


@functools.cache
def retain_freed_memory() -> bool:
    """Set the allocator's thresholds once per process; False where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    taken = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1 and mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1
    if not taken:
        log.debug("mallopt refused the thresholds; freed memory goes back to the kernel")
    return taken
