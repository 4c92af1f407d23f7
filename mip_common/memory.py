"""Giving freed heap memory back to the operating system.

glibc keeps memory that Python and gRPC free in its arenas (one per thread that
allocated), so a long-running process's resident size only grows: after many
experiments it stays at its peak even when idle. ``malloc_trim(0)`` returns the free
pages of every arena. It is glibc-only; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

__all__ = ["release_free_memory"]


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True when some were (always False off glibc)."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
