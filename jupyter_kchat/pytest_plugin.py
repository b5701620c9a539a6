"""Pytest fixtures for testing kchat (and extensions built on it) against its offline doubles.

Enable with ``pytest_plugins = ["pytest_jupyter.jupyter_server", "jupyter_kchat.pytest_plugin"]``.
The demo model server and the Kubernetes API emulation run on the test's own event loop, on
loopback, and the real ``openai`` and ``kubernetes`` clients talk to them over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from tornado.websocket import WebSocketClientConnection
from traitlets.config import Config

if TYPE_CHECKING:
    from .sample.kube_api import KubeAPIServer
    from .sample.model_server import ModelServer

EVENT_TIMEOUT = 30.0


@pytest.fixture
def kchat_model(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[ModelServer]:
    """The scripted demo model, served OpenAI-style on 127.0.0.1 for one test."""
    from .sample.model_server import ModelServer

    server = ModelServer()
    jp_asyncio_loop.run_until_complete(server.start(host="127.0.0.1", port=0))
    yield server
    jp_asyncio_loop.run_until_complete(server.stop())


@pytest.fixture
def kchat_cluster_size() -> int:
    """Pods in the sample cluster; override in a test module for bigger clusters."""
    return 60


@pytest.fixture
def kchat_cluster(
    jp_asyncio_loop: asyncio.AbstractEventLoop, kchat_cluster_size: int
) -> Iterator[KubeAPIServer]:
    """The Kubernetes API emulation serving the sample cluster on 127.0.0.1."""
    from .sample.cluster import SampleCluster
    from .sample.kube_api import KubeAPIServer

    api = KubeAPIServer(SampleCluster(pods=kchat_cluster_size))
    jp_asyncio_loop.run_until_complete(api.start(host="127.0.0.1", port=0))
    yield api
    jp_asyncio_loop.run_until_complete(api.stop())


@pytest.fixture
def kchat_kubeconfig(kchat_cluster: KubeAPIServer, tmp_path: Path) -> str:
    return str(kchat_cluster.write_kubeconfig(tmp_path / "kubeconfig.yaml"))


@pytest.fixture
def kchat_db_path(tmp_path: Path) -> str:
    return str(tmp_path / "kchat-history.sqlite3")


@pytest.fixture
def kchat_settings() -> dict[str, Any]:
    """Extra ``KChat`` traits for one test (override the fixture or mutate the dict)."""
    return {}


@pytest.fixture
def kchat_server_config(
    kchat_model: ModelServer,
    kchat_kubeconfig: str,
    kchat_db_path: str,
    kchat_settings: dict[str, Any],
) -> Config:
    """A ``jp_server_config`` with kchat enabled against the offline model and cluster."""
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_kchat": True}},
            "KChat": {
                "model": "kchat-demo",
                "base_url": kchat_model.base_url,
                "api_key": "test-key",
                "kubeconfig": kchat_kubeconfig,
                "db_path": kchat_db_path,
                "model_max_retries": 2,
                **kchat_settings,
            },
        }
    )


class KChatSocket:
    """A test client for ``/ws/chat`` that reads events with a deadline, never with sleeps."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
        await self.connection.write_message(text)

    async def event(self, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
        message = await asyncio.wait_for(self.connection.read_message(), timeout)
        if message is None:
            raise ConnectionError("the server closed the socket")
        event = orjson.loads(message)
        self.received.append(event)
        return event

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = EVENT_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Events up to and including the first one that matches."""
        events = []
        while True:
            event = await self.event(timeout)
            events.append(event)
            if predicate(event):
                return events

    async def turn(self, frame: dict[str, Any], timeout: float = EVENT_TIMEOUT) -> list[dict[str, Any]]:
        """Send a chat frame and return every event up to its ``complete``."""
        await self.send(frame)
        return await self.until(lambda e: e["type"] == "complete", timeout)

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def kchat_ws(jp_ws_fetch: Callable[..., Any], jp_asyncio_loop: asyncio.AbstractEventLoop):
    """Factory: ``sock = await kchat_ws()`` opens an authenticated ``/ws/chat`` socket."""
    sockets: list[KChatSocket] = []

    async def connect(**kwargs: Any) -> KChatSocket:
        socket = KChatSocket(await jp_ws_fetch("ws", "chat", **kwargs))
        sockets.append(socket)
        return socket

    yield connect
    for socket in sockets:
        socket.close()
