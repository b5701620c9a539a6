"""The chat-completions stream on the wire: server-sent events into typed chunks.

The ``openai`` SDK builds a pydantic object per chunk, which costs more than everything else kchat
does with it; msgspec decodes the few fields used straight from the bytes into these Structs, one
code path for every endpoint (OpenAI, vLLM, llama.cpp, Ollama, LM Studio, LiteLLM).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec


class FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct):
    """A tool-call fragment; ``index`` is missing on some servers (one call per fragment)."""

    index: int | None = None
    id: str | None = None
    function: FunctionDelta | None = None


class Delta(msgspec.Struct):
    """``reasoning_content`` (DeepSeek, llama.cpp, older vLLM) or ``reasoning`` (vLLM, Ollama)."""

    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class Choice(msgspec.Struct):
    delta: Delta | None = None
    finish_reason: str | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class Chunk(msgspec.Struct):
    """One ``chat.completion.chunk``; ``error`` is set when a server reports a fault in-stream."""

    id: str | None = None
    choices: list[Choice] = []
    usage: Usage | None = None
    error: msgspec.Raw = msgspec.Raw()


DONE = b"[DONE]"
MAX_EVENT_BYTES = 8 * 1024 * 1024
"""Largest event kept whole; a server that sends more without a line break is refused."""


class SSEEvent(msgspec.Struct):
    """One dispatched event: its ``data`` (lines joined) and whether it was an error event."""

    data: bytes
    error: bool = False


async def sse_events(raw: AsyncIterator[bytes]) -> AsyncIterator[list[SSEEvent]]:
    """Group the byte stream into SSE events, one list per network read (none for a comment).

    Follows the SSE rules that matter here: ``data:`` lines of one event are joined with newlines,
    a blank line dispatches, ``event: error`` marks an error, comments and other fields are
    skipped. llama.cpp's non-standard ``error: {...}`` line counts as an error event too.
    """
    rest = b""
    data: list[bytes] = []
    error = False
    async for piece in raw:
        lines = (rest + piece).split(b"\n") if rest else piece.split(b"\n")
        rest = lines.pop()
        if len(rest) > MAX_EVENT_BYTES or sum(map(len, data)) > MAX_EVENT_BYTES:
            raise ValueError(f"an event of more than {MAX_EVENT_BYTES:,} bytes")
        events: list[SSEEvent] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    events.append(SSEEvent(b"\n".join(data), error))
                data, error = [], False
            elif line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"error:"):
                data.append(line[6:].lstrip())
                error = True
            elif line.startswith(b"event:"):
                error = line[6:].strip() == b"error"
        yield events
    if rest.startswith(b"data:"):
        data.append(rest[5:].lstrip())
    if data:
        yield [SSEEvent(b"\n".join(data), error)]
