"""The shape every Kubernetes tool shares: what the model is offered and what a call returns.

Tools know nothing of the LLM or of Tornado. A tool is a plain synchronous function
``func(ctx, args) -> ToolResult`` that runs in a worker thread; the engine decides when, and
calls it through :meth:`ToolRegistry.run`, which is also where kubeconfig contexts are handled:
with several contexts every tool takes a ``context`` argument and every result names its context,
without any tool knowing about it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ToolError
from .kube import KubeClients, KubeCluster

__all__ = ["ToolContext", "ToolError", "ToolFunc", "ToolRegistry", "ToolResult", "ToolSpec"]

CONTEXT_ARG = "context"

COMMON_ARGUMENTS: dict[str, dict[str, Any]] = {
    "namespace": {"type": "string", "description": "Default: the chat's namespace."},
    "all_namespaces": {"type": "boolean", "default": False, "description": "All namespaces."},
    "label_selector": {"type": "string", "description": "Label selector (kubectl -l syntax)."},
    "field_selector": {
        "type": "string",
        "description": "Field selector (kubectl --field-selector syntax).",
    },
    "name": {"type": "string", "description": "The object's exact name."},
    "kind": {
        "type": "string",
        "description": "As kubectl takes it: plural, singular or short name, optionally .group.",
    },
}
"""Arguments many tools take, with one meaning; a tool that means something else by one of these
names gives it its own schema (``diagnose_cluster``'s namespace defaults to all)."""

ARGUMENTS_NOTE = (
    "Tool arguments: namespace defaults to the chat's; label_selector, field_selector: kubectl "
    "syntax; name: exact; kind: as kubectl takes it; booleans default to false."
)
"""Said once in the system message, so the schemas a chat model is offered need not say it for
each tool (issue 12: a small local model's window starts with this fixed prompt)."""

MAX_OFFERED = 16
"""Tool lists :meth:`ToolRegistry.openai_tools` keeps (one per mode and kubeconfig contexts)."""


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
    """Everything a tool needs for one call; built per turn by the engine's caller.

    ``clients`` reaches the kubeconfig's other contexts (None: only ``cluster`` is known).
    """

    cluster: KubeCluster
    namespace: str | None = None
    budget: int = 12_000
    timeout: float = 30.0
    clients: KubeClients | None = None
    _contexts: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    def default_namespace(self) -> str:
        """The namespace a tool uses when the model names none: the chat's, then kubeconfig's."""
        return self.namespace or self.cluster.default_namespace or "default"

    def contexts(self) -> tuple[str, ...]:
        """The kubeconfig's context names, this one first (read once per context object)."""
        if self._contexts is None:
            names = self.clients.contexts() if self.clients is not None else []
            current = self.cluster.context
            self._contexts = (current, *(n for n in names if n != current))
        return self._contexts

    def for_context(self, name: str | None) -> ToolContext:
        """This context aimed at kubeconfig context ``name`` (None or the current one: itself)."""
        if not name or name == self.cluster.context:
            return self
        known = self.contexts()
        if name not in known or self.clients is None:
            raise ToolError(
                f"there is no kubeconfig context {name!r}; the contexts are: {', '.join(known)}. "
                "Call the tool again with one of them, or without context for "
                f"{self.cluster.context!r}."
            )
        return replace(self, cluster=self.clients.cluster(name), _contexts=self._contexts)


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
    conventions: bool = True
    """Its arguments mean what ``ARGUMENTS_NOTE`` says (another MCP server's tools promise not)."""

    def openai_schema(self, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """The entry for the ``tools`` list of a chat-completions request."""
        offered = self.parameters if parameters is None else parameters
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": _lean(offered) if self.conventions else offered,
            },
        }

    def describe_change(self, args: dict[str, Any]) -> str:
        """A one-line, human-readable account of what a write tool would do (for approval)."""
        if self.summarize is not None:
            return self.summarize(args)
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        return f"{self.name}({shown})"


