"""list_contexts: the kubeconfig's contexts, which cluster and namespace each means, and which
one the chat uses. Other tools reach another context through their ``context`` argument (added
by the registry when there are several), so this is how the model learns the names."""

from __future__ import annotations

from typing import Any

from kubernetes.config.kube_config import KubeConfigMerger

from .base import ToolContext, ToolResult, ToolSpec
from .common import check_args, schema
from .kube import CONFIG_ERRORS, KubeConfigError
from .redact import redact_text
from .shape import plural, table


def _plain(node: Any) -> dict[str, Any]:
    """A kubeconfig entry as a dict (the merger wraps entries in ``ConfigNode``)."""
    value = getattr(node, "value", node)
    return value if isinstance(value, dict) else {}


def context_rows(ctx: ToolContext) -> list[dict[str, Any]]:
    """One row per context: name, server, namespace, user, and whether the chat uses it."""
    clients = ctx.clients
    current = ctx.cluster.context
    path = clients.kubeconfig_path() if clients is not None else None
    if path is None:
        return [
            {
                "name": current,
                "server": ctx.cluster.server,
                "namespace": ctx.cluster.default_namespace or "",
                "user": "",
                "current": True,
            }
        ]
    try:
        config = KubeConfigMerger(path).config
        value = _plain(config)
    except CONFIG_ERRORS as exc:
        raise KubeConfigError(f"cannot read the kubeconfig {path}: {exc}") from None
    servers = {
        str(c.get("name")): str(_plain(c.get("cluster")).get("server", ""))
        for c in map(_plain, value.get("clusters") or [])
    }
    rows = []
    for entry in map(_plain, value.get("contexts") or []):
        name = str(entry.get("name"))
        spec = _plain(entry.get("context"))
        rows.append(
            {
                "name": name,
                "server": redact_text(servers.get(str(spec.get("cluster")), "")),
                "namespace": str(spec.get("namespace") or ""),
                "user": str(spec.get("user") or ""),
                "current": name == current,
            }
        )
    return rows


def list_contexts(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """The kubeconfig's contexts and which one the chat uses."""
    check_args(args, {}, "list_contexts")
    rows = context_rows(ctx)
    lines = [
        (
            f"{plural(len(rows), 'context')} in the kubeconfig; the chat uses "
            f"{ctx.cluster.context!r} unless a tool call names another (context argument)."
        )
    ]
    lines += table(
        ["CURRENT", "NAME", "SERVER", "NAMESPACE", "USER"],
        [
            [
                "*" if r["current"] else "",
                r["name"],
                r["server"],
                r["namespace"] or "default",
                r["user"],
            ]
            for r in rows
        ],
    )
    return ToolResult(text="\n".join(lines), data=rows)


def context_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_contexts",
            description="Kubeconfig contexts and the one in use.",
            parameters=schema({}),
            func=list_contexts,
        )
    ]
