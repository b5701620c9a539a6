"""Authentication and authorization are Jupyter's own, on every route, the websocket included."""

from __future__ import annotations

import orjson
import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

ROUTES = [
    ("GET", "api/kchat/conversations", None),
    ("GET", "api/kchat/conversations/abc", None),
    ("DELETE", "api/kchat/conversations/abc", None),
    ("POST", "api/kchat/chat", orjson.dumps({"message": "list all pods"})),
]


@pytest.fixture
def jp_server_config(kchat_server_config):
    return kchat_server_config


def http_url(port: int, base_url: str, path: str) -> str:
    return f"http://127.0.0.1:{port}{base_url}{path}"


def ws_url(port: int, base_url: str) -> str:
    return f"ws://127.0.0.1:{port}{base_url}ws/chat"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("authorization", [None, "token wrong-token"])
async def test_http_routes_refuse_missing_or_wrong_token(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, method, path, body, authorization
):
    headers = {"Authorization": authorization} if authorization else {}
    request = HTTPRequest(
        http_url(jp_http_port, jp_base_url, path), method=method, body=body, headers=headers
    )
    with pytest.raises(HTTPClientError) as refused:
        await AsyncHTTPClient().fetch(request)
    assert refused.value.code == 403


@pytest.mark.parametrize("authorization", [None, "token wrong-token"])
async def test_websocket_refuses_missing_or_wrong_token(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, kchat_model, authorization
):
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
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, kchat_model
):
    token = jp_serverapp.identity_provider.token
    cookie = await login_cookie(jp_http_port, jp_base_url, token)
    url = ws_url(jp_http_port, jp_base_url)
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(
            HTTPRequest(url, headers={"Cookie": cookie, "Origin": "https://evil.example"})
        )
    assert refused.value.code == 403

    same_origin = f"http://127.0.0.1:{jp_http_port}"
    connection = await websocket_connect(
        HTTPRequest(url, headers={"Cookie": cookie, "Origin": same_origin})
    )
    await connection.write_message(orjson.dumps({"message": "say hi"}).decode())
    first = orjson.loads(await connection.read_message())
    assert first["type"] == "thinking"
    connection.close()


async def test_cookie_post_without_xsrf_is_refused(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url
):
    token = jp_serverapp.identity_provider.token
    cookie = await login_cookie(jp_http_port, jp_base_url, token)
    request = HTTPRequest(
        http_url(jp_http_port, jp_base_url, "api/kchat/chat"),
        method="POST",
        body=orjson.dumps({"message": "say hi"}),
        headers={"Cookie": cookie},
    )
    with pytest.raises(HTTPClientError) as refused:
        await AsyncHTTPClient().fetch(request)
    assert refused.value.code == 403


class DenyKChat(Authorizer):
    """Lets a user do everything in Jupyter except kchat."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return resource != "kchat"


@pytest.fixture
def deny_config(kchat_server_config):
    kchat_server_config.ServerApp.authorizer_class = DenyKChat
    return kchat_server_config


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_authorizer_decides_for_http(deny_config, jp_fetch, method, path, body):
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(*path.split("/"), method=method, body=body)
    assert refused.value.code == 403
    assert (await jp_fetch("api", "status")).code == 200, "the rest of Jupyter still works"


async def test_authorizer_decides_for_the_websocket(deny_config, jp_ws_fetch, kchat_model):
    with pytest.raises(HTTPClientError) as refused:
        await jp_ws_fetch("ws", "chat")
    assert refused.value.code == 403
