"""kchat's tools for any agent: the MCP server over Streamable HTTP (in Jupyter) and stdio.

The SDK's own client talks to a real Jupyter server (and to ``jupyter kchat mcp`` as a child
process); the tools read the sample cluster through the real ``kubernetes`` client.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import orjson
import pytest
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from tool_support import secret_values
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from jupyter_kchat.mcp.server import APPROVAL_KEY, _fingerprint
from jupyter_kchat.tools import KubeClients, default_registry

READ_TOOLS = {spec.name for spec in default_registry().available(read_only=True)}
WRITE_TOOLS = {spec.name for spec in default_registry().available(read_only=False)} - READ_TOOLS


def mcp_url(port: int, base_url: str) -> str:
    return f"http://127.0.0.1:{port}{base_url}api/kchat/mcp"


@asynccontextmanager
async def http_client(
    jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str], **kwargs: Any
) -> AsyncIterator[Client]:
    """The SDK's client on ``api/kchat/mcp`` with the user's Jupyter token."""
    async with httpx2.AsyncClient(headers=jp_auth_header, timeout=60) as http:
        transport = streamable_http_client(mcp_url(jp_http_port, jp_base_url), http_client=http)
        async with Client(transport, **kwargs) as client:
            yield client


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def read_calls(cluster: Any) -> dict[str, dict[str, Any]]:
    """Arguments that make each read tool answer about a real object of the sample cluster."""
    pod = next(n for (ns, n) in cluster.objects["pods"] if ns == "payments" and "api" in n)
    return {
        "diagnose_cluster": {},
        "list_pods": {"all_namespaces": True},
        "get_pod": {"name": pod, "namespace": "payments"},
        "get_pod_logs": {"name": pod, "namespace": "payments", "previous": True},
        "list_events": {"all_namespaces": True},
        "list_nodes": {},
        "list_deployments": {"all_namespaces": True},
        "list_services": {"all_namespaces": True},
        "list_namespaces": {},
        "list_secrets": {"all_namespaces": True},
        "list_resources": {"kind": "configmaps", "all_namespaces": True},
        "get_resource": {"kind": "configmap", "name": "app-config", "namespace": "shop"},
        "rollout_history": {"name": "checkout", "namespace": "shop"},
        "top": {"all_namespaces": True},
        "list_helm_releases": {"all_namespaces": True},
        "list_contexts": {},
    }


async def approve(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"approve": True})


async def decline(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


async def test_http_offers_every_read_tool_and_no_write_by_default(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_kubeconfig
):
    async with http_client(
        jp_http_port, jp_base_url, jp_auth_header, elicitation_callback=approve
    ) as client:
        listed = (await client.list_tools()).tools
    assert {tool.name for tool in listed} == READ_TOOLS
    registry = default_registry()
    contexts = set(KubeClients(kchat_kubeconfig).contexts())
    assert len(contexts) > 1, "the sample kubeconfig has several contexts"
    for tool in listed:
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        properties = dict(tool.input_schema["properties"])
        assert set(properties.pop("context")["enum"]) == contexts
        assert properties == registry.get(tool.name).parameters["properties"]


async def test_http_every_read_tool_answers_and_no_secret_leaves(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_cluster
):
    calls = read_calls(kchat_cluster.cluster)
    assert set(calls) >= READ_TOOLS, "every read tool is exercised"
    secrets = secret_values(kchat_cluster.cluster)
    results: dict[str, types.CallToolResult] = {}
    async with http_client(jp_http_port, jp_base_url, jp_auth_header) as client:
        for name in sorted(READ_TOOLS):
            results[name] = await client.call_tool(name, calls[name])
    for name, result in results.items():
        assert not result.is_error, (name, text_of(result))
        blob = text_of(result) + orjson.dumps(result.structured_content).decode()
        assert [value for value in secrets if value in blob] == [], name
    pods = results["list_pods"]
    assert "payments-api" in text_of(pods)
    rows = pods.structured_content["rows"]
    assert len(rows) == len(kchat_cluster.cluster.objects["pods"]), "the rows are complete"


async def test_http_bad_arguments_and_unknown_tools_are_tool_errors(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header
):
    async with http_client(jp_http_port, jp_base_url, jp_auth_header) as client:
        bad = await client.call_tool("list_pods", {"namespace": 7})
        missing = await client.call_tool("delete_pod", {"name": "x", "namespace": "payments"})
    assert bad.is_error and "invalid arguments for list_pods" in text_of(bad)
    assert missing.is_error and "no tool named 'delete_pod'" in text_of(missing)


@pytest.mark.parametrize("authorization", [None, "token wrong-token"])
async def test_http_refuses_without_credentials(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, kchat_cluster, authorization
):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "list_secrets", "arguments": {"all_namespaces": True}},
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if authorization:
        headers["Authorization"] = authorization
    before = len(kchat_cluster.requests)
    for method, body in (("POST", orjson.dumps(initialize)), ("GET", None), ("DELETE", None)):
        request = HTTPRequest(
            mcp_url(jp_http_port, jp_base_url), method=method, body=body, headers=headers
        )
        with pytest.raises(HTTPClientError) as refused:
            await AsyncHTTPClient().fetch(request)
        assert refused.value.code == 403, method
    assert len(kchat_cluster.requests) == before, "nothing reached the cluster"


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "agent", "version": "1"},
    },
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def test_http_takes_the_token_as_token_or_bearer(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url
):
    """What agents send: ``Authorization: token ...`` (Jupyter's) or ``Bearer ...`` (OAuth's)."""
    token = jp_serverapp.identity_provider.token
    for scheme in ("token", "Bearer"):
        async with http_client(
            jp_http_port, jp_base_url, {"Authorization": f"{scheme} {token}"}
        ) as client:
            listed = (await client.list_tools()).tools
        assert {tool.name for tool in listed} == READ_TOOLS, scheme


async def login_cookies(port: int, base_url: str, token: str) -> dict[str, str]:
    """Log in with the token as a browser does; the cookies it is given."""
    url = f"http://127.0.0.1:{port}{base_url}login"
    async with httpx2.AsyncClient() as http:
        page = await http.get(url)
        xsrf = page.cookies["_xsrf"]
        answer = await http.post(url, data={"password": token, "_xsrf": xsrf})
        assert answer.status_code in (200, 302), answer.text
        return dict(http.cookies)


async def test_http_with_a_cookie_needs_the_xsrf_token(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, kchat_cluster
):
    """A page elsewhere cannot use the user's login cookie to run tools."""
    cookies = await login_cookies(jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)
    url = mcp_url(jp_http_port, jp_base_url)
    async with httpx2.AsyncClient(cookies=cookies) as http:
        for method in ("POST", "DELETE"):
            refused = await http.request(method, url, content=orjson.dumps(INITIALIZE),
                                         headers=MCP_HEADERS)
            assert refused.status_code == 403, (method, refused.text)
        # A wrong Authorization header does not stand in for the XSRF token either.
        refused = await http.post(url, content=orjson.dumps(INITIALIZE),
                                  headers={**MCP_HEADERS, "Authorization": "token wrong"})
        assert refused.status_code == 403, refused.text
        accepted = await http.post(url, content=orjson.dumps(INITIALIZE),
                                   headers={**MCP_HEADERS, "X-XSRFToken": cookies["_xsrf"]})
    assert accepted.status_code == 200, accepted.text
    assert b"kchat" in accepted.content


