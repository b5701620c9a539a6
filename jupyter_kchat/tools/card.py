"""The cluster card: a few lines that start a conversation, so the model knows where it is.

Without it models guess ``namespace: "default"``. The card names the kubeconfig context, the
namespaces (at most :data:`MAX_NAMESPACES` names), the chat's default namespace and the node
count. It costs two small list requests (metadata only, one node); a part the credentials may
not read is left out. :class:`ClusterCards` keeps the cards and the kubeconfig's context names
for every turn, so a turn never waits for the cluster except for the very first card.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor

import msgspec

from .base import ToolContext
from .errors import ToolError
from .kube import api_path

log = logging.getLogger(__name__)

CARD_TTL = 120.0
"""Seconds a card is fresh (namespaces and nodes change rarely); then the next turn still gets it
at once and a new one is read in the background."""

MAX_CARDS = 64
"""Cards kept (clusters x namespaces chats name); the least recently read goes first."""

CARD_WAIT = 5.0
"""Seconds a turn waits for a cluster's first card; a slow cluster gets none this turn (the card
is still read, for the next one)."""

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

CardKey = tuple[str, str, str]
"""A card's cluster: kubeconfig context, API server and the chat's default namespace."""

FileStamp = tuple[int, int, int] | None
"""A kubeconfig file as ``os.stat`` sees it (inode, size, mtime), None when it is missing."""

KnownNames = tuple[tuple[FileStamp, ...], tuple[str, ...]]
"""Context names, and the kubeconfig files' stamps when they were read."""


class ClusterCards:
    """What a turn knows of its cluster before it asks the model, without waiting for it: the
    card of each cluster and namespace, refreshed in the background once it is older than
    ``ttl``, and the kubeconfig's context names, read again only when the file changes."""

    def __init__(self, executor: Executor | None = None, ttl: float = CARD_TTL) -> None:
        self.executor = executor
        self.ttl = ttl
        self._cards: OrderedDict[CardKey, tuple[float, str]] = OrderedDict()
        self._reading: dict[CardKey, asyncio.Future[str]] = {}
        self._names: dict[tuple[str | None, str], KnownNames] = {}
        self._lock = threading.Lock()

    async def card(self, ctx: ToolContext, wait: float = CARD_WAIT) -> str:
        """The card for ``ctx``'s cluster and namespace: the last one read (a stale one starts a
        new read), else the first, waited for up to ``wait`` seconds ("" after that)."""
        key = _key(ctx)
        known = self._cards.get(key)
        if known is not None:
            self._cards.move_to_end(key)
            if time.monotonic() - known[0] >= self.ttl:
                self.prefetch(ctx)
            return known[1]
        try:
            async with asyncio.timeout(wait):
                return await asyncio.shield(self.prefetch(ctx))
        except TimeoutError:
            log.info("no cluster card this turn: the cluster took over %s s", wait)
        except Exception:  # the card helps, a chat never fails for it (_read warns of it)
            log.debug("no cluster card this turn", exc_info=True)
        return ""

    def prefetch(self, ctx: ToolContext) -> asyncio.Future[str]:
        """Read ``ctx``'s card in the background (once at a time per cluster and namespace)."""
        key = _key(ctx)
        reading = self._reading.get(key)
        if reading is None:
            loop = asyncio.get_running_loop()
            reading = loop.run_in_executor(self.executor, cluster_card, ctx)
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._read(key, done))
        return reading

    def _read(self, key: CardKey, done: asyncio.Future[str]) -> None:
        del self._reading[key]
        if done.cancelled():
            return
        if (error := done.exception()) is not None:  # the card helps; a chat never fails for it
            log.warning("cannot read the cluster card", exc_info=error)
            return
        self._cards[key] = (time.monotonic(), done.result())
        self._cards.move_to_end(key)
        while len(self._cards) > MAX_CARDS:
            self._cards.popitem(last=False)

    def contexts(self, ctx: ToolContext) -> tuple[str, ...]:
        """``ctx.contexts()`` (this context first), parsed again only when a kubeconfig file
        has changed since (blocking: call from a worker)."""
        path = ctx.clients.kubeconfig_path() if ctx.clients is not None else None
        key = (path, ctx.cluster.context)
        stamps = _stamps(path)
        with self._lock:
            known = self._names.get(key)
        if known is not None and known[0] == stamps:
            return known[1]
        names = ctx.contexts()
        with self._lock:
            self._names[key] = (stamps, names)
        return names


def _key(ctx: ToolContext) -> CardKey:
    return (ctx.cluster.context, ctx.cluster.server, ctx.default_namespace())


def _stamps(path: str | None) -> tuple[FileStamp, ...]:
    """What changes when any of the (``:``-separated) kubeconfig files ``path`` is rewritten."""
    stamps: list[FileStamp] = []
    for part in (path or "").split(os.pathsep):
        try:
            stat = os.stat(part)
        except (OSError, ValueError):
            stamps.append(None)
        else:
            stamps.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


def cluster_card(ctx: ToolContext) -> str:
    """The card for this chat's cluster and namespace, read now (blocking: call from a worker)."""
    namespace = ctx.default_namespace()
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
