"""Conversation history in SQLite: what was said survives restarts and is shared with kernels.

One connection per process through aiosqlite (its own thread), WAL so the server and kernels
can read while another writes. Writes are per message, never per streamed chunk.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from .protocol import CANCELLED_TOOL_RESULT

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    model TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT,
    tool_calls TEXT,
    tool_call_id TEXT,
    tool TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated DESC);
CREATE TRIGGER IF NOT EXISTS message_touches_conversation AFTER INSERT ON messages
BEGIN
    UPDATE conversations SET updated = NEW.created WHERE id = NEW.conversation_id;
END;
"""

INTERRUPTED_TOOL_RESULT = CANCELLED_TOOL_RESULT

STORED_ROWS = 1_000
"""Rows a tool call keeps in history (docs/protocol.md): enough for a reload's table and a
notebook's ``to_dataframe()`` of what the answer was about; a 10,000-pod list keeps its first
rows (the ones that need attention come first) and ``rows_total`` says how many there were."""


def _dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def _loads(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


def stored_view(tool: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tool call as history (and a ``ChatWidget``'s saved ``events``) keeps it: at most
    ``STORED_ROWS`` rows, and ``rows_total`` (the call's full count) when it had more, so a
    reloaded or replayed table says it is trimmed."""
    if tool is None or len(tool.get("data") or ()) <= STORED_ROWS:
        return tool
    return {**tool, "data": tool["data"][:STORED_ROWS], "rows_total": len(tool["data"])}


class HistoryStore:
    """Async access to the history database; open once, share, close on shutdown."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._opening: asyncio.Future[aiosqlite.Connection] | None = None

    async def open(self) -> None:
        """Connect and create the schema; safe to call again (and called by every method).

        The connection is made in a task of its own that a cancelled caller does not stop:
        cancelled half-way, aiosqlite's thread would be left behind without its connection
        and keep the process alive after shutdown (a server stopped while it warms up).
        """
        if self._db is not None:
            return
        if self._opening is None or self._opening.cancelled():
            self._opening = asyncio.ensure_future(self._connect())
        opening = self._opening
        try:
            db = await asyncio.shield(opening)
        except asyncio.CancelledError:
            raise
        except BaseException:
            if self._opening is opening:
                self._opening = None  # the next call tries again
            raise
        self._db = db

    async def _connect(self) -> aiosqlite.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every write is one statement and one hop to the database thread.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.executescript(SCHEMA)
        return db

    async def close(self) -> None:
        """Close the connection, also one still being made when this is called."""
        opening, self._opening = self._opening, None
        if self._db is None and opening is not None and not opening.cancelled():
            try:
                self._db = await opening
            except Exception:
                return  # it never connected: nothing to close
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _ready(self) -> aiosqlite.Connection:
        await self.open()
        assert self._db is not None
        return self._db

    async def create_conversation(self, conversation_id: str, title: str, model: str) -> None:
        db = await self._ready()
        now = time.time()
        await db.execute(
            "INSERT INTO conversations (id, title, created, updated, model) VALUES (?, ?, ?, ?, ?)",
            (conversation_id, title[:120], now, now, model),
        )

    async def last_seq(self, conversation_id: str) -> int | None:
        """The conversation's last event ``seq``; None when there is no such conversation (one
        query for both, before a follow-up's first token)."""
        db = await self._ready()
        async with db.execute(
            "SELECT last_seq FROM conversations WHERE id = ?", (conversation_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else None

    async def append_message(
        self, conversation_id: str, message: dict[str, Any], tool: dict[str, Any] | None = None
    ) -> None:
        """Keep one model message (user, assistant, tool) with the UI's view of a tool call
        (its rows bounded, see ``stored_view``)."""
        db = await self._ready()
        now = time.time()
        await db.execute(
            "INSERT INTO messages (conversation_id, role, content, tool_calls, tool_call_id, tool,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                message["role"],
                message.get("content"),
                _dumps(message.get("tool_calls")),
                message.get("tool_call_id"),
                _dumps(stored_view(tool)),
                now,
            ),
        )

    async def set_last_seq(self, conversation_id: str, seq: int) -> None:
        db = await self._ready()
        await db.execute(
            "UPDATE conversations SET last_seq = ? WHERE id = ?", (seq, conversation_id)
        )

    async def list_conversations(self, limit: int = 200) -> list[dict[str, Any]]:
        db = await self._ready()
        async with db.execute(
            "SELECT id, title, created, updated, model FROM conversations"
            " ORDER BY updated DESC LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            {"id": r[0], "title": r[1], "created": r[2], "updated": r[3], "model": r[4]}
            for r in rows
        ]

    async def _messages(self, conversation_id: str) -> list[dict[str, Any]]:
        db = await self._ready()
        async with db.execute(
            "SELECT role, content, tool_calls, tool_call_id, tool FROM messages"
            " WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        messages = []
        for role, content, tool_calls, tool_call_id, tool in rows:
            message: dict[str, Any] = {"role": role, "content": content}
            if tool_calls:
                message["tool_calls"] = _loads(tool_calls)
            if tool_call_id:
                message["tool_call_id"] = tool_call_id
            if tool:
                message["tool"] = _loads(tool)
            messages.append(message)
        return messages

    async def get_conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """A conversation as UIs show it: messages with each tool call's result and rows."""
        db = await self._ready()
        async with db.execute(
            "SELECT id, title, created, updated, model, last_seq FROM conversations WHERE id = ?",
            (conversation_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "title": row[1],
            "created": row[2],
            "updated": row[3],
            "model": row[4],
            "last_seq": row[5],
            "messages": await self._messages(conversation_id),
        }

    async def delete_conversation(self, conversation_id: str) -> bool:
        db = await self._ready()
        cursor = await db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return cursor.rowcount > 0

    async def model_history(self, conversation_id: str, max_messages: int) -> list[dict[str, Any]]:
        """Earlier messages as the model expects them, repaired and trimmed.

        A turn cut short (cancel, crash) can leave an assistant tool call without its result;
        the API rejects that, so the missing results are filled in. Trimming starts at a user
        message so no tool result is separated from its call.
        """
        history: list[dict[str, Any]] = []
        pending: list[str] = []
        for message in await self._messages(conversation_id):
            message.pop("tool", None)
            if message["role"] != "tool" and pending:
                history.extend(_interrupted(pending))
                pending = []
            if message["role"] == "tool":
                if message.get("tool_call_id") not in pending:
                    continue
                pending.remove(message["tool_call_id"])
            elif message.get("tool_calls"):
                pending = [call["id"] for call in message["tool_calls"]]
            history.append(message)
        history.extend(_interrupted(pending))
        if len(history) > max_messages:
            history = history[-max_messages:]
            while history and history[0]["role"] != "user":
                history.pop(0)
        return history


def _interrupted(tool_call_ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call_id, "content": INTERRUPTED_TOOL_RESULT}
        for call_id in tool_call_ids
    ]