def _lean(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` less what a model needs not read: the descriptions of ``COMMON_ARGUMENTS``,
    false defaults and the ``context`` choices, which the system message gives once
    (:meth:`ToolRegistry.prompt_note`), and ``additionalProperties``. The engine validates every
    call against the whole schema before it runs."""
    properties = {}
    for name, prop in parameters.get("properties", {}).items():
        if name == CONTEXT_ARG:
            prop = {"type": "string"}
        elif prop == COMMON_ARGUMENTS.get(name):
            prop = {k: v for k, v in prop.items() if k != "description"}
        if prop.get("type") == "boolean" and prop.get("default") is False:
            prop = {k: v for k, v in prop.items() if k != "default"}
        properties[name] = prop
    lean = {k: v for k, v in parameters.items() if k != "additionalProperties"}
    return {**lean, "properties": properties}


class ToolRegistry:
    """The one catalogue of tools every model is offered."""

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self._tools: dict[str, ToolSpec] = {}
        self._offered: dict[tuple[bool, tuple[str, ...]], list[dict[str, Any]]] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: ToolSpec) -> None:
        """Offer one more tool from now on (another MCP server's, once it is connected)."""
        if tool.name in self._tools:
            raise ValueError(f"duplicate tool name {tool.name!r}")
        self._tools[tool.name] = tool
        self._offered.clear()

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def names(self, *, read_only: bool) -> list[str]:
        return [t.name for t in self._tools.values() if not (read_only and t.writes)]

    def available(self, *, read_only: bool) -> list[ToolSpec]:
        """The tools a turn may use: in read-only mode, write tools are not offered at all."""
        return [t for t in self._tools.values() if not (read_only and t.writes)]

    def openai_tools(
        self, *, read_only: bool, contexts: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The ``tools`` list of a request; with several ``contexts`` each takes ``context``.

        Built once per (read_only, contexts) until a tool is added, not on every turn (a quarter
        of a millisecond before each first token): shared by every turn, so do not change it.
        """
        key = (read_only, tuple(contexts) if len(contexts) > 1 else ())
        offered = self._offered.get(key)
        if offered is None:
            if len(self._offered) >= MAX_OFFERED:  # contexts come and go with the kubeconfig
                self._offered.clear()
            offered = self._offered[key] = [
                t.openai_schema(self.parameters(t, key[1]))
                for t in self.available(read_only=read_only)
            ]
        return offered

    def prompt_note(self, *, read_only: bool, contexts: Sequence[str] = ()) -> str:
        """What the system message says about the offered tools' arguments (see ``_lean``)."""
        if not any(t.conventions for t in self.available(read_only=read_only)):
            return ""
        if len(contexts) < 2:
            return ARGUMENTS_NOTE
        return f"{ARGUMENTS_NOTE} context: one of {', '.join(contexts)}; default {contexts[0]}."

    @staticmethod
    def parameters(spec: ToolSpec, contexts: Sequence[str] = ()) -> dict[str, Any]:
        """The schema the model is offered for ``spec``: with a ``context`` enum when the
        kubeconfig has several contexts (the first is the chat's own, the default)."""
        if len(contexts) < 2:
            return spec.parameters
        params = copy.deepcopy(spec.parameters)
        params.setdefault("properties", {})[CONTEXT_ARG] = {
            "type": "string",
            "enum": list(contexts),
            "default": contexts[0],
            "description": "Kubeconfig context (cluster and user) to ask. Default: the chat's.",
        }
        return params

    @staticmethod
    def run(spec: ToolSpec, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        """Call ``spec`` as the engine does: on the context ``args`` name, and with several
        contexts, a result (or error) that says which context answered."""
        args = dict(args)
        wanted = args.pop(CONTEXT_ARG, None)
        if wanted is not None and not isinstance(wanted, str):
            raise ToolError(f"context must be a string, not {wanted!r:.60}.")
        target = ctx.for_context(wanted)
        several = len(ctx.contexts()) > 1
        try:
            result = spec.func(target, args)
        except ToolError as exc:
            if several:
                exc.args = (f"in context {target.cluster.context}: {exc}",)
            raise
        if not several:
            return result
        return replace(result, text=f"Context: {target.cluster.context}\n{result.text}")

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)
