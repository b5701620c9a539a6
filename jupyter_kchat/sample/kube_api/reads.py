"""List and table bodies: selected, paged, in the negotiated representation."""

from __future__ import annotations

import bisect

import orjson

from ..cluster import Key, Obj
from .printers import table_spec
from .resources import Resource
from .routing import int_param
from .selectors import parse_field_selector, parse_label_selector
from .storage import Entry, Store, decode_continue, encode_continue, row_parts


def list_body(
    store: Store,
    resource: Resource,
    namespace: str | None,
    query: dict[str, str],
    representation: str,
    revision: int | None,
    now: float,
) -> bytes:
    """A list response; ``revision`` None for lists without one (metrics-server's)."""
    labels = parse_label_selector(query.get("labelSelector", ""))
    fields = parse_field_selector(query.get("fieldSelector", ""), resource)
    limit = int_param(query, "limit") or 0
    token = query.get("continue", "")
    head = b'{"kind":"%sList","apiVersion":"%s","metadata":' % (
        resource.kind.encode(),
        resource.api_version.encode(),
    )
    if representation == "json" and not labels and not fields and not limit and not token:
        joined, _ = store.joined(namespace)
        meta = b"{}" if revision is None else b'{"resourceVersion":"%d"}' % revision
        return head + meta + b',"items":[%s]}' % joined
    lo, hi = store.span(namespace)
    if token:
        start = decode_continue(token, resource.namespaced)
        lo = max(lo, bisect.bisect_right(store.keys, start))
    picked: list[Entry] = []
    last: Key | None = None
    next_key: Key | None = None
    remaining = 0
    entries = store.entries
    keys = store.keys
    if not labels and not fields:
        end = min(hi, lo + limit) if limit else hi
        if end < hi:
            next_key, remaining = keys[end - 1], hi - end
        if representation != "table":
            picked = [entries[key] for key in keys[lo:end]]
    else:
        for index in range(lo, hi):
            key = keys[index]
            entry = entries[key]
            if not entry.matches(labels, fields):
                continue
            if limit and len(picked) == limit:
                next_key, remaining = last, hi - index
                break
            picked.append(entry)
            last = key
    meta: Obj = {} if revision is None else {"resourceVersion": str(revision)}
    if next_key is not None:
        meta["continue"] = encode_continue(revision or 0, next_key)
        if not labels and not fields:
            meta["remainingItemCount"] = remaining
    if representation == "table":
        if labels or fields:
            return table_body(resource, picked, meta, query, now)
        columns, cells = table_spec(resource)
        rows = store.table_rows(resource, namespace, _include(query), cells, now)
        return _table(meta, columns, rows.slice(lo, end))
    if representation == "meta":
        items = b",".join([e.metadata() for e in picked])
        return (
            b'{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",'
            b'"metadata":%s,"items":[%s]}' % (orjson.dumps(meta), items)
        )
    items = b",".join([e.item for e in picked])
    return head + orjson.dumps(meta) + b',"items":[%s]}' % items


def table_body(
    resource: Resource, entries: list[Entry], meta: Obj, query: dict[str, str], now: float
) -> bytes:
    """The meta.k8s.io/v1 Table of ``entries``: the printer's columns, a row per object, each
    row's object as ``includeObject`` asks. Rows are spliced from each object's printed cells
    and its serialized object, without a per-row dump."""
    columns, cells = table_spec(resource)
    parts, _, _ = row_parts(resource, entries, _include(query), cells, now)
    return _table(meta, columns, b"".join(parts)[:-1])


def _include(query: dict[str, str]) -> str:
    """``includeObject``: None, Object, or Metadata (the default, also for any other value)."""
    include = query.get("includeObject", "")
    return include if include in ("None", "Object") else "Metadata"


def _table(meta: Obj, columns: list[Obj], rows: bytes | memoryview) -> bytes:
    return b"".join(
        [
            b'{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":',
            orjson.dumps(meta),
            b',"columnDefinitions":',
            orjson.dumps(columns),
            b',"rows":[',
            rows,
            b"]}",
        ]
    )
