"""The server's tool and turn events, built in one place for the engine and the turn log.

A tool call's ``tool_call_end`` carries its rows (once); ``complete`` names every call of the
turn by id, name, status and result text, without rows. A cancelled call gets one text, whoever
closes it (the engine saving history, the turn log closing the open cards).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from .frames import Event
from .schema import PROTOCOL_VERSION

CANCELLED_TOOL_RESULT = "(no result: the call was cancelled or interrupted before it finished)"
"""What a card, the history and the model read for a call that never finished."""

ToolStatus = Literal["completed", "error", "denied", "cancelled"]


class ToolCallStartData(TypedDict):
    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]


class ToolCallEndData(ToolCallStartData):
    result: str
    status: ToolStatus
    duration_ms: float | None
    data: NotRequired[list[dict[str, Any]]]
    truncated: NotRequired[bool]
    rows_total: NotRequired[int]
    """Only where the rows were trimmed for keeping (``store.stored_view``): how many there were."""


class ToolCallSummary(ToolCallStartData):
    """A call as ``complete`` lists it: everything of ``tool_call_end`` but the rows."""

    result: str
    status: ToolStatus
    duration_ms: float | None
    row_count: NotRequired[int]
    truncated: NotRequired[bool]


class CompleteData(TypedDict):
    message: str
    tool_calls: list[ToolCallSummary]
    protocol_version: int
    usage: NotRequired[dict[str, Any]]
    cancelled: NotRequired[bool]


def tool_call_start(
    tool_call_id: str, tool_name: str, arguments: dict[str, Any]
) -> ToolCallStartData:
    return {"tool_call_id": tool_call_id, "tool_name": tool_name, "arguments": arguments}


def tool_call_end(
    start: ToolCallStartData,
    *,
    result: str,
    status: ToolStatus,
    duration_ms: float | None,
    rows: list[dict[str, Any]] | None = None,
    truncated: bool = False,
) -> ToolCallEndData:
    """``duration_ms`` is None only for a call that never finished (cancelled)."""
    end: ToolCallEndData = {
        **start,
        "result": result,
        "status": status,
        "duration_ms": duration_ms,
    }
    if rows is not None:
        end["data"] = rows
    if truncated:
        end["truncated"] = True
    return end


def cancelled_tool_call_end(start: ToolCallStartData) -> ToolCallEndData:
    return tool_call_end(start, result=CANCELLED_TOOL_RESULT, status="cancelled", duration_ms=None)


def tool_call_summary(end: ToolCallEndData) -> ToolCallSummary:
    """The call without its rows (they went once, in its ``tool_call_end``); ``row_count``
    says a table was there."""
    summary: dict[str, Any] = {key: value for key, value in end.items() if key != "data"}
    if "data" in end:
        summary["row_count"] = len(end["data"])
    return summary  # type: ignore[return-value]


def complete(
    message: str,
    ended: list[ToolCallEndData],
    *,
    usage: dict[str, Any] | None = None,
    cancelled: bool = False,
) -> CompleteData:
    """The turn's last event."""
    data: CompleteData = {
        "message": message,
        "tool_calls": [tool_call_summary(end) for end in ended],
        "protocol_version": PROTOCOL_VERSION,
    }
    if usage:
        data["usage"] = usage
    if cancelled:
        data["cancelled"] = True
    return data


def with_rows(data: dict[str, Any], ends: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``complete`` data with each call's rows put back from its ``tool_call_end`` (the HTTP
    JSON answer's ``?rows=1``: one body, no stream to read them from)."""
    calls = []
    for call in data.get("tool_calls", []):
        end = ends.get(call["tool_call_id"], {})
        rows = {"data": end["data"]} if "data" in end else {}
        calls.append({key: value for key, value in call.items() if key != "row_count"} | rows)
    return {**data, "tool_calls": calls}


class TurnAccount:
    """The engine's account of a turn (text said, calls started and ended), kept as it yields
    them, so whoever stops the turn closes it from the same record."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.open: dict[str, ToolCallStartData] = {}
        self.ended: list[ToolCallEndData] = []

    @property
    def message(self) -> str:
        return "".join(self.text)

    def say(self, text: str) -> Event:
        self.text.append(text)
        return Event("text", {"text": text})

    def start(self, start: ToolCallStartData) -> Event:
        self.open[start["tool_call_id"]] = start
        return Event("tool_call_start", dict(start))

    def end(self, end: ToolCallEndData) -> Event:
        self.open.pop(end["tool_call_id"], None)
        self.ended.append(end)
        return Event("tool_call_end", dict(end))

    def has_ended(self, tool_call_id: str) -> bool:
        return any(end["tool_call_id"] == tool_call_id for end in self.ended)

    def complete(self, usage: dict[str, Any] | None = None) -> Event:
        return Event("complete", dict(complete(self.message, self.ended, usage=usage)))

    def cancel(self) -> list[Event]:
        """The events that end a cancelled turn: each open card cancelled, then ``complete``."""
        events = [self.end(cancelled_tool_call_end(start)) for start in list(self.open.values())]
        events.append(
            Event("complete", dict(complete(self.message, self.ended, cancelled=True)))
        )
        return events
