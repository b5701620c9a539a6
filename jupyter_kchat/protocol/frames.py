"""Client frames of the kchat wire protocol: parsed and validated here, refused precisely.

Handlers parse frames here; ``encode_event`` is the one place an event becomes wire text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

EventType = Literal[
    "thinking",
    "text",
    "tool_call_start",
    "approval_required",
    "tool_call_end",
    "error",
    "complete",
]
EVENT_TYPES: frozenset[str] = frozenset(EventType.__args__)  # type: ignore[attr-defined]
TOOL_STATUSES = ("completed", "error", "denied", "cancelled")

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ProtocolError(Exception):
    """A frame the server refuses; becomes an ``error`` event with this code."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        conversation_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.conversation_id = conversation_id
        self.client_id = client_id


@dataclass
class Event:
    """One server event before it is numbered: the engine yields these."""

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChatFrame:
    """A user message: starts a turn (and a conversation when ``conversation_id`` is None)."""

    message: str
    conversation_id: str | None = None
    model: str | None = None
    context: str | None = None
    namespace: str | None = None
    client_id: str | None = None
    cell: dict[str, str] | None = None


@dataclass
class CancelFrame:
    conversation_id: str


@dataclass
class ApproveFrame:
    tool_call_id: str
    approved: bool


@dataclass
class ResumeFrame:
    conversation_id: str
    after_seq: int


ClientFrame = ChatFrame | CancelFrame | ApproveFrame | ResumeFrame


def _optional_str(
    body: dict[str, Any], key: str, *, max_len: int = 256, **ids: str | None
) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ProtocolError(
            f"invalid_{key}", f"'{key}' must be a string of at most {max_len} characters", **ids
        )
    return value or None


def _conversation_id(body: dict[str, Any], *, required: bool, client_id: str | None = None) -> Any:
    value = body.get("conversation_id")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ProtocolError(
            "invalid_conversation_id",
            "'conversation_id' must be null or an id such as the one the server sent "
            "(letters, digits, '-', '_', at most 128 characters)",
            client_id=client_id,
        )
    return value


def parse_body(body: Any, *, max_message_chars: int) -> ClientFrame:
    """Validate one decoded client frame; raises ProtocolError with a precise code."""
    if not isinstance(body, dict):
        raise ProtocolError("invalid_frame", "a frame must be a JSON object")
    kind = body.get("type", "chat")
    if kind == "chat":
        return _parse_chat(body, max_message_chars=max_message_chars)
    if kind == "cancel":
        return CancelFrame(conversation_id=_conversation_id(body, required=True))
    if kind == "approve":
        tool_call_id = body.get("tool_call_id")
        if not isinstance(tool_call_id, str) or not tool_call_id:
            raise ProtocolError("invalid_tool_call_id", "'tool_call_id' must be a string")
        approved = body.get("approved")
        if not isinstance(approved, bool):
            raise ProtocolError("invalid_approved", "'approved' must be true or false")
        return ApproveFrame(tool_call_id=tool_call_id, approved=approved)
    if kind == "resume":
        conversation_id = _conversation_id(body, required=True)
        after_seq = body.get("after_seq", 0)
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            raise ProtocolError(
                "invalid_after_seq",
                "'after_seq' must be a non-negative integer",
                conversation_id=conversation_id,
            )
        return ResumeFrame(conversation_id=conversation_id, after_seq=after_seq)
    shown = kind if isinstance(kind, str) else type(kind).__name__
    raise ProtocolError(
        "unknown_type",
        f"unknown frame type {shown[:40]!r}; expected chat, cancel, approve or resume",
    )


def _parse_chat(body: dict[str, Any], *, max_message_chars: int) -> ChatFrame:
    client_id = body.get("client_id") if isinstance(body.get("client_id"), str) else None
    ids = {"client_id": client_id}
    conversation_id = _conversation_id(body, required=False, client_id=client_id)
    ids["conversation_id"] = conversation_id
    message = body.get("message")
    if not isinstance(message, str):
        raise ProtocolError("invalid_message", "'message' must be a string", **ids)
    if not message.strip():
        raise ProtocolError("invalid_message", "'message' is empty", **ids)
    if len(message) > max_message_chars:
        raise ProtocolError(
            "message_too_large",
            f"the message has {len(message):,} characters; the limit is {max_message_chars:,}. "
            "Send a shorter question, or attach only the relevant part of a log.",
            **ids,
        )
    namespace = _optional_str(body, "namespace", max_len=63, **ids)
    if namespace is not None and not _DNS_LABEL_RE.match(namespace):
        raise ProtocolError(
            "invalid_namespace", f"{namespace!r} is not a valid namespace name", **ids
        )
    cell = body.get("cell")
    if cell is not None:
        if not isinstance(cell, dict) or not isinstance(cell.get("source"), str):
            raise ProtocolError(
                "invalid_cell", "'cell' must be an object with a string 'source'", **ids
            )
        language = cell.get("language") if isinstance(cell.get("language"), str) else ""
        cell = {"source": cell["source"][:max_message_chars], "language": language or ""}
    return ChatFrame(
        message=message,
        conversation_id=conversation_id,
        model=_optional_str(body, "model", **ids),
        context=_optional_str(body, "context", **ids),
        namespace=namespace,
        client_id=_optional_str(body, "client_id", max_len=128),
        cell=cell,
    )


def parse_frame(raw: str | bytes, *, max_message_chars: int) -> ClientFrame:
    """Decode and validate one WebSocket text frame."""
    if isinstance(raw, bytes):
        raise ProtocolError("invalid_frame", "frames must be JSON text, not binary")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("invalid_json", f"the frame is not valid JSON: {exc}") from None
    return parse_body(body, max_message_chars=max_message_chars)


def encode_event(
    event_type: str, data: dict[str, Any], *, conversation_id: str | None, seq: int
) -> str:
    """The wire form of an event; ``conversation_id`` goes into ``data`` as the contract says."""
    payload = {"type": event_type, "data": {**data, "conversation_id": conversation_id}, "seq": seq}
    return orjson.dumps(payload, default=str).decode()


def error_event(error: ProtocolError) -> str:
    """A connection-level error (``seq`` 0): the frame started no turn, so no ``complete``."""
    data: dict[str, Any] = {"message": error.message, "code": error.code, "retryable": False}
    if error.client_id:
        data["client_id"] = error.client_id
    return encode_event("error", data, conversation_id=error.conversation_id, seq=0)
