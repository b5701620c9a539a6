"""Other MCP servers' tools inside kchat: offered next to kchat's own, gated and bounded by kchat.

A real Jupyter server runs the turns; the demo model calls the tools by name; a small MCP server
written for these tests (``mcp_fixture_server.py``) runs as a child process over stdio or HTTP.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from processes import Service, free_port
from traitlets.config import Config

from jupyter_kchat.config import CONFIG_ENV
from jupyter_kchat.kernel import KernelChat
from jupyter_kchat.mcp.client import MCPClients
from jupyter_kchat.tools import ToolError, ToolRegistry

FIXTURE = str(Path(__file__).with_name("mcp_fixture_server.py"))


@pytest.fixture
def calls_file(tmp_path: Path) -> Path:
    return tmp_path / "fixture-calls.txt"


@pytest.fixture
def mcp_servers(calls_file: Path) -> dict[str, Any]:
    return {
        "fixture": {"command": sys.executable, "args": [FIXTURE], "env": {"FIXTURE_CALLS": str(calls_file)}},
        "broken": {"command": str(Path(sys.executable).with_name("no-such-mcp-server"))},
    }


@pytest.fixture
def kchat_settings(mcp_servers: dict[str, Any]) -> dict[str, Any]:
    return {"mcp_servers": mcp_servers, "mcp_start_timeout": 60.0}


def call(name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"message": f"call tool {name} with {orjson.dumps(args or {}).decode()}"}


def ended(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e["data"] for e in events if e["type"] == "tool_call_end")


async def test_a_read_only_tool_is_offered_and_answers(kchat_ws, kchat_model):
    sock = await kchat_ws()
    events = await sock.turn(call("fixture_echo", {"text": "hello from kchat"}))
    end = ended(events)
    assert end["status"] == "completed", end
    assert "echo: hello from kchat" in end["result"]
    offered = kchat_model.requests[0].tool_names
    assert "fixture_echo" in offered and "list_pods" in offered
    assert "fixture_restart_thing" not in offered, "not read-only: hidden in read-only mode"
    assert "fixture_bad_schema" not in offered, "a schema kchat cannot check arguments with"
    assert not any(name.startswith("broken_") for name in offered)
    assert events[-1]["type"] == "complete"


async def test_kchat_as_an_mcp_server_does_not_pass_them_on(
    kchat_ws, jp_http_port, jp_base_url, jp_auth_header
):
    """Agents using api/kchat/mcp get kchat's tools, with its guarantees, not a proxy."""
    sock = await kchat_ws()
    assert ended(await sock.turn(call("fixture_echo", {"text": "x"})))["status"] == "completed"
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/kchat/mcp"
    async with (
        httpx2.AsyncClient(headers=jp_auth_header, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "list_pods" in names
    assert not any(name.startswith("fixture_") for name in names)


async def test_a_server_gets_its_env_and_not_the_jupyter_servers(kchat_ws, monkeypatch):
    """The model's API key, the Jupyter token and kchat's settings stay in the server."""
    end = ended(await (await kchat_ws()).turn(call("fixture_environ")))
    names = set(end["result"].split("\n", 1)[-1].split())
    assert "FIXTURE_CALLS" in names and "PATH" in names
    assert CONFIG_ENV in os.environ, "the Jupyter server has kchat's settings in its environment"
    assert CONFIG_ENV not in names and "JUPYTER_TOKEN" not in names


async def test_a_server_down_at_first_joins_once_it_is_up(tmp_path: Path):
    flag = tmp_path / "up"
    servers = {"late": {"command": sys.executable, "args": [FIXTURE, "--exit-unless", str(flag)]}}
    registry = ToolRegistry([])
    clients = MCPClients(servers, registry, start_timeout=30.0, retry_after=0.0)
    try:
        await clients.start()
        assert "late_echo" not in registry
        flag.touch()
        await clients.start()
        assert clients._started is not None
        await clients._started
        assert "late_echo" in registry
    finally:
        await clients.close()


async def test_a_server_that_hangs_in_initialize_is_stopped(tmp_path: Path):
    """Its start fails within mcp_start_timeout, and closing kchat ends the process."""
    pidfile = tmp_path / "hang.pid"
    servers = {"stuck": {"command": sys.executable, "args": [FIXTURE, "--hang", str(pidfile)]}}
    registry = ToolRegistry([])
    clients = MCPClients(servers, registry, start_timeout=2.0)
    await clients.start()
    assert len(registry) == 0
    with pytest.raises(ToolError, match="did not start within 2 s"):
        await clients.connections[0].session()
    pid = int(pidfile.read_text())
    await asyncio.wait_for(clients.close(), 15)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("tool", ["leak", "fail_loudly"])
async def test_its_answers_are_masked_fitted_and_fenced(kchat_ws, kchat_model, tool):
    """A foreign server's credentials are masked like the cluster's, its text reaches the
    model as fenced data, and its description is marked as the server's."""
    sock = await kchat_ws()
    end = ended(await sock.turn(call(f"fixture_{tool}")))
    assert end["status"] == ("completed" if tool == "leak" else "error")
    assert "s3cr3t-pw" not in end["result"] and "sk-proj-abcdef" not in end["result"]
    assert len(end["result"]) <= 12_000 + 300
    answer = kchat_model.requests[-1].messages[-1]
    assert answer["role"] == "tool"
    assert answer["content"].startswith(f"Tool result of fixture_{tool} (data read from")
    assert "s3cr3t-pw" not in answer["content"]
    if tool == "leak":
        fence = answer["content"].split("\n")[1].removesuffix("text")
        assert len(fence) > 3 and answer["content"].endswith(fence), "its ``` cannot close it"
        offered = {
            t["function"]["name"]: t["function"]["description"]
            for t in kchat_model.requests[0].body["tools"]
        }
        assert offered["fixture_leak"].startswith("[MCP server fixture")


async def test_a_schema_that_cannot_be_checked_is_a_tool_error(kchat_ws):
    events = await (await kchat_ws()).turn(call("fixture_dangling_ref", {"x": 1}))
    end = ended(events)
    assert end["status"] == "error" and "schema cannot be checked" in end["result"]
    assert events[-1]["type"] == "complete"


async def test_a_server_that_does_not_start_blocks_nothing(kchat_ws):
    sock = await kchat_ws()
    events = await sock.turn(call("broken_anything"))
    assert ended(events)["status"] == "error"
    events = await sock.turn({"message": "list all pods", "conversation_id": events[-1]["data"]["conversation_id"]})
    assert ended(events)["status"] == "completed"


async def test_a_long_answer_is_fitted_to_the_budget(kchat_ws):
    sock = await kchat_ws()
    end = ended(await sock.turn(call("fixture_big")))
    assert end["status"] == "completed"
    assert len(end["result"]) <= 12_000 + 200
    assert "Cut: the MCP server answered" in end["result"]


async def test_a_crash_is_a_tool_error_and_the_server_comes_back(kchat_ws):
    sock = await kchat_ws()
    crashed = ended(await sock.turn(call("fixture_crash")))
    assert crashed["status"] == "error"
    assert "'fixture'" in crashed["result"]
    again = ended(await sock.turn(call("fixture_echo", {"text": "still here"})))
    assert again["status"] == "completed", again
    assert "echo: still here" in again["result"]


class TestTimeout:
    @pytest.fixture
    def kchat_settings(self, mcp_servers: dict[str, Any]) -> dict[str, Any]:
        return {"mcp_servers": mcp_servers, "mcp_start_timeout": 60.0, "tool_timeout": 2.0}

    async def test_a_hanging_tool_ends_within_the_tool_timeout(self, kchat_ws):
        sock = await kchat_ws()
        events = await sock.turn(call("fixture_hang"))
        end = ended(events)
        assert end["status"] == "error"
        assert "within 2 s" in end["result"]
        assert events[-1]["type"] == "complete"


class TestChanges:
    """A tool without ``readOnlyHint: true`` is a change: it waits for the user."""

    @pytest.fixture
    def kchat_settings(self, mcp_servers: dict[str, Any]) -> dict[str, Any]:
        return {
            "mcp_servers": mcp_servers,
            "mcp_start_timeout": 60.0,
            "read_only": False,
            "approval_timeout": 30.0,
        }

    @pytest.mark.parametrize("approved", [False, True])
    async def test_each_call_needs_approval(self, kchat_ws, calls_file: Path, approved: bool):
        sock = await kchat_ws()
        await sock.send(call("fixture_restart_thing"))
        ask = (await sock.until(lambda e: e["type"] == "approval_required"))[-1]["data"]
        assert "on the MCP server 'fixture'" in ask["reason"]
        assert not calls_file.exists(), "nothing runs before the answer"
        await sock.send({"type": "approve", "tool_call_id": ask["tool_call_id"], "approved": approved})
        end = ended(await sock.until(lambda e: e["type"] == "complete"))
        if approved:
            assert end["status"] == "completed"
            assert calls_file.read_text() == "restart_thing\n"
        else:
            assert end["status"] == "denied"
            assert not calls_file.exists()


@pytest.mark.usefixtures("isolated")
def test_a_kernel_uses_them_on_its_own_loop(services: Any, tmp_path: Path, calls_file: Path):
    """%kchat and the widget run turns on the kernel's loop thread; the servers live there."""
    settings = {
        "model": "kchat-demo",
        "base_url": services.base_url,
        "api_key": "test-key",
        "kubeconfig": services.kubeconfig,
        "db_path": str(tmp_path / "history.sqlite3"),
        "mcp_servers": {
            "fixture": {"command": sys.executable, "args": [FIXTURE],
                        "env": {"FIXTURE_CALLS": str(calls_file)}},
        },
        "mcp_start_timeout": 60.0,
    }
    chat = KernelChat.configure(Config({"KChat": settings}))
    try:
        first = list(chat.ask(call("fixture_echo", {"text": "from a kernel"})["message"]))
        again = list(chat.ask(call("fixture_echo", {"text": "twice"})["message"]))
    finally:
        KernelChat.reset()
    assert "echo: from a kernel" in ended(first)["result"]
    assert "echo: twice" in ended(again)["result"]


@pytest.fixture
def http_fixture(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    service = Service(
        [sys.executable, FIXTURE, "--http", str(port)],
        "Uvicorn running on",
        tmp_path / "fixture-http.log",
        dict(os.environ),
    )
    yield f"http://127.0.0.1:{port}/mcp"
    service.stop()


class TestHTTP:
    @pytest.fixture
    def kchat_settings(self, http_fixture: str) -> dict[str, Any]:
        servers = {
            "web": {"url": http_fixture, "headers": {"Authorization": "Bearer fixture-secret"}},
            "nokey": {"url": http_fixture},
        }
        return {"mcp_servers": servers, "mcp_start_timeout": 60.0}

    async def test_streamable_http_with_headers(self, kchat_ws, kchat_model):
        sock = await kchat_ws()
        end = ended(await sock.turn(call("web_echo", {"text": "over http"})))
        assert end["status"] == "completed", end
        assert "echo: over http" in end["result"]
        offered = kchat_model.requests[0].tool_names
        assert "web_echo" in offered
        assert not any(name.startswith("nokey_") for name in offered), "refused without its key"
