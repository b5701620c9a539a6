"""``{base_url}api/kchat/mcp``: kchat's MCP server (Streamable HTTP) inside the Jupyter server.

Authentication and authorization are Jupyter's own, exactly as for the other kchat routes
(token or cookie; the authorizer's ``execute`` on resource ``kchat`` for every verb, since any
call may run tools; Jupyter's own XSRF check, which token-authenticated agents pass and a browser
cookie alone does not). An agent in the user's JupyterHub server therefore uses the user's own
identity. The handler only translates the request into ASGI for the SDK's session manager,
which speaks the protocol; Jupyter's Host and Origin checks stand in for the SDK's own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from sse_starlette.sse import _shutdown_watcher
from tornado import web
from tornado.iostream import StreamClosedError

from ..handlers import AUTH_RESOURCE
from .server import ToolServer

log = logging.getLogger(__name__)

ASGIMessage = dict[str, Any]


class MCPService:
    """The SDK's Streamable HTTP session manager, started by the first request (so a server
    whose users never use MCP pays nothing) and stopped with the extension."""

    def __init__(self, tools: ToolServer) -> None:
        self.tools = tools
        self.manager = StreamableHTTPSessionManager(tools.server())
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _started(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kchat-mcp")
        await self._ready.wait()

    async def _run(self) -> None:
        async with self.manager.run():
            self._ready.set()
            await self._stop.wait()

    async def stop(self, timeout: float = 5.0) -> None:
        """End every MCP session, then the manager (bounded: never blocks the server's stop)."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.warning("kchat: MCP sessions did not close within %s s", timeout)
        _stop_sse_watcher()
        self.tools.close()

    async def handle(self, scope: ASGIMessage, receive: Any, send: Any) -> None:
        await self._started()
        await self.manager.handle_request(scope, receive, send)


def _stop_sse_watcher() -> None:
    """End the 0.5 s poll that the SDK's ``sse_starlette`` starts on this loop with the first
    stream and runs until a uvicorn exit; Jupyter is no uvicorn, so it would outlive the
    server ("Task was destroyed but it is pending!"). The next stream starts it again."""
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "cr_code", None) is _shutdown_watcher.__code__:
            task.cancel()


class MCPHandler(APIHandler):
    """Streamable HTTP: POST carries JSON-RPC, GET opens the server's stream, DELETE ends it."""

    auth_resource = AUTH_RESOURCE

    def initialize(self) -> None:
        self._closed = asyncio.Event()
        self._content_type = "application/json"

    @property
    def mcp(self) -> MCPService:
        return self.settings["kchat_mcp"]

    def on_connection_close(self) -> None:
        self._closed.set()

    @web.authenticated
    @authorized(action="execute")
    async def post(self) -> None:
        await self._bridge()

    @web.authenticated
    @authorized(action="execute")
    async def get(self) -> None:
        await self._bridge()

    @web.authenticated
    @authorized(action="execute")
    async def delete(self) -> None:
        await self._bridge()

    async def _bridge(self) -> None:
        request = self.request
        host, _, port = (request.host or "127.0.0.1").rpartition(":")
        scope: ASGIMessage = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": request.version.removeprefix("HTTP/"),
            "method": request.method,
            "scheme": request.protocol,
            "path": "/mcp",
            "raw_path": b"/mcp",
            "root_path": "",
            "query_string": request.query.encode("latin-1"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.get_all()
            ],
            "client": (request.remote_ip, 0),
            "server": (host or request.host, int(port) if port.isdigit() else 80),
            "state": {},
        }
        body_sent = False

        async def receive() -> ASGIMessage:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body or b"", "more_body": False}
            await self._closed.wait()
            return {"type": "http.disconnect"}

        async def send(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                self._start(message)
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if self._closed.is_set():
                    return
                if body:
                    self.write(body)
                if message.get("more_body", False):
                    try:
                        await self.flush()
                    except StreamClosedError:
                        self._closed.set()

        await self.mcp.handle(scope, receive, send)
        if not self._closed.is_set():
            self.finish(set_content_type=self._content_type)

    def _start(self, message: ASGIMessage) -> None:
        self.set_status(message["status"])
        for name, raw in message.get("headers", []):
            key, value = name.decode("latin-1"), raw.decode("latin-1")
            if key.lower() == "content-type":
                self._content_type = value
                self.set_header(key, value)
            elif key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.add_header(key, value)
        if "event-stream" in self._content_type:
            stream = getattr(self.request.connection, "stream", None)
            if stream is not None:
                stream.set_nodelay(True)


default_handlers = [(r"/api/kchat/mcp", MCPHandler)]
