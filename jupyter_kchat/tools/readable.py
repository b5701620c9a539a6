"""The namespaces to read one by one when RBAC refuses a cluster-wide list.

A user whose role binds a few namespaces only gets a 403 for ``all_namespaces`` reads;
diagnose_cluster and list_resources then read namespace by namespace, in this order: the
chat's namespace, the kubeconfig's, then any the user may list.
"""

from __future__ import annotations

from .base import ToolContext
from .errors import ToolError
from .kube import api_path
from .models import Namespace

MAX_FALLBACK_NAMESPACES = 20
"""Namespaces tried one by one when the user may not read the whole cluster."""


def fallback_namespaces(ctx: ToolContext) -> list[str]:
    """Namespaces to try one by one: the chat's, the kubeconfig's, then any the user can list."""
    names = [ns for ns in (ctx.namespace, ctx.cluster.default_namespace) if ns]
    try:
        listed = ctx.cluster.list_all(api_path("namespaces"), Namespace, timeout=ctx.timeout)
        names.extend(ns.metadata.name for ns in listed.items)
    except ToolError:
        pass
    if not names:
        names.append("default")
    return list(dict.fromkeys(names))[:MAX_FALLBACK_NAMESPACES]
