"""The cluster card: a few lines that start a conversation, so the model knows where it is.

Without it models guess ``namespace: "default"``. The card names the kubeconfig context, the
namespaces (at most :data:`MAX_NAMESPACES` names), the chat's default namespace and the node
count. It costs two small list requests (metadata only, one node) and is cached per context and
namespace for :data:`CARD_TTL` seconds; a part the credentials may not read is left out.
"""

from __future__ import annotations

import threading
import time

import msgspec

from .base import ToolContext
from .errors import ToolError
from .kube import api_path

CARD_TTL = 120.0
"""Seconds a card is reused (namespaces and nodes change rarely)."""

MAX_NAMESPACES = 40
"""Namespace names shown; the rest are counted."""

CARD_TIMEOUT = 5.0
"""Seconds each of the card's requests may take: a slow cluster must not hold up the answer."""

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


class _Meta(msgspec.Struct):
    name: str = ""


class _Item(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _ListMeta(msgspec.Struct, rename="camel"):
    remaining_item_count: int | None = None
    continue_: str = msgspec.field(default="", name="continue")


class _List(msgspec.Struct):
    items: list[_Item] | None = None
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)


_decoder = msgspec.json.Decoder(_List)
_cache: dict[tuple[str, str, str], tuple[float, str]] = {}
_lock = threading.Lock()


def cluster_card(ctx: ToolContext) -> str:
    """The card for this chat's cluster and namespace (cached; blocking: call from a worker)."""
    namespace = ctx.default_namespace()
    key = (ctx.cluster.context, ctx.cluster.server, namespace)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached is not None and now - cached[0] < CARD_TTL:
        return cached[1]
    card = _build(ctx, namespace)
    with _lock:
        _cache[key] = (now, card)
    return card


def _build(ctx: ToolContext, namespace: str) -> str:
    timeout = min(ctx.timeout, CARD_TIMEOUT)
    lines = [f"Kubernetes context: {ctx.cluster.context}."]
    namespaces = _list(ctx, "namespaces", limit=500, timeout=timeout)
    if namespaces is not None:
        names = sorted(item.metadata.name for item in namespaces.items or ())
        total = len(names) + (namespaces.metadata.remaining_item_count or 0)
        shown = ", ".join(names[:MAX_NAMESPACES])
        if total > MAX_NAMESPACES:
            shown += f" and {total - MAX_NAMESPACES} more"
        lines.append(f"Namespaces ({total}): {shown}." if names else "Namespaces: none readable.")
    lines.append(f"The chat's default namespace (used when none is named): {namespace}.")
    nodes = _list(ctx, "nodes", limit=1, timeout=timeout)
    if nodes is not None:
        count = len(nodes.items or ()) + (nodes.metadata.remaining_item_count or 0)
        lines.append(f"Nodes: {count}.")
    return " ".join(lines)


def _list(ctx: ToolContext, resource: str, *, limit: int, timeout: float) -> _List | None:
    """One page of a metadata-only list, or None when it cannot be read (RBAC, network)."""
    try:
        body = ctx.cluster.get_raw(
            api_path(resource), {"limit": limit}, accept=METADATA_LIST, timeout=timeout
        )
        return _decoder.decode(body)
    except (ToolError, msgspec.DecodeError):
        return None
