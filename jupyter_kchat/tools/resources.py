"""list_resources: any kind the cluster serves, CRDs included, as the server's own Table.

The kind is resolved through discovery (see ``discovery``); rows come from the API server's
``Table`` representation, so the columns are the ones ``kubectl get`` prints (a CRD's
``additionalPrinterColumns``). Objects are fetched with the rows (``includeObject=Object``) only
for kinds with a status, so the health rules in ``conditions`` can read it; everything else
comes with metadata only. Secrets never bring more than metadata, whatever the request.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    NAMESPACE,
    Scope,
    check_args,
    missing_namespace,
    req_str,
    schema,
    scope,
    selector_args,
)
from .conditions import object_problem
from .discovery import Kind, resolve_kind
from .kube import PAGE_SIZE, ApiFailure, KubeCluster, api_path, gc_paused, paused_gc
from .models import Event
from .redact import redact_text
from .shape import Listing, clip, counts, fit_listing, human_age, parse_time, plural

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
KIND = {
    "type": "string",
    "description": (
        "Resource kind as kubectl takes it: plural, singular, Kind or short name, optionally "
        "with its API group after a dot; custom resources too."
    ),
}
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


class _RowObject(msgspec.Struct, gc=False):
    metadata: _RowMeta = msgspec.field(default_factory=_RowMeta)
    status: Any = None


class _Row(msgspec.Struct, gc=False):
    cells: list[Any] = []
    object: _RowObject | None = None


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


def _warnings(
    cluster: KubeCluster, kind: Kind, namespace: str | None, timeout: float
) -> dict[tuple[str, str], Event]:
    """The latest Warning event of each object of ``kind`` (best effort: none on failure)."""
    fields = f"type=Warning,involvedObject.kind={kind.kind}"
    try:
        listed = cluster.list_all(
            api_path("events", namespace), Event, field_selector=fields, timeout=timeout
        )
    except ToolError:
        return {}
    latest: dict[tuple[str, str], Event] = {}
    for event in listed.items:
        obj = event.involved_object
        key = (obj.namespace if kind.namespaced else "", obj.name)
        when = event.when()
        seen = latest.get(key)
        if seen is None or (when is not None and (seen.when() is None or when > seen.when())):
            latest[key] = event
    return latest


@dataclass
class ResourceRow:
    """One object: the Table's cells as text, and why it needs attention."""

    namespace: str
    name: str
    cells: list[str]
    reason: str
    message: str


def _rows(kind: Kind, table: Table, now: float) -> list[ResourceRow]:
    """Each row's cells as text (redacted) and why its object needs attention."""
    columns = table.columns
    names = [c.name.lower() if c.priority == 0 else "" for c in columns]
    status_at = next((i for i, n in enumerate(names) if n in ("status", "phase")), None)
    ready_at = names.index("ready") if "ready" in names else None
    name_at = names.index("name") if "name" in names else 0
    plain = [not (c.format == "date" or c.type == "date") for c in columns]
    texts_of = redact_rows(
        [
            [
                v if ok and type(v) is str else cell_text(v, c, now)
                for v, c, ok in zip(row.cells, columns, plain, strict=False)
            ]
            for row in table.rows
        ]
    )
    out = []
    empty = _RowObject()
    for row, texts in zip(table.rows, texts_of, strict=True):
        obj = row.object or empty
        meta = obj.metadata
        reason = message = ""
        if obj.status is not None or meta.deletion_timestamp or status_at or ready_at:
            reason, message = object_problem(
                obj.status,
                deleted_at=meta.deletion_timestamp,
                shown_status=texts[status_at] if status_at is not None else "",
                ready_cell=texts[ready_at] if ready_at is not None else "",
                now=now,
            )
            if reason:
                reason, message = redact_text(reason), redact_text(message)
        name = meta.name or (texts[name_at] if texts else "")
        out.append(ResourceRow(meta.namespace, name, texts, reason, message))
    return out


LIST_PARAMS = {
    "kind": KIND,
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "label_selector": LABEL_SELECTOR,
    "field_selector": FIELD_SELECTOR,
}


def _where(kind: Kind, ctx: ToolContext, args: dict[str, Any]) -> Scope:
    return scope(ctx, args) if kind.namespaced else Scope(None)


