"""Handing freed heap memory back to the operating system, where the C library allows it.

Parsing a refresh's answers and rendering its Pages allocate and free a lot, from several
threads: glibc keeps what was freed in its per-thread arenas, so the resident size grows
well past what is in use. malloc_trim(0) returns the free pages of every arena (it takes
well under a millisecond). Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Give freed heap pages back; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
