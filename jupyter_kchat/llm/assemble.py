"""One streamed response put together: text and reasoning as they come, then the ``Completion``.

Servers differ in the details and all are taken as they are: tool calls streamed in fragments
(OpenAI, vLLM) or in one piece without ``id`` or ``index`` (llama.cpp, Ollama), content next to
tool calls in one message, no usage chunk, reasoning as a delta field or in ``<think>`` tags.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .reasoning import Reasoning, ThinkSplitter
from .repetition import RepetitionGuard
from .wire import Chunk, Delta

REPETITION = "repetition"
"""The finish reason when the repetition guard ended the answer."""


@dataclass
class ToolCallRequest:
    """A tool call as the model asked for it; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """One model response, assembled from its stream.

    ``finish_reason`` is the server's (``stop``, ``tool_calls``, ``length`` when cut at the
    answer limit) or ``repetition`` when kchat stopped a looping answer; ``usage`` is None when
    the server sent no usage.
    """

    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None


class Assembly:
    """Collects one response's chunks; ``add`` returns the pieces to show at once."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, int] | None = None
        self.runaway = False
        self._calls: dict[int, ToolCallRequest] = {}
        self._splitter: ThinkSplitter | None = ThinkSplitter()
        self._guard = RepetitionGuard()
        self._reasoning_guard = RepetitionGuard()

    @property
    def arrived(self) -> bool:
        """Whether any answer or reasoning text has arrived (then it is kept on a failure)."""
        return bool(self.text or self.reasoning)

    def add(self, chunk: Chunk, out: list[str | Reasoning]) -> None:
        """Append what ``chunk`` shows to ``out``; sets ``runaway`` when the text loops."""
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens,
                                chunk.usage.total_tokens)
        for choice in chunk.choices:
            delta = choice.delta
            if delta is not None:
                thought = delta.reasoning_content or delta.reasoning
                if thought:
                    self._think(thought, out)
                if delta.content:
                    if self._splitter is None:
                        self._answer(delta.content, out)
                    else:
                        self._split(delta.content, out)
                if delta.tool_calls:
                    self._tool_calls(delta)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def flush(self, out: list[str | Reasoning]) -> None:
        """Text a ``<think>`` splitter still holds at the end of the stream."""
        if self._splitter is not None:
            thought, answer = self._splitter.flush()
            if thought:
                self._think(thought, out)
            if answer:
                self._answer(answer, out)

    def completion(self, *, finished: bool) -> Completion:
        """The assembled response; ``finished`` when the stream ended cleanly without a reason."""
        calls = [self._calls[i] for i in sorted(self._calls)]
        reason = self.finish_reason
        if self.runaway:
            calls, reason = [], REPETITION
        elif reason is None and finished:
            reason = "tool_calls" if calls else "stop"
        for call in calls:
            call.id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        return Completion("".join(self.text), calls, reason, self.usage)

    def _split(self, content: str, out: list[str | Reasoning]) -> None:
        assert self._splitter is not None
        thought, answer = self._splitter.feed(content)
        if thought:
            self._think(thought, out)
        if answer:
            self._answer(answer, out)
            self._splitter = None

    def _answer(self, text: str, out: list[str | Reasoning]) -> None:
        self.text.append(text)
        out.append(text)
        if self._guard.feed(text):
            self.runaway = True

    def _think(self, text: str, out: list[str | Reasoning]) -> None:
        self.reasoning.append(text)
        out.append(Reasoning(text))
        if self._reasoning_guard.feed(text):
            self.runaway = True

    def _tool_calls(self, delta: Delta) -> None:
        for fragment in delta.tool_calls or ():
            function = fragment.function
            name = function.name if function is not None else None
            index = fragment.index
            if index is None:
                index = len(self._calls) if (name or fragment.id or not self._calls) else max(
                    self._calls)
            call = self._calls.get(index)
            if call is None:
                call = self._calls[index] = ToolCallRequest("", "", "")
            if fragment.id:
                call.id = fragment.id
            if name and not call.name:
                call.name = name
            if function is not None and function.arguments:
                call.arguments += function.arguments


def _usage(prompt: int | None, completion: int | None, total: int | None) -> dict[str, int]:
    usage = {"prompt_tokens": prompt or 0, "completion_tokens": completion or 0}
    usage["total_tokens"] = total if total is not None else usage["prompt_tokens"] + usage[
        "completion_tokens"]
    return usage
