"""What the demo model answers to a request, sized in the demo's tokens and cut by its limits.

``decide`` turns a validated request into a :class:`Reply` (content pieces, tool calls, usage,
finish reason) that either wire format can send; ``refusal`` is the error a real server answers
instead (a field it does not support, a prompt over its context).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .. import demo_model
from ..model_faults import Fault, Quirks, context_error
from .errors import error_body

CHARS_PER_TOKEN = 4
"""The demo's tokenizer: a token is four bytes of the request, four characters of the answer."""
PREAMBLE = "Let me look that up in the cluster."
"""The sentence models write before their tool calls when they talk and call at once."""


def prompt_tokens(raw_body: bytes) -> int:
    """The prompt's size in tokens, as usage reports it and the context limit counts it."""
    return max(1, len(raw_body) // CHARS_PER_TOKEN)


def _tokens(chunks: list[str], calls: list[tuple[str, str, str]]) -> int:
    size = sum(map(len, chunks)) + sum(len(name) + len(args) for _, name, args in calls)
    return size // CHARS_PER_TOKEN


def _cut_chunks(chunks: list[str], chars: int) -> list[str]:
    """The first ``chars`` characters of the answer, in the same pieces."""
    kept: list[str] = []
    for piece in chunks:
        if chars <= 0:
            break
        kept.append(piece[:chars])
        chars -= len(piece)
    return kept


def _reasoning_text(body: dict[str, Any], calls: list[tuple[str, str, str]]) -> str:
    """A short, deterministic line of thought about the request."""
    if calls:
        names = ", ".join(name for _, name, _ in calls)
        return f"The user wants facts from the cluster. I should call {names} first."
    return "I have what I need. I will answer briefly in Markdown."


def _bad_arguments(arguments: str) -> str:
    """A proper prefix of a JSON object: never valid JSON, like a model cut off mid-call."""
    cut = max(1, min(len(arguments) - 1, (len(arguments) * 3) // 4))
    return arguments[:cut] if len(arguments) > 1 else '{"'


@dataclass
class Reply:
    """The decided response, ready for either the streamed or the plain format.

    ``chunks`` are the content deltas (a ``<think>`` block included when the quirks ask for
    one), ``reasoning`` the text of reasoning deltas.
    """

    chunks: list[str]
    calls: list[tuple[str, str, str]]
    usage: dict[str, int]
    finish_reason: str
    reasoning: str = ""

    @property
    def text(self) -> str:
        return "".join(self.chunks)



def refusal(
    body: dict[str, Any], raw_body: bytes, quirks: Quirks, fault: Fault | None
) -> tuple[dict[str, Any], int] | None:
    """A refused field or a prompt over the context limit, answered as the real server."""
    if quirks.refuse_field is not None and quirks.refuse_field in body:
        other = "max_tokens" if quirks.refuse_field != "max_tokens" else (
            "max_completion_tokens")
        return error_body(
            f"Unsupported parameter: '{quirks.refuse_field}' is not supported with this "
            f"model. Use '{other}' instead.", "invalid_request_error",
            "unsupported_parameter", quirks.refuse_field,
        ), 400
    prompt = prompt_tokens(raw_body)
    if fault is not None and fault.kind == "context_exceeded":
        return context_error(fault.style, max(prompt, fault.window + 1), fault.window)
    window = quirks.context_window
    if window is not None and prompt >= window:
        return context_error(quirks.context_style, prompt, window)
    return None


def decide(body: dict[str, Any], raw_body: bytes, quirks: Quirks, fault: Fault | None) -> Reply:
    """The demo model's answer to ``body``, shaped by the quirks and the fault."""
    tools = body.get("tools")
    if body.get("tool_choice") == "none":
        tools = None
    decision = demo_model.decide(body["messages"], tools)
    chunks = decision.text_chunks()
    calls = [
        (f"call_{uuid.uuid4().hex[:24]}", call.name, call.arguments_json())
        for call in decision.tool_calls
    ]
    if fault is not None and fault.kind == "bad_tool_arguments" and calls:
        call_id, name, arguments = calls[0]
        calls[0] = (call_id, name, _bad_arguments(arguments))
    if fault is not None and fault.kind == "repeat":
        chunks, calls = [fault.message or ""] * fault.chunks, []
    if quirks.text_with_tool_calls and calls and not "".join(chunks):
        chunks = demo_model.split_text(PREAMBLE)
    reasoning = _reasoning_text(body, calls) if quirks.reasoning else ""
    prompt = prompt_tokens(raw_body)
    finish = "tool_calls" if calls else "stop"
    limit = _answer_limit(body, prompt, quirks)
    if limit is not None and _tokens(chunks, calls) > limit:
        chunks, calls, finish = _cut_chunks(chunks, limit * CHARS_PER_TOKEN), [], "length"
    if quirks.reasoning == "think":
        chunks = demo_model.split_arguments(f"<think>\n{reasoning}\n</think>\n\n") + chunks
        reasoning = ""
    completion = max(1, _tokens(chunks, calls))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return Reply(chunks, calls, usage, finish, reasoning)


def _answer_limit(body: dict[str, Any], prompt: int, quirks: Quirks) -> int | None:
    """Tokens the answer may have: max_tokens when honoured, and what the context leaves."""
    limits: list[int] = []
    if quirks.honour_max_tokens:
        for name in ("max_completion_tokens", "max_tokens"):
            value = body.get(name)
            if isinstance(value, int) and value > 0:
                limits.append(value)
    if quirks.context_window is not None:
        limits.append(max(1, quirks.context_window - prompt))
    return min(limits) if limits else None
