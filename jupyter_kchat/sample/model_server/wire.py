"""OpenAI's response bodies: a ``chat.completion`` object, or the SSE chunks of a streamed one.

Streamed chunks are pre-encoded around a fixed prefix and suffix, so the demo model can send
10,000 of them a second; the tool-call shapes follow the quirks (fragments with ids, or whole
calls without, as llama.cpp sends them).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from .. import demo_model
from ..model_faults import Quirks
from .reply import Reply

DONE_FRAME = b"data: [DONE]\n\n"


class Frames:
    """Pre-encoded SSE frames of one streamed completion: a fixed prefix, the delta, a suffix."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.include_usage = include_usage
        self._head = (
            b'data: {"id":' + orjson.dumps(completion_id)
            + b',"object":"chat.completion.chunk","created":' + str(created).encode()
            + b',"model":' + orjson.dumps(model)
            + b',"system_fingerprint":"fp_kchat_demo","choices":[{"index":0,"delta":'
        )
        self._usage_null = b',"usage":null' if include_usage else b""
        self._tail = b',"logprobs":null,"finish_reason":null}]' + self._usage_null + b"}\n\n"

    def delta(self, delta: dict[str, Any]) -> bytes:
        return self._head + orjson.dumps(delta) + self._tail

    def content(self, piece: str, *, role: bool) -> bytes:
        start = b'{"role":"assistant","content":' if role else b'{"content":'
        return self._head + start + orjson.dumps(piece) + b"}" + self._tail

    def finish(self, reason: str) -> bytes:
        return (
            self._head + b'{},"logprobs":null,"finish_reason":' + orjson.dumps(reason) + b"}]"
            + self._usage_null + b"}\n\n"
        )

    def usage(self, usage: dict[str, int]) -> bytes:
        return b"data: " + orjson.dumps(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_kchat_demo",
                "choices": [],
                "usage": usage,
            }
        ) + b"\n\n"


def tool_call(call_id: str, name: str, arguments: str, quirks: Quirks) -> dict[str, Any]:
    """A whole tool call; llama.cpp's come without an ``id``."""
    call: dict[str, Any] = {"type": "function",
                            "function": {"name": name, "arguments": arguments}}
    if not quirks.tool_calls_whole:
        call["id"] = call_id
    return call


def completion_body(model: str, reply: Reply, quirks: Quirks) -> bytes:
    """The plain (not streamed) ``chat.completion`` object of a reply."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text or None,
        "refusal": None,
        "annotations": [],
    }
    if reply.reasoning:
        message[quirks.reasoning or "reasoning_content"] = reply.reasoning
    if reply.calls:
        message["tool_calls"] = [
            tool_call(call_id, name, arguments, quirks) for call_id, name, arguments in reply.calls
        ]
    return orjson.dumps(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_kchat_demo",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": reply.usage,
        }
    )


def body_frames(frames: Frames, reply: Reply, quirks: Quirks) -> Iterator[bytes]:
    """The body chunks (role, reasoning and content pieces, tool calls as headers and
    argument fragments, or whole)."""
    role = True
    field = quirks.reasoning
    for piece in demo_model.split_text(reply.reasoning) if reply.reasoning else ():
        delta: dict[str, Any] = {field or "reasoning_content": piece}
        yield frames.delta({"role": "assistant", "content": None, **delta} if role else delta)
        role = False
    for piece in reply.chunks:
        yield frames.content(piece, role=role)
        role = False
    for index, (call_id, name, arguments) in enumerate(reply.calls):
        if quirks.tool_calls_whole:
            yield frames.delta(
                {"tool_calls": [{"index": index, **tool_call(call_id, name, arguments, quirks)}]}
            )
            continue
        header: dict[str, Any] = {
            "tool_calls": [
                {"index": index, "id": call_id, "type": "function",
                 "function": {"name": name, "arguments": ""}}
            ]
        }
        if role:
            header = {"role": "assistant", "content": None, **header}
            role = False
        yield frames.delta(header)
        for fragment in demo_model.split_arguments(arguments):
            yield frames.delta(
                {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
            )
    if role:
        yield frames.content("", role=True)
