"""Fitting every request to the model's context window, so a conversation never gets stuck.

What is kept, in this order: the system messages and tool schemas, the current question and
this turn's newest tool results, then the newest earlier turns. What gives way first: older tool
results (shortened to their first lines, then replaced by a one-line note), then the oldest turns
(dropped, with a note), then this turn's older tool results. Tool schemas that would take much
of a small window are sent compact (first sentence, no parameter descriptions). The window itself comes from
``c.KChat.context_window``, else the size a context-exceeded error named, else what the endpoint
reports, else a table of well-known models, else a safe default.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from .tokens import TokenCounter

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 8_192
"""Assumed when nothing tells the size: what small local models are usually run with."""

DEFAULT_ANSWER_TOKENS = 1_024
"""Room kept for the answer when ``c.KChat.max_answer_tokens`` is not set."""

SAFETY = 0.95
"""Share of the window a fitted prompt may fill: token counts of other tokenizers vary."""

HARDER = 0.75
"""After a context-exceeded answer, the retry fits into this share of the first attempt."""

SHORT_RESULT_TOKENS = 150
"""What an older tool result keeps when it is shortened (its summary lines come first)."""

MIN_TOOL_CHARS = 600
"""A tool result below this is useless; the next request's fitting makes room instead."""

COMPACT_TOOLS_SHARE = 0.35
"""Tool schemas above this share of the prompt's room are sent compact."""

TOOL_SHARE = 0.8
"""Share of the room left that this round's tool results may take (the rest: later rounds)."""

KNOWN_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-4.1", 1_047_576),
    ("gpt-5", 400_000),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385),
    ("o1-mini", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
)
"""Context windows of OpenAI models, by name prefix (their endpoint does not report one)."""

DROPPED_NOTE = (
    "({count} earlier messages of this conversation were left out to fit the model's context "
    "window. If the question needs them, call the tools again.)"
)


class ContextTooSmall(Exception):
    """Even the system prompt, the tools and the question alone do not fit the window."""

    def __init__(self, needed: int, window: int) -> None:
        super().__init__(f"the request needs ~{needed} tokens; the context window is {window}")
        self.needed = needed
        self.window = window


def known_window(model: str) -> int | None:
    """The window of a well-known model, or None (a provider prefix like ``openai/`` is ignored)."""
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, size in KNOWN_WINDOWS:
        if name.startswith(prefix):
            return size
    return None


