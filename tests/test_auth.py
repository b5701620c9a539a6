"""Authentication and authorization are Jupyter's own, on every route, the websocket included.

The authorization matrix follows jupyter_server_terminals' ``tests/test_auth.py``: an authorizer
records the ``(action, resource)`` each request asks for, and every route is tried once with
exactly its action granted and once with every other action granted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx2
import orjson
import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.serverapp import ServerApp
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketHandler, websocket_connect
from traitlets.config import Config

from jupyter_kchat.pytest_plugin import KChatSocket
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.model_server import ModelServer

ACTIONS = frozenset({"read", "write", "execute"})
MCP_ACCEPT = "application/json, text/event-stream"


class Asked(NamedTuple):
    method: str
    path: str
    action: str
    resource: str


class RecordingAuthorizer(Authorizer):
    """Records what each request asks for; on ``kchat`` it grants only the actions in
    ``granted`` (everything else in Jupyter stays allowed, so a refusal is kchat's own)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asked: list[Asked] = []
        self.granted: frozenset[str] = ACTIONS

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        method = "WEBSOCKET" if isinstance(handler, WebSocketHandler) else handler.request.method
        path = handler.request.path.removeprefix(handler.base_url)
        self.asked.append(Asked(method, path, action, resource))
        return resource != "kchat" or action in self.granted


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("WEBSOCKET", "ws/chat", "execute"),
    Route("POST", "api/kchat/chat", "execute"),
    Route("GET", "api/kchat/conversations", "read"),
    Route("GET", "api/kchat/conversations/{id}", "read"),
    Route("DELETE", "api/kchat/conversations/{id}", "write"),
    Route("POST", "api/kchat/mcp", "execute"),
    Route("GET", "api/kchat/mcp", "execute"),
    Route("DELETE", "api/kchat/mcp", "execute"),
]


@pytest.fixture
def jp_server_config(kchat_server_config: Config) -> Config:
    kchat_server_config.ServerApp.authorizer_class = RecordingAuthorizer
    return kchat_server_config


class Visitor:
    """Calls each route as its client would and says what the user gets back."""

    def __init__(
        self, app: ServerApp, fetch: Callable[..., Awaitable[Any]], ws_fetch: Any, port: int
    ) -> None:
        self.app = app
        self.fetch = fetch
        self.ws_fetch = ws_fetch
        self.mcp_url = f"http://127.0.0.1:{port}{app.base_url}api/kchat/mcp"
        self.http = httpx2.AsyncClient(
            headers={"Authorization": f"token {app.identity_provider.token}"}, timeout=60
        )
        self.conversation = ""
        self.session = ""

    @property
    def authorizer(self) -> RecordingAuthorizer:
        return self.app.authorizer  # type: ignore[return-value]

    async def chat(self, message: str) -> tuple[int, dict[str, Any]]:
        """``POST api/kchat/chat``: the status and the turn's ``complete``."""
        try:
            response = await self.fetch(
                "api", "kchat", "chat", method="POST", body=orjson.dumps({"message": message})
            )
        except HTTPClientError as refused:
            return refused.code, {}
        return response.code, orjson.loads(response.body)

    async def get(self, *path: str) -> tuple[int, dict[str, Any]]:
        try:
            response = await self.fetch(*path)
        except HTTPClientError as refused:
            return refused.code, {}
        return response.code, orjson.loads(response.body)

    async def delete(self, *path: str) -> int:
        try:
            return (await self.fetch(*path, method="DELETE")).code
        except HTTPClientError as refused:
            return refused.code

    async def socket_turn(self, message: str) -> tuple[int, list[dict[str, Any]]]:
        try:
            socket = KChatSocket(await self.ws_fetch("ws", "chat"))
        except HTTPClientError as refused:
            return refused.code, []
        try:
            return 101, await socket.turn({"message": message})
        finally:
            socket.close()

    def _mcp_headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": MCP_ACCEPT, "Content-Type": "application/json", **extra}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        return headers

    async def rpc(self, method: str, params: dict[str, Any], id: int | None = 1) -> httpx2.Response:
        """One JSON-RPC message over Streamable HTTP (a notification when ``id`` is None)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if id is not None:
            message["id"] = id
        return await self.http.post(
            self.mcp_url, content=orjson.dumps(message), headers=self._mcp_headers()
        )

    async def mcp_session(self) -> None:
        """Initialize an MCP session, as an agent does before calling tools."""
        response = await self.rpc(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "auth-test", "version": "1"},
            },
        )
        assert response.status_code == 200, response.text
        self.session = response.headers["mcp-session-id"]
        assert (await self.rpc("notifications/initialized", {}, id=None)).status_code == 202

    async def mcp_stream(self) -> tuple[int, str]:
        """``GET api/kchat/mcp``: the status and content type of the server's event stream."""
        headers = self._mcp_headers(Accept="text/event-stream")
        async with self.http.stream("GET", self.mcp_url, headers=headers) as response:
            return response.status_code, response.headers.get("content-type", "")

    async def mcp_end(self) -> int:
        response = await self.http.delete(self.mcp_url, headers=self._mcp_headers())
        return response.status_code


