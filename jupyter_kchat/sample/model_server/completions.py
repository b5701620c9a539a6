"""``POST /v1/chat/completions``: the demo model's answer, plain or streamed, faults applied.

The handler validates, asks ``reply.decide`` for the answer and writes it in the format asked
for; a fault can refuse, hang, slow, stall or cut the answer the way real endpoints fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from asyncio import Future
from typing import TYPE_CHECKING, Any

from tornado.iostream import StreamClosedError

from ..model_faults import Fault, stream_error_frame
from .errors import RequestError, status_error, validate
from .handlers import BaseHandler
from .recording import RecordedRequest
from .reply import Reply, decide, refusal
from .wire import DONE_FRAME, Frames, body_frames, completion_body

if TYPE_CHECKING:
    from .server import ModelServer

YIELD_EVERY = 64
"""With no chunk delay, let other connections run after this many chunks."""


class ChatCompletionsHandler(BaseHandler):
    """``POST /v1/chat/completions``: decide with the demo model, answer plain or as SSE."""

    def initialize(self, server: ModelServer) -> None:
        super().initialize(server)
        self.record: RecordedRequest | None = None
        self.gone = asyncio.Event()
        self.cutting = False

    def on_connection_close(self) -> None:
        """The client went away (or we cut the connection): stop streaming, tell the tests."""
        self.gone.set()
        record = self.record
        if (
            record is not None
            and not record.finished.is_set()
            and not self.cutting
            and not self.model_server.stopping
        ):
            record.disconnected.set()

    def flush(self, include_footers: bool = False) -> Future[None]:
        """Record the status before the first bytes leave, so a client never sees it unset."""
        if self.record is not None and self.record.status is None:
            self.record.status = self.get_status()
        return super().flush(include_footers)

    async def post(self) -> None:
        record = self.model_server.record(self.request)
        self.record = record
        try:
            await self._respond(record)
        finally:
            record.status = self.get_status()
            record.finished.set()

    async def _respond(self, record: RecordedRequest) -> None:
        fault = self.model_server.faults.pop()
        record.fault = fault
        try:
            if fault is not None and fault.kind == "status":
                raise status_error(fault, record.body, self.model_server.model)
            self.check_api_key()
            if record.body is None:
                raise RequestError(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means "
                    "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                    "payload.)",
                )
            body = validate(record.body, strict=self.model_server.strict)
        except RequestError as error:
            headers = {}
            if fault is not None and fault.kind == "status" and fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            self.send_error_body(error, headers)
            return
        refused = refusal(body, self.request.body, self.model_server.quirks, fault)
        if refused is not None:
            self.send_json(*refused)
            return
        reply = decide(body, self.request.body, self.model_server.quirks, fault)
        if fault is not None and fault.kind == "hang":
            await self._hang(streaming=body.get("stream") is True)
            return
        if body.get("stream") is True:
            await self._stream(body, reply, fault, record)
        else:
            await self._complete(body, reply, fault)

    async def _hang(self, *, streaming: bool) -> None:
        if streaming:
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone()
            return
        await self.gone.wait()

    def _client_gone(self) -> None:
        self.gone.set()
        if self.record is not None and not self.model_server.stopping:
            self.record.disconnected.set()

    async def _pause(self, delay: float) -> None:
        """Sleep between chunks, but wake at once when the client leaves."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gone.wait(), delay)

    def _cut(self) -> None:
        """Drop the connection mid-body, as a crashed or killed upstream would."""
        self.cutting = True
        self.gone.set()
        assert self.request.connection is not None
        self.request.connection.close()  # type: ignore[attr-defined]

    async def _complete(self, body: dict[str, Any], reply: Reply, fault: Fault | None) -> None:
        payload = completion_body(body["model"], reply, self.model_server.quirks)
        if fault is not None and fault.kind == "slow":
            await self._pause(fault.delay)
            if self.gone.is_set():
                return
        if fault is not None and fault.kind == "cut_after":
            self.write(payload[: len(payload) // 2])
            try:
                await self.flush()
            except StreamClosedError:
                self._client_gone()
                return
            self._cut()
            return
        self.finish(payload)

    async def _stream(
        self, body: dict[str, Any], reply: Reply, fault: Fault | None, record: RecordedRequest
    ) -> None:
        options = body.get("stream_options")
        include_usage = (
            isinstance(options, dict) and options.get("include_usage") is True
            and self.model_server.quirks.usage_chunk
        )
        frames = Frames(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body["model"],
                        include_usage)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        delay = self.model_server.chunk_delay
        if fault is not None and fault.kind == "slow":
            delay = fault.delay
        cutting = fault is not None and fault.kind in ("cut_after", "error_after")
        limit = fault.chunks if fault is not None and cutting else None
        stall = fault.chunks if fault is not None and fault.kind == "stall_after" else None
        if fault is not None and fault.kind == "first_chunk_after":
            stall = 0
        sent = 0
        for frame in body_frames(frames, reply, self.model_server.quirks):
            if limit is not None and sent >= limit:
                break
            if stall is not None and sent == stall:
                assert fault is not None
                if not await self._send(b""):
                    return
                await self._pause(fault.delay)
                if self.gone.is_set():
                    return
            if not await self._send(frame):
                return
            sent += 1
            record.chunks_sent = sent
            if sent == 1:
                record.first_chunk_at = time.perf_counter()
            if delay > 0:
                await self._pause(delay)
                if self.gone.is_set():
                    return
            elif sent % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        if limit is not None:
            assert fault is not None
            frame = stream_error_frame(fault.style) if fault.kind == "error_after" else b""
            if (sent == 0 or frame) and not await self._send(frame):
                return
            self._cut()
            return
        tail = [frames.finish(reply.finish_reason)]
        if include_usage:
            tail.append(frames.usage(reply.usage))
        tail.append(DONE_FRAME)
        for frame in tail:
            if not await self._send(frame):
                return
            sent += 1
        record.chunks_sent = sent
        self.finish()

    async def _send(self, frame: bytes) -> bool:
        """Write and flush one SSE frame; False when the client has gone."""
        if self.gone.is_set():
            return False
        self.write(frame)
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone()
            return False
        return True