@gc_paused
def list_resources(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Objects of any kind: the server's columns, unhealthy ones first with their reason."""
    check_args(args, LIST_PARAMS, "list_resources")
    kind = resolve_kind(ctx.cluster, req_str(args, "kind", "list_resources"), ctx.timeout)
    if "list" not in kind.verbs:
        allowed = ", ".join(sorted(kind.verbs)) or "nothing"
        raise ToolError(f"{kind.qualified} cannot be listed (the server allows: {allowed}).")
    where = _where(kind, ctx, args)
    labels, fields = selector_args(args)
    now = time.time()
    rows: list[ResourceRow] = []

    def convert(page: Table, first: bool) -> None:
        if first:
            rows.clear()
        rows.extend(_rows(kind, page, now))

    table = read_table(
        ctx.cluster,
        kind,
        where.namespace,
        label_selector=labels,
        field_selector=fields,
        timeout=ctx.timeout,
        each_page=convert,
    )
    location = where.describe() if kind.namespaced else "the cluster (cluster-scoped)"
    filters = "".join(
        f", {name} {value!r}"
        for name, value in (("label_selector", labels), ("field_selector", fields))
        if value
    )
    what = f"{kind.resource} ({kind.kind}, {kind.api_version})"
    if not rows:
        missing = missing_namespace(ctx, where) if kind.namespaced else ""
        return ToolResult(text=f"No {what} in {location}{filters}.{missing}", data=[])
    problems = [r for r in rows if r.reason]
    if problems:
        events = _warnings(ctx.cluster, kind, where.namespace, ctx.timeout)
        for r in problems:
            event = events.get((r.namespace, r.name))
            if event is not None and not r.message:
                r.message = redact_text(f"{event.reason}: {event.message}")
    problems.sort(key=lambda r: (r.reason, r.namespace, r.name))
    healthy = [r for r in rows if not r.reason]
    shown = [i for i, c in enumerate(table.columns) if c.priority == 0]
    everywhere = kind.namespaced and where.everywhere
    columns = (["NAMESPACE"] if everywhere else []) + [table.columns[i].name.upper() for i in shown]

    def cells(r: ResourceRow, with_reason: bool) -> list[str]:
        front = [r.namespace] if everywhere else []
        body = [r.cells[i] if i < len(r.cells) else "" for i in shown]
        if not problems:
            return [*front, *body]
        why = ""
        if with_reason and r.reason:
            why = f"{r.reason}: {clip(r.message, 200)}" if r.message else r.reason
        return [*front, *body, why]

    head = [
        (
            f"{plural(len(rows), kind.singular, kind.resource)} ({kind.kind}, {kind.api_version}) "
            f"in {location}{filters}: {len(problems)} need attention."
        )
    ]
    status = _status_counts(table, rows)
    if status:
        head.append(f"By status: {status}.")
    if everywhere:
        per_ns = Counter(r.namespace for r in rows)
        bad_ns = Counter(r.namespace for r in problems)
        ordered = sorted(per_ns, key=lambda ns: (-bad_ns[ns], -per_ns[ns], ns))
        text = ", ".join(
            f"{ns} {per_ns[ns]}" + (f" ({bad_ns[ns]} unhealthy)" if bad_ns[ns] else "")
            for ns in ordered[:30]
        )
        if len(ordered) > 30:
            text += f", {len(ordered) - 30} more namespaces"
        head.append(f"By namespace ({len(per_ns)}): {text}.")
    if problems:
        head.append(f"Needing attention by reason: {counts(Counter(r.reason for r in problems))}.")
    listing = Listing(
        noun=kind.resource,
        head=head,
        columns=[*columns, "REASON"] if problems else columns,
        problems=[cells(r, True) for r in problems],
        problem_keys=[f"{r.namespace}/{r.name}" if everywhere else r.name for r in problems],
        problem_groups=[r.reason for r in problems],
        rest=[cells(r, False) for r in healthy],
        rest_group=(lambda row: row[0]) if everywhere else None,
        narrow=(
            f"Narrow down: list_resources kind={kind.qualified} with namespace, label_selector "
            f"or field_selector; get_resource kind={kind.qualified} name=<name> for one object."
        ),
        problem_label="needing attention",
        rest_label=f"healthy {kind.resource}",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(
        text=text, data=_data_rows(kind, table, [*problems, *healthy]), truncated=truncated
    )


def _status_counts(table: Table, rows: list[ResourceRow]) -> str:
    """Counts of the Status/Phase/Ready column, when the kind prints one by default."""
    names = [c.name.lower() if c.priority == 0 else "" for c in table.columns]
    for wanted in ("status", "phase", "ready"):
        if wanted in names:
            at = names.index(wanted)
            tally = Counter(r.cells[at] for r in rows if at < len(r.cells) and r.cells[at])
            if tally and len(tally) <= 20:
                return counts(tally, 8)
    return ""


def _data_rows(kind: Kind, table: Table, rows: list[ResourceRow]) -> list[dict[str, Any]]:
    """Rows for the panel and notebooks: every column (wide ones too), name, reason, message."""
    keys = [column_key(c.name) for c in table.columns]
    kept = [
        (i, k) for i, k in enumerate(keys) if k not in ("namespace", "name", "reason", "message")
    ]
    out = []
    for r in rows:
        cells = r.cells
        row: dict[str, Any] = {"namespace": r.namespace} if kind.namespaced else {}
        row["name"] = r.name
        for i, key in kept:
            row[key] = cells[i] if i < len(cells) else ""
        row["reason"] = r.reason
        row["message"] = r.message
        out.append(row)
    return out


def resource_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_resources",
            description=(
                "List objects of any kind the cluster serves (PVCs, ingresses, jobs, cronjobs, "
                "configmaps, HPAs, custom resources...) with the columns kubectl get prints; "
                "unhealthy ones first with their reason. Secrets: metadata only."
            ),
            parameters=schema(LIST_PARAMS, ["kind"]),
            func=list_resources,
        ),
    ]
