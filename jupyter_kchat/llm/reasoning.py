"""Reasoning that arrives inside the answer text, as ``<think>...</think>`` (Qwen3, DeepSeek-R1
served without a reasoning parser), split from the answer even when a tag is cut across chunks.

Only a block that opens the message counts: the word ``<think>`` later in an answer is text.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN = "<think>"
CLOSE = "</think>"


@dataclass(frozen=True)
class Reasoning:
    """A piece of the model's reasoning: shown apart, never part of the answer text."""

    text: str


class ThinkSplitter:
    """Feed content pieces in order; get back ``(reasoning, answer)`` text for each."""

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> after (blank) -> answer, or start -> answer
        self._held = ""

    def feed(self, piece: str) -> tuple[str, str]:
        if self._state == "answer":
            return "", piece
        text = self._held + piece
        self._held = ""
        if self._state == "after":
            text = text.lstrip()
            if text:
                self._state = "answer"
            return "", text
        if self._state == "start":
            stripped = text.lstrip()
            if not stripped or (len(stripped) < len(OPEN) and OPEN.startswith(stripped)):
                self._held = text
                return "", ""
            if not stripped.startswith(OPEN):
                self._state = "answer"
                return "", text
            self._state = "thinking"
            text = stripped[len(OPEN):]
        end = text.find(CLOSE)
        if end >= 0:
            answer = text[end + len(CLOSE):].lstrip()
            self._state = "answer" if answer else "after"
            return text[:end], answer
        keep = _partial_suffix(text, CLOSE)
        if keep:
            self._held = text[-keep:]
            text = text[:-keep]
        return text, ""

    def flush(self) -> tuple[str, str]:
        """What is still held when the stream ends (an unclosed block stays reasoning)."""
        held, self._held = self._held, ""
        if self._state == "thinking":
            return held, ""
        return "", held


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
