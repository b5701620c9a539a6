"""The API server's own Table for any list: what ``kubectl get`` prints, read page by page.

Rows are requested as ``as=Table`` (``includeObject=Object`` only for kinds with a status, which
the health rules read; never for Secrets), decoded with msgspec into just the cells and the
object's metadata and status, and turned into text cells the way kubectl prints them. Cells
from the cluster pass redaction, one pass per table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec

from .discovery import Kind
from .errors import ToolError
from .kube import PAGE_SIZE, ApiFailure, KubeCluster, paused_gc
from .redact import redact_text
from .shape import human_age, parse_time

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
SECRET_KINDS = frozenset({("", "secrets")})
"""Kinds whose objects are never fetched in full (their data are credentials)."""


class Column(msgspec.Struct, gc=False):
    name: str = ""
    type: str = ""
    format: str = ""
    priority: int = 0


class _RowMeta(msgspec.Struct, rename="camel", gc=False):
    name: str = ""
    namespace: str = ""
    deletion_timestamp: str | None = None


class RowObject(msgspec.Struct, gc=False):
    metadata: _RowMeta = msgspec.field(default_factory=_RowMeta)
    status: Any = None


class _Row(msgspec.Struct, gc=False):
    cells: list[Any] = []
    object: RowObject | None = None


class _TableMeta(msgspec.Struct, gc=False):
    continue_: str = msgspec.field(default="", name="continue")


class _Table(msgspec.Struct, rename="camel", gc=False):
    column_definitions: list[Column] = []
    rows: list[_Row] = []
    metadata: _TableMeta = msgspec.field(default_factory=_TableMeta)


@dataclass
class Table:
    """A whole list as the server printed it."""

    columns: list[Column]
    rows: list[_Row]


def _include(kind: Kind) -> str:
    """Full objects only where the health rules need a status; never for Secrets."""
    secret = (kind.group, kind.resource) in SECRET_KINDS
    return "Object" if kind.has_status and not secret else "Metadata"


_TABLE_DECODER = msgspec.json.Decoder(_Table)


def _decode_table(data: bytes, cluster: KubeCluster, path: str) -> _Table:
    try:
        with paused_gc():
            return _TABLE_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ToolError(
            f"the API server at {cluster.server} answered {path} with something that is not a "
            f"Table ({exc}); is the kubeconfig's server really a Kubernetes API?"
        ) from None


def read_table(
    cluster: KubeCluster,
    kind: Kind,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout: float = 30.0,
    page_size: int = PAGE_SIZE,
    each_page: Callable[[Table, bool], None] | None = None,
) -> Table:
    """Every row of a list in the server's Table format, paged with ``limit``/``continue``.

    The next page is requested as soon as a page's continue token is known, so the server
    prints it while ``each_page(page, first)`` (if given) works on the current one. A continue
    token that expired while paging (410) restarts the list once from the top: ``first`` is
    True on the first page of each start.
    """
    path = kind.path(namespace)
    base: list[tuple[str, Any]] = [("limit", page_size), ("includeObject", _include(kind))]
    if label_selector:
        base.append(("labelSelector", label_selector))
    if field_selector:
        base.append(("fieldSelector", field_selector))

    def fetch(token: str) -> bytes:
        query = [*base, ("continue", token)] if token else base
        return cluster.get_raw(path, query, accept=TABLE, timeout=timeout)

    columns: list[Column] = []
    rows: list[_Row] = []
    token, restarted = "", False
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        pending = prefetch.submit(fetch, "")
        while True:
            try:
                data = pending.result()
            except ApiFailure as exc:
                if exc.status == 410 and token and not restarted:
                    restarted, token, rows = True, "", []
                    pending = prefetch.submit(fetch, "")
                    continue
                raise
            page = _decode_table(data, cluster, path)
            del data
            token = page.metadata.continue_
            if token:
                pending = prefetch.submit(fetch, token)
            columns = page.column_definitions or columns
            first = not rows
            rows.extend(page.rows)
            if each_page is not None:
                each_page(Table(columns, page.rows), first)
            if not token:
                return Table(columns, rows)


def column_key(name: str) -> str:
    """A data-row key for a column: ``Nominated Node`` -> ``nominated_node``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "value"


def cell_text(value: Any, column: Column, now: float) -> str:
    """A cell as kubectl prints it: dates as ages, lists joined (not yet redacted)."""
    if value is None:
        return ""
    if isinstance(value, str):
        if column.format == "date" or column.type == "date":
            when = parse_time(value)
            return human_age(now - when) if when is not None else value
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    return str(value)


CELL, ROW = "\x00", "\x01"
"""Join cells and rows so that one redaction pass covers a whole table (no rule matches a
control character, so nothing is masked across a boundary)."""


def redact_rows(rows: list[list[str]]) -> list[list[str]]:
    """Every cell redacted: one pass over the whole table, row by row only where it masked."""
    joined = [CELL.join(cells) for cells in rows]
    whole = ROW.join(joined)
    if redact_text(whole) == whole:
        return rows
    out = []
    for cells, line in zip(rows, joined, strict=True):
        masked = redact_text(line)
        parts = masked.split(CELL) if masked != line else cells
        out.append(parts if len(parts) == len(cells) else [redact_text(c) for c in cells])
    return out