async def test_the_server_stops_with_an_open_session_and_leaves_no_task(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header
):
    """An agent holding its stream open does not hold up the server's stop, and nothing of
    the SDK keeps running on Jupyter's loop afterwards."""
    service = jp_serverapp.web_app.settings["kchat_mcp"]
    async with http_client(jp_http_port, jp_base_url, jp_auth_header, mode="legacy") as client:
        await client.list_tools()
        watchers = [t for t in asyncio.all_tasks() if "_shutdown_watcher" in repr(t.get_coro())]
        assert watchers, "the stream started sse_starlette's watcher"
        await asyncio.wait_for(service.stop(), 10)
        _, running = await asyncio.wait(watchers, timeout=5)
    assert running == set(), "the watcher ended with the service"
    assert [t for t in asyncio.all_tasks() if t.get_name() == "kchat-mcp"] == []


class TestWrites:
    """With ``read_only`` off, each change asks the human through the client."""

    @pytest.fixture
    def kchat_settings(self):
        return {"read_only": False}

    @staticmethod
    def deletes(kchat_cluster: Any) -> list[Any]:
        return [r for r in kchat_cluster.requests if r[0] == "DELETE"]

    @staticmethod
    def a_pod(kchat_cluster: Any) -> str:
        return next(
            n for (ns, n) in kchat_cluster.cluster.objects["pods"] if ns == "payments" and "api" in n
        )

    @pytest.mark.parametrize("mode", ["auto", "legacy"])
    async def test_an_approved_write_is_made(
        self, jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_cluster, mode
    ):
        name = self.a_pod(kchat_cluster)
        asked: list[str] = []

        async def ask(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            asked.append(params.message)
            assert self.deletes(kchat_cluster) == [], "nothing is sent before the answer"
            return await approve(context, params)

        async with http_client(
            jp_http_port, jp_base_url, jp_auth_header, elicitation_callback=ask, mode=mode
        ) as client:
            assert {t.name for t in (await client.list_tools()).tools} == READ_TOOLS | WRITE_TOOLS
            result = await client.call_tool("delete_pod", {"name": name, "namespace": "payments"})
        assert not result.is_error, text_of(result)
        assert len(asked) == 1 and name in asked[0]
        assert len(self.deletes(kchat_cluster)) == 1
        assert kchat_cluster.cluster.get("pods", "payments", name) is None

    @pytest.mark.parametrize("mode", ["auto", "legacy"])
    async def test_a_declined_write_sends_nothing(
        self, jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_cluster, mode
    ):
        name = self.a_pod(kchat_cluster)
        async with http_client(
            jp_http_port, jp_base_url, jp_auth_header, elicitation_callback=decline, mode=mode
        ) as client:
            result = await client.call_tool("delete_pod", {"name": name, "namespace": "payments"})
        assert result.is_error and "nothing was sent to the cluster" in text_of(result)
        assert self.deletes(kchat_cluster) == []
        assert kchat_cluster.cluster.get("pods", "payments", name) is not None

    @staticmethod
    def yes() -> dict[str, types.ElicitResult]:
        return {APPROVAL_KEY: types.ElicitResult(action="accept", content={"approve": True})}

    async def test_a_made_up_or_replayed_approval_sends_nothing(
        self, jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_cluster
    ):
        """2026-07-28 retries: only the answer to a question kchat asked, once, for that call."""
        first, second = sorted(
            n for (ns, n) in kchat_cluster.cluster.objects["pods"] if ns == "payments"
        )[:2]
        args = {"name": first, "namespace": "payments"}
        async with http_client(
            jp_http_port, jp_base_url, jp_auth_header, elicitation_callback=approve,
            mode="2026-07-28",
        ) as client:
            session = client.session
            # An answer nobody asked for, with the state a client could compute itself.
            for state in (None, _fingerprint("delete_pod", args)):
                try:
                    result = await session.call_tool(
                        "delete_pod", args, input_responses=self.yes(), request_state=state,
                        allow_input_required=True,
                    )
                except MCPError as exc:
                    assert "requestState" in str(exc)
                else:
                    assert isinstance(result, types.InputRequiredResult), "it asks instead"
            asked = await session.call_tool("delete_pod", args, allow_input_required=True)
            assert isinstance(asked, types.InputRequiredResult)
            # The state of that question does not approve another call.
            with pytest.raises(MCPError, match="requestState"):
                await session.call_tool(
                    "delete_pod", {"name": second, "namespace": "payments"},
                    input_responses=self.yes(), request_state=asked.request_state,
                    allow_input_required=True,
                )
            assert self.deletes(kchat_cluster) == []
            done = await session.call_tool(
                "delete_pod", args, input_responses=self.yes(),
                request_state=asked.request_state, allow_input_required=True,
            )
            assert isinstance(done, types.CallToolResult) and not done.is_error
            assert len(self.deletes(kchat_cluster)) == 1
            replayed = await session.call_tool(
                "delete_pod", args, input_responses=self.yes(),
                request_state=asked.request_state, allow_input_required=True,
            )
        assert isinstance(replayed, types.InputRequiredResult), "an answer approves once"
        assert len(self.deletes(kchat_cluster)) == 1

    async def test_a_legacy_session_is_always_asked(
        self, jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_cluster
    ):
        """With a back channel, answers sent along with the call are not the user's."""
        name = self.a_pod(kchat_cluster)
        async with http_client(
            jp_http_port, jp_base_url, jp_auth_header, elicitation_callback=decline, mode="legacy"
        ) as client:
            result = await client.session.call_tool(
                "delete_pod", {"name": name, "namespace": "payments"},
                input_responses=self.yes(),
            )
        assert result.is_error and "nothing was sent" in text_of(result)
        assert self.deletes(kchat_cluster) == []

    async def test_a_client_that_cannot_ask_its_user_gets_no_writes(
        self, jp_serverapp, http_server_client, jp_http_port, jp_base_url, jp_auth_header, kchat_cluster
    ):
        name = self.a_pod(kchat_cluster)
        async with http_client(jp_http_port, jp_base_url, jp_auth_header) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("delete_pod", {"name": name, "namespace": "payments"})
        assert listed == READ_TOOLS
        assert result.is_error
        assert self.deletes(kchat_cluster) == []


def stdio_params(kubeconfig: str, *extra: str) -> StdioServerParameters:
    """``jupyter kchat mcp`` from this environment, as an agent's MCP settings would start it."""
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    return StdioServerParameters(
        command=jupyter,
        args=["kchat", "mcp", f"--KChat.kubeconfig={kubeconfig}", *extra],
        env=dict(os.environ),
    )


async def test_stdio_serves_every_read_tool_without_secrets(
    jp_environ, kchat_cluster, kchat_kubeconfig
):
    calls = read_calls(kchat_cluster.cluster)
    secrets = secret_values(kchat_cluster.cluster)
    results: dict[str, types.CallToolResult] = {}
    async with Client(stdio_params(kchat_kubeconfig), elicitation_callback=approve) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        for name in sorted(READ_TOOLS):
            results[name] = await client.call_tool(name, calls[name])
    assert listed == READ_TOOLS, "writes are absent by default"
    for name, result in results.items():
        assert not result.is_error, (name, text_of(result))
        blob = text_of(result) + orjson.dumps(result.structured_content).decode()
        assert [value for value in secrets if value in blob] == [], name
    assert "CrashLoopBackOff" in text_of(results["list_pods"])


async def test_stdio_writes_need_the_setting_and_an_answer(
    jp_environ, kchat_cluster, kchat_kubeconfig
):
    name = next(
        n for (ns, n) in kchat_cluster.cluster.objects["pods"] if ns == "payments" and "api" in n
    )
    params = stdio_params(kchat_kubeconfig, "--KChat.read_only=False")
    async with Client(params, elicitation_callback=decline) as client:
        assert WRITE_TOOLS <= {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("delete_pod", {"name": name, "namespace": "payments"})
    assert result.is_error and "nothing was sent" in text_of(result)
    assert kchat_cluster.cluster.get("pods", "payments", name) is not None
