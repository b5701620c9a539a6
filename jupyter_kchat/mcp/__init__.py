"""kchat and the Model Context Protocol (the official ``mcp`` SDK).

``server``: kchat's Kubernetes tools for any MCP client, with every guarantee the chat has
(budgets, redaction, read-only by default, a human approves each change). ``stdio`` runs it as
``jupyter kchat mcp``; ``handlers`` serves it inside Jupyter at ``{base_url}api/kchat/mcp``.
"""

from __future__ import annotations

from .server import ToolServer

__all__ = ["ToolServer"]
