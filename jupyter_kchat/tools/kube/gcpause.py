"""The cyclic garbage collector paused while big lists are decoded and shaped."""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

GC_PAUSE_BYTES = 1 << 20
"""Bodies from this size are decoded with the cyclic GC paused (see :func:`paused_gc`)."""

F = TypeVar("F", bound=Callable[..., Any])

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding a big list.

    Decoding 10,000 pods allocates ~100,000 containers, which triggers full collections that
    walk every object of the process (each costs more than the whole decode in a big process).
    The decoded objects hold no cycles and mostly die when the tool returns, so nothing is lost
    by collecting later. Re-entrant across threads: the collector is re-enabled when the last
    pauser leaves, and only if it was enabled before the first came.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def gc_paused(func: F) -> F:
    """Run a tool with the cyclic GC paused (for tools that read and shape big lists)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with paused_gc():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
