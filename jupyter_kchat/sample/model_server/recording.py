"""What the demo model server saw of each chat-completions request, for tests to assert on."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ..model_faults import Fault


@dataclass
class RecordedRequest:
    """One chat-completions request as the server saw it, and how its response ended.

    ``body`` is the parsed JSON (None when it was not a JSON object), ``fault`` the fault it
    consumed, ``status`` the HTTP status (set before the first byte is sent), ``chunks_sent``
    the SSE frames flushed (the closing finish/usage/[DONE] frames included), ``arrived_at``
    and ``first_chunk_at`` the ``time.perf_counter()`` (one clock for every process of the
    machine) when the request came in and its first SSE frame was flushed, for benchmarks;
    ``peer`` the client's ``host:port`` (one per connection).
    ``disconnected`` is set when the client closed the connection before the response was
    complete (not when a ``cut_after`` fault or ``stop()`` closed it); ``finished`` when the
    server is done with the request, however it ended. The events belong to the server's loop:
    await them there (``ModelServer.submit`` from another thread); ``is_set()`` works anywhere.
    """

    index: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    fault: Fault | None = None
    status: int | None = None
    chunks_sent: int = 0
    arrived_at: float = field(default_factory=time.perf_counter)
    first_chunk_at: float | None = None
    peer: str = ""
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools the request offered."""
        tools = (self.body or {}).get("tools") or []
        return [
            str(tool.get("function", {}).get("name"))
            for tool in tools
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "path": self.path,
            "body": self.body,
            "fault": self.fault.to_json() if self.fault else None,
            "status": self.status,
            "chunks_sent": self.chunks_sent,
            "arrived_at": self.arrived_at,
            "first_chunk_at": self.first_chunk_at,
            "disconnected": self.disconnected.is_set(),
            "finished": self.finished.is_set(),
        }

