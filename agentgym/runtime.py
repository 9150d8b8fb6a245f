"""Process-level helpers that training code shares."""

from __future__ import annotations

import contextlib
import ctypes
import functools


@functools.cache
def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc `malloc_trim`).

    CPU training with varying batch shapes fragments glibc's heap: measured on the WebShop SFT, the
    resident set grew from 0.9 to 3.9 GB without it and stays flat when this runs every few dozen
    steps, at no measurable speed cost. A no-op where glibc is absent."""
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.malloc_trim(0)
