"""The kchat wire protocol (v1), defined once in ``schema.json`` next to this package.

The only Python package that knows the JSON shapes (the prose is docs/protocol.md): ``frames``
parses what clients send, ``events`` builds what the server sends, ``envelope`` wraps them for
the notebook widget, ``schema`` checks all of it against the schema the TypeScript types are
generated from.
"""

from .events import (
    CANCELLED_TOOL_RESULT,
    PROTOCOL_VERSION,
    CompleteData,
    ToolCallEndData,
    ToolCallStartData,
    ToolCallSummary,
    TurnAccount,
    cancelled_tool_call_end,
    complete,
    tool_call_end,
    tool_call_start,
    tool_call_summary,
    with_rows,
)
from .frames import (
    EVENT_TYPES,
    TOOL_STATUSES,
    ApproveFrame,
    CancelFrame,
    ChatFrame,
    ClientFrame,
    Event,
    EventType,
    ProtocolError,
    ResumeFrame,
    encode_event,
    error_event,
    parse_body,
    parse_frame,
)

__all__ = [
    "CANCELLED_TOOL_RESULT",
    "EVENT_TYPES",
    "PROTOCOL_VERSION",
    "TOOL_STATUSES",
    "ApproveFrame",
    "CancelFrame",
    "ChatFrame",
    "ClientFrame",
    "CompleteData",
    "Event",
    "EventType",
    "ProtocolError",
    "ResumeFrame",
    "ToolCallEndData",
    "ToolCallStartData",
    "ToolCallSummary",
    "TurnAccount",
    "cancelled_tool_call_end",
    "complete",
    "encode_event",
    "error_event",
    "parse_body",
    "parse_frame",
    "tool_call_end",
    "tool_call_start",
    "tool_call_summary",
    "with_rows",
]
