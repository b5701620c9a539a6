"""The shape every Kubernetes tool shares: what the model is offered and what a call returns.

Tools know nothing of the LLM or of Tornado. A tool is a plain synchronous function
``func(ctx, args) -> ToolResult`` that runs in a worker thread; the engine decides when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kube import KubeCluster


class ToolError(Exception):
    """A failure the model can act on: the message becomes the tool result text.

    Raise it for cluster faults (403 with the RBAC message, 404, 409, timeouts) and for
    arguments that make no sense, phrased as advice ("namespace 'x' not found; try list_namespaces").
    """


@dataclass
class ToolResult:
    """What one tool call produced.

    ``text`` is what the model sees (already fitted to the budget and redacted);
    ``data`` are structured rows for tables in the panel and notebooks (may be complete);
    ``truncated`` says the text leaves things out (and the text says how to narrow down).
    """

    text: str
    data: list[dict[str, Any]] | None = None
    truncated: bool = False


@dataclass
class ToolContext:
    """Everything a tool needs for one call; built per turn by the engine's caller."""

    cluster: KubeCluster
    namespace: str | None = None
    budget: int = 12_000
    timeout: float = 30.0

    def default_namespace(self) -> str:
        """The namespace a tool uses when the model names none: the chat's, then kubeconfig's."""
        return self.namespace or self.cluster.default_namespace or "default"


ToolFunc = Callable[[ToolContext, dict[str, Any]], ToolResult]


@dataclass(frozen=True)
class ToolSpec:
    """One tool as offered to the model: name, description, JSON schema, and whether it writes."""

    name: str
    description: str
    parameters: dict[str, Any]
    func: ToolFunc
    writes: bool = False
    summarize: Callable[[dict[str, Any]], str] | None = field(default=None, compare=False)

    def openai_schema(self) -> dict[str, Any]:
        """The entry for the ``tools`` list of a chat-completions request."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def describe_change(self, args: dict[str, Any]) -> str:
        """A one-line, human-readable account of what a write tool would do (for approval)."""
        if self.summarize is not None:
            return self.summarize(args)
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        return f"{self.name}({shown})"


class ToolRegistry:
    """The one catalogue of tools every model is offered."""

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self._tools: dict[str, ToolSpec] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"duplicate tool name {tool.name!r}")
            self._tools[tool.name] = tool

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def names(self, *, read_only: bool) -> list[str]:
        return [t.name for t in self._tools.values() if not (read_only and t.writes)]

    def available(self, *, read_only: bool) -> list[ToolSpec]:
        """The tools a turn may use: in read-only mode, write tools are not offered at all."""
        return [t for t in self._tools.values() if not (read_only and t.writes)]

    def openai_tools(self, *, read_only: bool) -> list[dict[str, Any]]:
        return [t.openai_schema() for t in self.available(read_only=read_only)]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)
