"""The jupyter-kchat server extension: reads ``KChat`` config, builds the services, adds routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_server.extension.application import ExtensionApp

from ._version import __version__
from .config import CONFIG_ENV, KChat
from .handlers import default_handlers
from .mcp.handlers import MCPService
from .mcp.handlers import default_handlers as mcp_handlers
from .mcp.server import ToolServer
from .turns import TurnManager


class KChatApp(ExtensionApp):
    """Serves ``{base_url}ws/chat`` and ``{base_url}api/kchat/*``; settings live on ``KChat``."""

    name = "jupyter_kchat"
    version = __version__
    description = "Chat with your Kubernetes cluster from inside Jupyter."
    load_other_extensions = True
    classes = [KChat]
    subcommands = {
        "mcp": (
            "jupyter_kchat.mcp.stdio.KChatMCPApp",
            "Serve kchat's Kubernetes tools to an MCP client over stdio.",
        )
    }

    def initialize_settings(self) -> None:
        self.kchat = KChat(parent=self)
        self.executor = ThreadPoolExecutor(self.kchat.tool_threads, thread_name_prefix="kchat-tool")
        self.turns = TurnManager.from_settings(self.kchat, executor=self.executor)
        self.store = self.turns.store
        self.warming: asyncio.Task[None] | None = None
        # kchat's own tools only: mcp_servers' tools are the chat's, not re-served to agents.
        self.mcp = MCPService(ToolServer(self.kchat, kube=self.turns.kube, executor=self.executor))
        self.settings.update(
            kchat_config=self.kchat,
            kchat_turns=self.turns,
            kchat_store=self.store,
            kchat_mcp=self.mcp,
        )
        self.log.info(
            "kchat: model %s at %s, cluster %s, %s",
            self.kchat.model,
            self.kchat.base_url or "api.openai.com",
            self.kchat.kubeconfig or "in-cluster",
            "read-only" if self.kchat.read_only else "changes need approval",
        )
        for problem in self.kchat.problems():
            self.log.warning("kchat: %s", problem)
        # Kernels started by this server inherit its environment: hand them the KChat settings
        # given on the command line too, so %kchat and the widget use the same model and cluster.
        os.environ[CONFIG_ENV] = json.dumps(dict(self.config.get("KChat", {})), default=str)

    def initialize_handlers(self) -> None:
        self.handlers.extend([*default_handlers, *mcp_handlers])

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.store.open()
        stop_cleanly_on_sigint(serverapp)
        self.warming = asyncio.create_task(warm_then_freeze(self.turns), name="kchat-warm-up")

    async def stop_extension(self) -> None:
        if self.warming is not None:
            self.warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.warming  # ended before the store and the clients it uses close
        await self.mcp.stop()
        await self.turns.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def warm_then_freeze(turns: TurnManager) -> None:
    """Warm the turn manager, then move every object alive so far out of the garbage collector's
    sight (``gc.freeze``).

    A server holds some 320,000 objects from its start (Jupyter, the ``kubernetes`` and
    ``openai`` clients, the tokenizer) that live as long as it does; every full collection
    walked them all: 50-165 ms in which no event of any conversation went out.
    Frozen, a collection only walks what came later. Freezing takes no time; no collection
    first: it found some 20 unreachable objects there and held up the first answer for 150-500
    ms. It runs only in a started server (the extension's start, not pytest-jupyter's in-process
    servers, whose interpreter is shared).
    """
    await turns.warm()
    gc.freeze()


def stop_cleanly_on_sigint(serverapp: Any) -> None:
    """Make SIGINT stop a server without a terminal the way SIGTERM does.

    Jupyter only handles SIGINT when stdin is a terminal; otherwise it is a KeyboardInterrupt
    that ends the event loop without any cleanup, and the history database's thread then keeps
    the process alive for good. JupyterHub's local spawners stop user servers with SIGINT, so
    every stop would hang until SIGKILL. An interactive server (its own SIGINT handler) and an
    embedded one (no SIGTERM handler of the server's) are left alone.
    """
    if (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
        and signal.getsignal(signal.SIGTERM) == serverapp._signal_stop
    ):
        signal.signal(signal.SIGINT, serverapp._signal_stop)


main = launch_new_instance = KChatApp.launch_instance