def answer_reserve(window: int, max_answer_tokens: int | None) -> int:
    """Tokens kept free for the answer: the configured limit, at most an eighth of the window
    (the request's ``max_tokens`` may still use all the window the prompt leaves)."""
    wanted = max_answer_tokens or DEFAULT_ANSWER_TOKENS
    return max(64, min(wanted, window // 8))


@dataclass
class WindowInfo:
    """What is known about one model's window and how our counts compare with its server's."""

    size: int | None = None
    source: str = ""
    refused_at: int | None = None
    """The size a context-exceeded error named: it overrides even ``c.KChat.context_window``."""
    scale: float = 1.0
    """The server's prompt tokens over our estimate, when it counted more (never below 1)."""


class ContextWindows:
    """The context window per model name, learned once and shared by every conversation."""

    def __init__(
        self,
        configured: int | None = None,
        probe: Callable[[str], Awaitable[int | None]] | None = None,
    ) -> None:
        self.configured = configured
        self.probe = probe
        self._models: dict[str, WindowInfo] = {}

    def info(self, model: str) -> WindowInfo:
        return self._models.setdefault(model, WindowInfo())

    async def size(self, model: str) -> int:
        """The window to fit ``model``'s requests into (asks the endpoint once)."""
        info = self.info(model)
        if info.refused_at:
            return min(info.refused_at, self.configured or info.refused_at)
        if self.configured:
            return self.configured
        if info.size is None:
            reported = None
            if self.probe is not None:
                try:
                    reported = await self.probe(model)
                except Exception:  # an endpoint that cannot tell is not a failure
                    log.debug("no context window from the endpoint for %s", model, exc_info=True)
            if reported:
                info.size, info.source = int(reported), "endpoint"
            elif (known := known_window(model)) is not None:
                info.size, info.source = known, "known model"
            else:
                info.size, info.source = DEFAULT_WINDOW, "default"
        return info.size

    def learn_from_error(self, model: str, window: int | None, prompt_tokens: int | None,
                         estimate: int) -> None:
        """A context-exceeded answer: believe the size it names; else learn how much more the
        server counts than we do; else assume our counts are a third too low."""
        info = self.info(model)
        if window:
            info.refused_at = int(window)
            if self.configured and window < self.configured:
                log.warning("%s: the server's context window is %s tokens, not the %s of "
                            "c.KChat.context_window", model, window, self.configured)
        elif prompt_tokens and estimate:
            info.scale = max(info.scale, min(4.0, prompt_tokens / estimate))
        else:
            info.scale = min(4.0, info.scale / HARDER)

    def calibrate(self, model: str, prompt_tokens: int | None, estimate: int) -> None:
        """Compare the server's count of a prompt with ours; keep the larger ratio."""
        if prompt_tokens and estimate > 200:
            info = self.info(model)
            info.scale = max(info.scale, min(4.0, prompt_tokens / estimate))


@dataclass
class Fitted:
    """A request that fits: the messages to send and what fitting them cost."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    tokens: int
    """Estimated prompt tokens, tool schemas included, in the server's terms (scaled)."""
    limit: int
    """Prompt tokens this request may use (the window less the answer's room)."""
    dropped: int = 0
    shortened: int = 0

    @property
    def room(self) -> int:
        return max(0, self.limit - self.tokens)


NO_ANSWER_NOTE = "(No answer was given to this message.)"


def repair_roles(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert an assistant note between two user messages in a row (old or broken histories)."""
    repaired: list[dict[str, Any]] = []
    previous = ""
    for message in messages:
        role = message.get("role", "")
        if role == "user" and previous in ("user", "tool"):
            repaired.append({"role": "assistant", "content": NO_ANSWER_NOTE})
        repaired.append(message)
        if role != "system":
            previous = role
    return repaired


class _Entry:
    """One message while fitting, with its token count kept current."""

    __slots__ = ("message", "round", "tokens", "tool", "turn")

    def __init__(self, message: dict[str, Any], tokens: int, turn: int, round_: int,
                 tool: str) -> None:
        self.message = message
        self.tokens = tokens
        self.turn = turn
        self.round = round_
        self.tool = tool


def fit_request(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    counter: TokenCounter,
    window: int,
    reserve: int,
    scale: float = 1.0,
    harder: bool = False,
) -> Fitted:
    """``messages`` shortened until they fit ``window``, leaving ``reserve`` for the answer.

    The caller's messages are never changed; changed ones are copies. Raises
    :class:`ContextTooSmall` when even the fixed part and the question do not fit.
    """
    limit = int((window - reserve) * SAFETY * (HARDER if harder else 1.0))
    if tools and counter.tools(tools) * scale > limit * COMPACT_TOOLS_SHARE:
        tools = compact_tools(tools)
    head, entries = _entries(repair_roles(messages), counter)
    fixed = counter.tools(tools) + sum(counter.message(m) for m in head) + 3
    fitting = _Fitting(head, entries, counter, fixed, scale, limit)
    current = fitting.current
    last_round = max((e.round for e in entries if e.turn == current), default=0)

    def earlier_turns(entry: _Entry) -> bool:
        return bool(entry.tool) and entry.turn < current

    def earlier_rounds(entry: _Entry) -> bool:
        return bool(entry.tool) and entry.turn == current and entry.round < last_round

    if harder:
        fitting.shrink(earlier_turns, note_only=True, force=True)
    fitting.shrink(earlier_turns, note_only=False)
    fitting.shrink(earlier_turns, note_only=True)
    fitting.drop_old_turns()
    fitting.shrink(earlier_rounds, note_only=False)
    fitting.shrink(earlier_rounds, note_only=True)
    fitting.squeeze_last_round(last_round)
    if not fitting.fits():
        raise ContextTooSmall(fitting.total(), window)
    return fitting.result(tools)


def _entries(
    messages: list[dict[str, Any]], counter: TokenCounter
) -> tuple[list[dict[str, Any]], list[_Entry]]:
    """Leading system messages apart; the rest numbered by turn and, inside a turn, by round."""
    start = 0
    while start < len(messages) and messages[start].get("role") == "system":
        start += 1
    names: dict[str, str] = {}
    entries: list[_Entry] = []
    turn = round_ = 0
    for message in messages[start:]:
        role = message.get("role")
        if role == "user":
            turn, round_ = turn + 1, 0
        for call in message.get("tool_calls") or ():
            names[str(call.get("id"))] = str((call.get("function") or {}).get("name", "tool"))
        if message.get("tool_calls"):
            round_ += 1
        tool = names.get(str(message.get("tool_call_id")), "the tool") if role == "tool" else ""
        entries.append(_Entry(message, counter.message(message), turn, round_, tool))
    return messages[:start], entries


class _Fitting:
    """The state of one fitting pass: entries that may shrink, and the running total."""

    def __init__(self, head: list[dict[str, Any]], entries: list[_Entry], counter: TokenCounter,
                 fixed: int, scale: float, limit: int) -> None:
        self.head = head
        self.entries = entries
        self.counter = counter
        self.fixed = fixed
        self.scale = scale
        self.limit = limit
        self.current = max((e.turn for e in entries), default=0)
        self.dropped = 0
        self.shortened = 0
        self.note: str | None = None
        self.body = sum(e.tokens for e in entries)

    def total(self) -> int:
        return int((self.fixed + self.body) * self.scale)

    def fits(self) -> bool:
        return self.total() <= self.limit

    def _replace(self, entry: _Entry, content: str) -> None:
        entry.message = {**entry.message, "content": content}
        tokens = self.counter.message(entry.message)
        self.body += tokens - entry.tokens
        entry.tokens = tokens
        self.shortened += 1

    def shrink(
        self, select: Callable[[_Entry], bool], *, note_only: bool, force: bool = False
    ) -> None:
        """Shorten (or replace with a note) the selected tool results, oldest first, until fit.

        ``force`` shrinks every selected result, fitting or not (the retry after an error).
        """
        for entry in self.entries:
            if self.fits() and not force:
                return
            if not select(entry):
                continue
            content = str(entry.message.get("content") or "")
            if note_only:
                if not content.startswith(LEFT_OUT):
                    self._replace(entry, left_out_note(entry.tool))
            elif self.counter.count(content) > SHORT_RESULT_TOKENS:
                self._replace(entry, shorten(content, SHORT_RESULT_TOKENS, entry.tool,
                                             self.counter))

    def drop_old_turns(self) -> None:
        """Drop whole turns, oldest first, until it fits or only the current turn is left."""
        while not self.fits() and self.entries and self.entries[0].turn < self.current:
            oldest = self.entries[0].turn
            kept = [e for e in self.entries if e.turn != oldest]
            self.dropped += len(self.entries) - len(kept)
            self.body -= sum(e.tokens for e in self.entries if e.turn == oldest)
            self.entries = kept
        if self.dropped and self.note is None:
            self.note = DROPPED_NOTE.format(count=self.dropped)
            self.fixed += self.counter.count(self.note) + 2

    def squeeze_last_round(self, last_round: int) -> None:
        """This round's own results, shortened evenly to whatever room is left."""
        if self.fits():
            return
        newest = [e for e in self.entries if e.tool and e.round == last_round
                  and e.turn == self.current]
        if not newest:
            return
        others = self.total() - int(sum(e.tokens for e in newest) * self.scale)
        each = int((self.limit - others) / self.scale / len(newest)) - 40
        for entry in newest:
            content = str(entry.message.get("content") or "")
            if each > 40:
                self._replace(entry, shorten(content, each, entry.tool, self.counter))
            else:
                self._replace(entry, left_out_note(entry.tool))

    def result(self, tools: list[dict[str, Any]] | None) -> Fitted:
        head = list(self.head)
        note = self.note
        if note:
            if head:
                head[0] = {**head[0], "content": f"{head[0].get('content') or ''}\n\n{note}"}
            else:
                head = [{"role": "system", "content": note}]
        return Fitted(
            messages=[*head, *(e.message for e in self.entries)],
            tools=tools,
            tokens=self.total(),
            limit=self.limit,
            dropped=self.dropped,
            shortened=self.shortened,
        )


LEFT_OUT = "(Result left out"


def left_out_note(tool: str) -> str:
    return f"{LEFT_OUT} to fit the context window; call {tool} again if it is needed.)"


@lru_cache(maxsize=512)
def shorten(text: str, tokens: int, tool: str, counter: TokenCounter) -> str:
    """The first lines of a tool result (summaries come first) within ``tokens``, and a note.

    Cached: every request of a conversation shortens the same older results the same way."""
    lines = text.splitlines()
    fence = lines.pop() if len(lines) > 1 and lines[-1].startswith("```") else None
    kept: list[str] = []
    used = counter.count(fence or "")
    for line in lines:
        cost = counter.count(line) + 1
        if used + cost > tokens:
            break
        kept.append(line)
        used += cost
    if len(kept) == len(lines):
        return text
    if not kept and lines:
        kept = [_clip_line(lines[0], tokens * 3)]
    left = len(lines) - len(kept)
    note = (
        f"(Shortened to fit the context window: {left} more lines left out; call {tool} "
        "again, narrower, to see them.)"
    )
    return "\n".join([*kept, fence, note] if fence else [*kept, note])


def _clip_line(line: str, chars: int) -> str:
    line = re.sub(r"\s+", " ", line)
    return line if len(line) <= chars else line[: max(0, chars - 1)] + "…"


def tool_budget(fitted: Fitted, calls: int, counter: TokenCounter, ceiling: int) -> int:
    """Characters each of this round's ``calls`` tool results may take (``ceiling`` at most)."""
    room = fitted.room * TOOL_SHARE / max(1, calls)
    return max(MIN_TOOL_CHARS, min(ceiling, int(room * counter.chars_per_token)))


def compact_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same tools in fewer tokens: each description's first sentence, and parameters with
    their names, types, enums and defaults but without descriptions (shared: do not change)."""
    return _compacted(orjson.dumps(tools).decode())


@lru_cache(maxsize=8)
def _compacted(tools_json: str) -> list[dict[str, Any]]:
    compact = []
    for tool in orjson.loads(tools_json):
        function = tool.get("function") or {}
        compact.append({
            **tool,
            "function": {
                **function,
                "description": first_sentence(str(function.get("description", ""))),
                "parameters": _without_descriptions(function.get("parameters") or {}),
            },
        })
    return compact


def first_sentence(text: str) -> str:
    """Up to the first full stop: a description's gist, an error's headline."""
    match = re.match(r"(.+?[.!?])(?:\s|$)", text.strip(), re.DOTALL)
    return (match.group(1) if match else text).strip()


def _without_descriptions(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            kept[key] = {name: _without_descriptions(sub) for name, sub in value.items()}
        elif key not in ("description", "examples", "title"):
            kept[key] = _without_descriptions(value)
    return kept
