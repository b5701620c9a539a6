"""Deadlines for reading a stream, cheap enough for every chunk.

``asyncio.timeout`` per read costs a loop timer per chunk (and leaves a cancelled handle in the
loop's heap each time); this clock keeps one timer that moves only when it fires, and counts only
the time spent waiting for the server, never the time the reader spends with what arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


class ReadClock:
    """``await clock.read(x, deadline)`` is ``await x``, or TimeoutError at ``deadline``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadline = 0.0
        self._waiting: asyncio.Task[object] | None = None
        self._expired = False
        self._handle: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return self._loop.time()

    async def read(self, awaitable: Awaitable[_T], deadline: float) -> _T:
        task = asyncio.current_task()
        assert task is not None
        self._deadline = deadline
        self._waiting = task
        if self._handle is None or self._handle.when() > deadline:
            self._arm(deadline)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                task.uncancel()
                raise TimeoutError from None
            raise
        finally:
            self._waiting = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        self._handle = None
        if self._waiting is None:
            return
        if self._loop.time() >= self._deadline:
            self._expired = True
            self._waiting.cancel()
        else:
            self._arm(self._deadline)
