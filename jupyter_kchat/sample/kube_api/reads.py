"""List and table bodies: selected, paged, in the negotiated representation."""

from __future__ import annotations

import bisect

import orjson

from ..cluster import Key, Obj
from .printers import table_spec
from .resources import Resource
from .routing import int_param
from .selectors import parse_field_selector, parse_label_selector
from .storage import Entry, Store, decode_continue, encode_continue


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
        picked = [entries[key] for key in keys[lo:end]]
        if end < hi:
            next_key, remaining = keys[end - 1], hi - end
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
        return table_body(resource, picked, meta, query, now)
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
    """The meta.k8s.io/v1 Table: the printer's columns, a row per object, each row's object
    as ``includeObject`` asks (None, Metadata (the default) or Object). Rows are spliced from
    each object's printed cells and its serialized object, without a per-row dump."""
    columns, cells = table_spec(resource)
    include = query.get("includeObject", "Metadata")
    count = len(entries)
    step = 3 if include == "None" else 5
    parts = [b"},{"] * (count * step)
    parts[0::step] = [b'"cells":'] * count
    parts[1::step] = [entry.printed(cells, now) for entry in entries]
    if include == "Object":
        parts[3::step] = [entry.full(resource) for entry in entries]
    elif include != "None":
        parts[3::step] = [entry.metadata() for entry in entries]
    if include != "None":
        parts[2::step] = [b',"object":'] * count
    rows = b"{%s}" % b"".join(parts[:-1]) if count else b""
    return b'{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":%s,' % orjson.dumps(
        meta
    ) + b'"columnDefinitions":%s,"rows":[%s]}' % (orjson.dumps(columns), rows)
