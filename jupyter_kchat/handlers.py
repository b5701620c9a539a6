"""HTTP and WebSocket handlers: parse, authorize, hand over to the turn manager. No chat logic.

Authentication and authorization are Jupyter's own, as in jupyter_server's kernel websocket:
``@ws_authenticated`` plus the authorizer for the ``kchat`` resource, Jupyter's Origin check,
pings from ``WebSocketMixin``; REST verbs use ``@web.authenticated`` then ``@authorized``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .config import KChat
from .protocol import (
    ChatFrame,
    ProtocolError,
    error_event,
    parse_body,
    parse_frame,
    with_rows,
)
from .store import HistoryStore
from .turns import LoggedEvent, Turn, TurnManager

AUTH_RESOURCE = "kchat"

_HTTP_STATUS = {
    "unknown_conversation": 404,
    "turn_in_progress": 409,
    "message_too_large": 413,
}


class KChatMixin:
    """Typed access to the services the extension put in the Tornado settings."""

    settings: dict[str, Any]

    @property
    def kchat(self) -> KChat:
        return self.settings["kchat_config"]

    @property
    def turns(self) -> TurnManager:
        return self.settings["kchat_turns"]

    @property
    def store(self) -> HistoryStore:
        return self.settings["kchat_store"]


class ChatWebSocketHandler(WebSocketMixin, WebSocketHandler, KChatMixin, JupyterHandler):  # type: ignore[misc]
    """``/ws/chat``: one socket may run and follow turns of several conversations."""

    auth_resource = AUTH_RESOURCE

    def set_default_headers(self) -> None:
        """Undo JupyterHandler's headers, which make no sense for websockets."""

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.settings.get("websocket_compression_options", None)

    @property
    def max_message_size(self) -> int:
        """Let oversized frames through to ``on_message`` (up to a hard cap) so the client gets
        a clear ``message_too_large`` error instead of a closed socket."""
        return max(self.settings.get("websocket_max_message_size", 0), 32 * 1024 * 1024)

    async def pre_get(self) -> None:
        """Authorize before the upgrade, so a refused client never reaches ``open``."""
        user = self.current_user
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, "execute", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open()
        self.set_nodelay(True)  # small frames go out at once, not after a delayed ACK

    async def on_message(self, message: str | bytes) -> None:
        """Frames are handled in order; replies go out on the turn manager's relays."""
        try:
            frame = parse_frame(message, max_message_chars=self.kchat.max_message_chars)
        except ProtocolError as exc:
            self.refuse(exc)
            return
        await self.turns.handle(frame, self)

    async def deliver(self, turn: Turn, batch: list[LoggedEvent]) -> bool:
        """Write a batch of events; waits for the last write only. False once closed."""
        try:
            for event in batch[:-1]:
                self.write_message(event.wire)
            await self.write_message(batch[-1].wire)
        except (WebSocketClosedError, StreamClosedError):
            return False
        return True

    def refuse(self, error: ProtocolError) -> None:
        try:
            self.write_message(error_event(error))
        except WebSocketClosedError:
            pass

    def on_close(self) -> None:
        """The turns keep running: a client that comes back resumes them."""
        self.turns.detach(self)


class ChatHandler(KChatMixin, APIHandler):
    """``POST api/kchat/chat``: the same turn, answered as JSON or as Server-Sent Events."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized(action="execute")
    async def post(self) -> None:
        try:
            body = orjson.loads(self.request.body or b"null")
        except orjson.JSONDecodeError as exc:
            raise web.HTTPError(400, f"the body is not valid JSON: {exc}") from None
        try:
            frame = parse_body(body, max_message_chars=self.kchat.max_message_chars)
            if not isinstance(frame, ChatFrame):
                raise ProtocolError(
                    "unsupported_type", "only chat frames can be posted; use /ws/chat for others"
                )
            turn = await self.turns.start(frame)
        except ProtocolError as exc:
            self.set_status(_HTTP_STATUS.get(exc.code, 400))
            self.finish({"error": {"code": exc.code, "message": exc.message}})
            return
        if "text/event-stream" in self.request.headers.get("Accept", ""):
            await self._stream(turn)
            return
        # Rows travel once, in tool_call_end; ?rows=1 puts them back into this one body.
        rows = self.get_query_argument("rows", "0") in ("1", "true")
        complete: dict[str, Any] = {}
        ends: dict[str, dict[str, Any]] = {}
        async for batch in turn.follow(turn.first_seq - 1):
            for event in batch:
                if event.type == "tool_call_end" and rows:
                    ends[event.data["tool_call_id"]] = event.data
                elif event.type == "complete":
                    complete = {**event.data, "conversation_id": turn.conversation_id}
        self.finish(with_rows(complete, ends) if rows else complete)

    async def _stream(self, turn: Turn) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.set_nodelay(True)
        try:
            async for batch in turn.follow(turn.first_seq - 1):
                for event in batch:
                    self.write(f"id: {event.seq}\nevent: {event.type}\ndata: {event.wire}\n\n")
                await self.flush()
        except StreamClosedError:
            return
        self.finish()


class ConversationsHandler(KChatMixin, APIHandler):
    """``GET api/kchat/conversations``: newest first."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        conversations = await self.store.list_conversations()
        for conversation in conversations:
            conversation["running"] = self.turns.running(conversation["id"])
        self.finish({"conversations": conversations})


class ConversationHandler(KChatMixin, APIHandler):
    """``GET``/``DELETE api/kchat/conversations/{id}``."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise web.HTTPError(404, f"no conversation {conversation_id!r}")
        turn = self.turns.turn(conversation_id)
        conversation["running"] = turn is not None and not turn.done
        if conversation["running"]:
            # The running turn is rebuilt from its events: keep its question, then resume.
            messages = conversation["messages"]
            asked = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
            conversation["messages"] = messages[: asked + 1]
            conversation["last_seq"] = turn.first_seq - 1
        elif turn is not None:
            conversation["last_seq"] = turn.last_seq
        self.finish(orjson.dumps(conversation, default=str))

    @web.authenticated
    @authorized
    async def delete(self, conversation_id: str) -> None:
        if self.turns.running(conversation_id):
            self.turns.cancel(conversation_id)
            turn = self.turns.turn(conversation_id)
            if turn is not None and turn.task is not None:
                await asyncio.wait([turn.task])
        if not await self.store.delete_conversation(conversation_id):
            raise web.HTTPError(404, f"no conversation {conversation_id!r}")
        self.set_status(204)
        self.finish()


_ID = r"(?P<conversation_id>[A-Za-z0-9][A-Za-z0-9_.:-]{0,127})"

default_handlers: list[tuple[str, type[web.RequestHandler]]] = [
    ("ws/chat", ChatWebSocketHandler),
    ("api/kchat/chat", ChatHandler),
    ("api/kchat/conversations", ConversationsHandler),
    (f"api/kchat/conversations/{_ID}", ConversationHandler),
]

