"""A guard against runaway answers: a small model that repeats the same text over and over.

It looks only at the newest text, every ``CHECK_EVERY`` characters, with two string searches and
one comparison, so it costs nothing measurable on a fast stream.
"""

from __future__ import annotations

MAX_PERIOD = 512
"""Longest repeated unit looked for (a line or a short paragraph)."""
MIN_REPEATS = 8
"""The unit must appear this many times back to back ..."""
MIN_SPAN = 1200
"""... and the repetition must cover at least this many characters."""
CHECK_EVERY = 256
KEY = 16
WINDOW = MAX_PERIOD * MIN_REPEATS


class RepetitionGuard:
    """``feed`` text as it arrives; it returns True once the text has become a loop."""

    def __init__(self) -> None:
        self._tail = ""
        self._new: list[str] = []
        self._pending = 0

    def feed(self, piece: str) -> bool:
        self._new.append(piece)
        self._pending += len(piece)
        if self._pending < CHECK_EVERY:
            return False
        self._tail = (self._tail + "".join(self._new))[-WINDOW:]
        self._new = []
        self._pending = 0
        return looping(self._tail)


def looping(tail: str) -> bool:
    """Whether ``tail`` ends in one unit of up to ``MAX_PERIOD`` chars repeated back to back."""
    size = len(tail)
    if size < MIN_SPAN:
        return False
    key = tail[-KEY:]
    start = tail.rfind(key, 0, size - 1)
    for _ in range(4):
        if start < 0:
            return False
        period = size - KEY - start
        if period > MAX_PERIOD:
            return False
        span = max(MIN_SPAN, MIN_REPEATS * period)
        if span > size:
            return False
        if tail[size - span : size - period] == tail[size - span + period :]:
            return True
        start = tail.rfind(key, 0, start + KEY - 1)
    return False