def tool_text(response: httpx2.Response) -> str:
    """The text of a ``tools/call`` answer sent as one Server-Sent Event."""
    data = next(line for line in response.text.splitlines() if line.startswith("data: "))
    result = orjson.loads(data.removeprefix("data: "))["result"]
    return "\n".join(block["text"] for block in result["content"])


@pytest.fixture
def visitor(
    jp_serverapp: ServerApp,
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_http_port: int,
    http_server_client: Any,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> Iterator[Visitor]:
    visitor = Visitor(jp_serverapp, jp_fetch, jp_ws_fetch, jp_http_port)
    yield visitor
    jp_asyncio_loop.run_until_complete(visitor.http.aclose())


async def visit(route: Route, visitor: Visitor) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Call ``route`` as its client would: the status, and a check of what an allowed call did."""
    if route.path == "ws/chat":
        code, events = await visitor.socket_turn("say hi")

        async def answered() -> None:
            assert events[-1]["type"] == "complete" and events[-1]["data"]["message"] == "hi"

        return code, answered
    if route.path == "api/kchat/chat":
        code, complete = await visitor.chat("say hi")

        async def replied() -> None:
            assert complete["message"] == "hi"

        return code, replied
    if route.path == "api/kchat/conversations":
        code, listed = await visitor.get("api", "kchat", "conversations")

        async def listed_it() -> None:
            assert [c["id"] for c in listed["conversations"]] == [visitor.conversation]

        return code, listed_it
    conversation = ("api", "kchat", "conversations", visitor.conversation)
    if route.path.startswith("api/kchat/conversations/") and route.method == "GET":
        code, shown = await visitor.get(*conversation)

        async def shown_it() -> None:
            assert [m["content"] for m in shown["messages"]] == ["say hello", "hello"]

        return code, shown_it
    if route.path.startswith("api/kchat/conversations/"):
        code = await visitor.delete(*conversation)

        async def deleted() -> None:
            assert (await visitor.get(*conversation))[0] == 404

        return code, deleted
    if route.method == "POST":
        response = await visitor.rpc("tools/call", {"name": "list_namespaces", "arguments": {}})

        async def ran_the_tool() -> None:
            assert "payments" in tool_text(response)

        return response.status_code, ran_the_tool
    if route.method == "GET":
        code, content_type = await visitor.mcp_stream()

        async def streams() -> None:
            assert content_type.startswith("text/event-stream")

        return code, streams
    code = await visitor.mcp_end()

    async def ended() -> None:
        response = await visitor.rpc("tools/call", {"name": "list_namespaces", "arguments": {}})
        assert response.status_code == 404, "the session is gone"

    return code, ended


async def prepare(route: Route, visitor: Visitor) -> None:
    """What a route needs before a user calls it: a stored conversation, an MCP session."""
    if "{id}" in route.path or route.path == "api/kchat/conversations":
        code, complete = await visitor.chat("say hello")
        assert code == 200
        visitor.conversation = complete["conversation_id"]
    if route.path == "api/kchat/mcp":
        await visitor.mcp_session()


async def still_there(route: Route, visitor: Visitor) -> None:
    """After a refusal, what the user had is intact."""
    if visitor.conversation:
        code, shown = await visitor.get("api", "kchat", "conversations", visitor.conversation)
        assert code == 200 and len(shown["messages"]) == 2
    elif route.path == "api/kchat/mcp":
        response = await visitor.rpc("tools/call", {"name": "list_namespaces", "arguments": {}})
        assert "payments" in tool_text(response), "the MCP session still works"
    else:
        code, listed = await visitor.get("api", "kchat", "conversations")
        assert code == 200 and listed["conversations"] == [], "no turn was started"


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("granted", ["its action", "every other action"])
async def test_each_route_asks_for_its_action_on_kchat(
    visitor: Visitor,
    kchat_model: ModelServer,
    kchat_cluster: KubeAPIServer,
    route: Route,
    granted: str,
) -> None:
    await prepare(route, visitor)
    authorizer = visitor.authorizer
    authorizer.asked.clear()
    authorizer.granted = (
        frozenset({route.action}) if granted == "its action" else ACTIONS - {route.action}
    )
    model_calls, cluster_calls = len(kchat_model.requests), len(kchat_cluster.requests)

    code, check = await visit(route, visitor)

    path = route.path.format(id=visitor.conversation)
    kchat_asks = [a for a in authorizer.asked if a.resource == "kchat" or "kchat" in a.path]
    assert kchat_asks == [Asked(route.method, path, route.action, "kchat")]
    if granted == "its action":
        assert code in {101, 200, 204}, route
        authorizer.granted = ACTIONS
        await check()
        return
    assert code == 403, route
    assert len(kchat_model.requests) == model_calls, "nothing reached the model"
    assert len(kchat_cluster.requests) == cluster_calls, "nothing reached the cluster"
    assert (await visitor.fetch("api", "status")).code == 200, "the rest of Jupyter still works"
    authorizer.granted = ACTIONS
    await still_there(route, visitor)


def http_url(port: int, base_url: str, path: str) -> str:
    return f"http://127.0.0.1:{port}{base_url}{path}"


def ws_url(port: int, base_url: str) -> str:
    return f"ws://127.0.0.1:{port}{base_url}ws/chat"


HTTP_ROUTES = [route for route in ROUTES if route.method != "WEBSOCKET"]


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=str)
@pytest.mark.parametrize("authorization", [None, "token wrong-token"])
async def test_http_routes_refuse_missing_or_wrong_token(
    jp_serverapp: ServerApp,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    kchat_model: ModelServer,
    kchat_cluster: KubeAPIServer,
    route: Route,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = orjson.dumps({"message": "list all pods"}) if route.method == "POST" else None
    url = http_url(jp_http_port, jp_base_url, route.path.format(id="abc"))
    cluster_calls = len(kchat_cluster.requests)
    with pytest.raises(HTTPClientError) as refused:
        await AsyncHTTPClient().fetch(
            HTTPRequest(url, method=route.method, body=body, headers=headers)
        )
    assert refused.value.code == 403
    assert kchat_model.requests == [], "nothing ran"
    assert len(kchat_cluster.requests) == cluster_calls


@pytest.mark.parametrize("authorization", [None, "token wrong-token"])
async def test_websocket_refuses_missing_or_wrong_token(
    jp_serverapp: ServerApp,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    kchat_model: ModelServer,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(HTTPRequest(ws_url(jp_http_port, jp_base_url), headers=headers))
    assert refused.value.code == 403
    assert kchat_model.requests == [], "nothing ran"


async def login_cookie(port: int, base_url: str, token: str) -> str:
    """Log in as a browser does (token in the URL) and return the session cookies."""
    response = await AsyncHTTPClient().fetch(
        http_url(port, base_url, f"api/status?token={token}"), follow_redirects=False
    )
    cookies = response.headers.get_list("Set-Cookie")
    assert cookies, "token login sets a cookie"
    return "; ".join(c.split(";", 1)[0] for c in cookies)


async def test_cookie_websocket_from_a_foreign_origin_is_refused(
    jp_serverapp: ServerApp,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    kchat_model: ModelServer,
) -> None:
    token = jp_serverapp.identity_provider.token
    cookie = await login_cookie(jp_http_port, jp_base_url, token)
    url = ws_url(jp_http_port, jp_base_url)
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(
            HTTPRequest(url, headers={"Cookie": cookie, "Origin": "https://evil.example"})
        )
    assert refused.value.code == 403
    assert kchat_model.requests == []

    same_origin = f"http://127.0.0.1:{jp_http_port}"
    connection = await websocket_connect(
        HTTPRequest(url, headers={"Cookie": cookie, "Origin": same_origin})
    )
    await connection.write_message(orjson.dumps({"message": "say hi"}).decode())
    first = orjson.loads(await connection.read_message())
    assert first["type"] == "thinking"
    connection.close()


@pytest.mark.parametrize("path", ["api/kchat/chat", "api/kchat/mcp"])
async def test_cookie_post_without_xsrf_is_refused(
    jp_serverapp: ServerApp,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    kchat_model: ModelServer,
    path: str,
) -> None:
    token = jp_serverapp.identity_provider.token
    cookie = await login_cookie(jp_http_port, jp_base_url, token)
    request = HTTPRequest(
        http_url(jp_http_port, jp_base_url, path),
        method="POST",
        body=orjson.dumps({"message": "say hi"}),
        headers={"Cookie": cookie, "Accept": MCP_ACCEPT},
    )
    with pytest.raises(HTTPClientError) as refused:
        await AsyncHTTPClient().fetch(request)
    assert refused.value.code == 403
    assert kchat_model.requests == []
