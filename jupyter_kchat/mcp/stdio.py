"""``jupyter kchat mcp``: kchat's tools over MCP's stdio transport, for desktop agents.

The same ``KChat`` configuration as the server (the ``jupyter_server_config`` files, then the
command line): kubeconfig, context, namespace, read_only, budgets and timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from jupyter_core.application import JupyterApp
from mcp.server.stdio import stdio_server

from .._version import __version__
from ..config import KChat, load_jupyter_config
from .server import ToolServer


class KChatMCPApp(JupyterApp):
    """Serve kchat's Kubernetes tools to an MCP client on stdin/stdout."""

    name = "jupyter-kchat-mcp"
    version = __version__
    description = (
        "Serve kchat's Kubernetes tools over MCP (stdio). Add to an agent's MCP settings as "
        '{"command": "jupyter", "args": ["kchat", "mcp"]}.'
    )
    classes = [KChat]

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        # The server's config files first; the command line, parsed above, wins.
        command_line = self.config
        self.update_config(load_jupyter_config())
        self.update_config(command_line)
        # stdout is the protocol: every log line goes to stderr.
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

    def start(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        settings = KChat(parent=self)
        with ThreadPoolExecutor(settings.tool_threads, thread_name_prefix="kchat-mcp") as executor:
            tools = ToolServer(settings, executor=executor)
            server = tools.server()
            try:
                async with stdio_server() as (read_stream, write_stream):
                    await server.run(
                        read_stream, write_stream, server.create_initialization_options()
                    )
            finally:
                tools.close()
