"""A real ``jupyter server`` process, as installed: extension enabled by pip, base_url, restarts."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Service, free_port
from websockets.asyncio.client import connect

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.model_server import Fault, ModelServer

BASE_URL = "/user/alice/"


def wait_for_port(port: int, process: subprocess.Popen[str], deadline: float = 60.0) -> None:
    """The server logs its URL before its socket listens; wait until it accepts connections."""
    give_up = time.monotonic() + deadline
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"jupyter server is not listening on {port}") from None
            time.sleep(0.05)


class JupyterServer:
    """``jupyter server`` in a subprocess; started and stopped like a user would."""

    def __init__(self, tmp: Path, model_url: str, kubeconfig: str) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.tmp = tmp
        self.args = [
            sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
            f"--port={self.port}", "--ip=127.0.0.1", f"--ServerApp.base_url={BASE_URL}",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={tmp}",
            f"--KChat.base_url={model_url}", "--KChat.api_key=test", "--KChat.model=kchat-demo",
            f"--KChat.kubeconfig={kubeconfig}", f"--KChat.db_path={tmp / 'history.sqlite3'}",
        ]
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_DATA_DIR": str(tmp / "data"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        }
        self.service: Service | None = None
        self._starts = 0

    def start(self) -> None:
        self._starts += 1
        log = self.tmp / f"server-{self._starts}.log"
        self.service = Service(self.args, "is running at", log, self.env)
        wait_for_port(self.port, self.service.process)

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        """Signal the server and return its exit code; a server that does not exit fails."""
        assert self.service is not None
        code = self.service.stop(how, timeout=60)
        if self.service.killed:
            raise AssertionError(f"the server ignored {how.name}:\n{self.log()[-3000:]}")
        return code

    def log(self) -> str:
        """What the last run of the server logged."""
        assert self.service is not None
        return self.service.log_path.read_text()

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{BASE_URL}{path}",
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    async def turn(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        url = f"ws://127.0.0.1:{self.port}{BASE_URL}ws/chat"
        events = []
        async with connect(url, additional_headers={"Authorization": f"token {self.token}"}) as ws:
            await ws.send(json.dumps(frame))
            async for message in ws:
                events.append(json.loads(message))
                if events[-1]["type"] == "complete":
                    return events
        raise AssertionError("socket closed before complete")


@pytest.fixture
def offline_services(tmp_path: Path) -> Iterator[tuple[ModelServer, str, str]]:
    model = ModelServer()
    api = KubeAPIServer(SampleCluster(pods=60))
    with model.run_in_thread(port=0) as model_url, api.run_in_thread(port=0):
        yield model, model_url, str(api.write_kubeconfig(tmp_path / "kubeconfig.yaml"))


async def test_history_survives_a_restart_under_a_hub_style_base_url(offline_services, tmp_path):
    model, model_url, kubeconfig = offline_services
    server = JupyterServer(tmp_path, model_url, kubeconfig)
    server.start()
    try:
        first = await server.turn({"message": "list all pods"})
        conversation_id = first[-1]["data"]["conversation_id"]
        assert first[-1]["data"]["tool_calls"][0]["status"] == "completed"
    finally:
        server.stop()

    server.start()
    try:
        listing = server.get("api/kchat/conversations")["conversations"]
        assert [c["id"] for c in listing] == [conversation_id]
        stored = server.get(f"api/kchat/conversations/{conversation_id}")
        assert [m["role"] for m in stored["messages"]][:3] == ["user", "assistant", "tool"]

        second = await server.turn({"message": "say welcome back", "conversation_id": conversation_id})
        assert second[0]["seq"] > first[-1]["seq"], "seq keeps counting after a restart"
        assert second[-1]["data"]["message"] == "welcome back"
        sent = model.requests[-1].body["messages"]
        assert sent[1] == {"role": "user", "content": "list all pods"}, "the model sees earlier turns"
        assert any(m["role"] == "tool" for m in sent)
    finally:
        server.stop()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_stops_the_server_mid_answer_and_keeps_the_question(
    offline_services, tmp_path, how
):
    """JupyterHub's spawners stop user servers with SIGINT, and no terminal is attached."""
    model, model_url, kubeconfig = offline_services
    model.faults.push(Fault.hang())
    server = JupyterServer(tmp_path, model_url, kubeconfig)
    server.start()
    url = f"ws://127.0.0.1:{server.port}{BASE_URL}ws/chat"
    try:
        async with connect(url, additional_headers={"Authorization": f"token {server.token}"}) as ws:
            await ws.send(json.dumps({"message": "why is payments-api crashlooping?"}))
            first = json.loads(await ws.recv())
            assert first["type"] == "thinking"
            assert await asyncio.to_thread(server.stop, how) == 0
    finally:
        assert server.service is not None
        if server.service.process.poll() is None:
            server.service.stop(signal.SIGKILL)
    log = server.log().splitlines()
    assert any("Shutting down" in line and "extensions" in line for line in log)

    server.start()
    try:
        conversation_id = first["data"]["conversation_id"]
        stored = server.get(f"api/kchat/conversations/{conversation_id}")
        assert stored["messages"][0]["content"] == "why is payments-api crashlooping?"
    finally:
        server.stop()


def test_pip_install_enables_the_extension(tmp_path):
    """``pip install`` put the server config in place: no manual ``jupyter server extension enable``."""
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path)}
    listing = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        env=env, capture_output=True, text=True, check=True,
    )
    output = listing.stdout + listing.stderr
    assert "jupyter_kchat" in output and "enabled" in output.split("jupyter_kchat", 1)[1][:40]


def test_help_all_documents_every_kchat_setting():
    """``jupyter server`` parses --help-all before loading extensions, so kchat's app lists them."""
    help_all = subprocess.run(
        [sys.executable, "-m", "jupyter", "kchat", "--help-all"],
        capture_output=True, text=True, check=True,
    ).stdout
    for trait in ("model", "base_url", "api_key", "kubeconfig", "context", "read_only",
                  "max_tool_rounds", "tool_timeout", "system_prompt", "db_path"):
        assert f"--KChat.{trait}" in help_all, trait
