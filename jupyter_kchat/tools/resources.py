"""list_resources: any kind the cluster serves, CRDs included, as the server's own Table.

The kind is resolved through discovery (``discovery``), the rows read with ``table`` (the
columns ``kubectl get`` prints, a CRD's ``additionalPrinterColumns``), each object's health
judged by ``conditions``, and the latest Warning event added to every unhealthy one. The text
names every unhealthy object first; the data rows are complete, problems first.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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
from .conditions import main_condition, object_problem
from .discovery import Kind, resolve_kind
from .kube import KubeCluster, api_path, gc_paused
from .models import Event
from .redact import redact_text
from .shape import Listing, clip, counts, fit_listing, plural
from .table import Column, RowObject, Table, cell_text, column_key, read_table, redact_rows

KIND = {
    "type": "string",
    "description": (
        "Resource kind as kubectl takes it: plural, singular, Kind or short name, optionally "
        "with its API group after a dot; custom resources too."
    ),
}


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
    """One object: the Table's cells as text, and why it needs attention.

    ``shown`` (the text table's cells) and ``data`` (the row for the panel) are filled by
    :meth:`Layout.fill` while the next page is still on its way.
    """

    namespace: str
    name: str
    cells: list[str]
    reason: str
    message: str
    condition: str = ""
    shown: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Layout:
    """Which cells the text shows and which keys the data rows get, from the Table's columns."""

    namespaced: bool
    everywhere: bool
    shown: list[int]
    kept: list[tuple[int, str]]

    @classmethod
    def of(cls, kind: Kind, columns: list[Column], everywhere: bool) -> Layout:
        keys = [column_key(c.name) for c in columns]
        return cls(
            namespaced=kind.namespaced,
            everywhere=everywhere,
            shown=[i for i, c in enumerate(columns) if c.priority == 0],
            kept=[
                (i, k)
                for i, k in enumerate(keys)
                if k not in ("namespace", "name", "reason", "message")
            ],
        )

    def fill(self, rows: list[ResourceRow]) -> None:
        for r in rows:
            cells = r.cells
            count = len(cells)
            front = [r.namespace] if self.everywhere else []
            r.shown = front + [cells[i] if i < count else "" for i in self.shown]
            data: dict[str, Any] = {"namespace": r.namespace} if self.namespaced else {}
            data["name"] = r.name
            for i, key in self.kept:
                data[key] = cells[i] if i < count else ""
            data["reason"] = r.reason
            data["message"] = r.message
            r.data = data


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
    empty = RowObject()
    printed = status_at is not None or ready_at is not None
    for row, texts in zip(table.rows, texts_of, strict=True):
        obj = row.object or empty
        meta = obj.metadata
        reason = message = ""
        if obj.status is not None or meta.deletion_timestamp or printed:
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
        out.append(
            ResourceRow(meta.namespace, name, texts, reason, message, main_condition(obj.status))
        )
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
    everywhere = kind.namespaced and where.everywhere
    rows: list[ResourceRow] = []

    def convert(page: Table, first: bool) -> None:
        if first:
            rows.clear()
        converted = _rows(kind, page, now)
        Layout.of(kind, page.columns, everywhere).fill(converted)
        rows.extend(converted)

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
                r.message = r.data["message"] = redact_text(f"{event.reason}: {event.message}")
    problems.sort(key=lambda r: (r.reason, r.namespace, r.name))
    healthy = [r for r in rows if not r.reason]
    columns = (["NAMESPACE"] if everywhere else []) + [
        c.name.upper() for c in table.columns if c.priority == 0
    ]

    def why(r: ResourceRow) -> list[str]:
        return [*r.shown, f"{r.reason}: {clip(r.message, 200)}" if r.message else r.reason]

    head = [
        (
            f"{plural(len(rows), kind.singular, kind.resource)} ({kind.kind}, {kind.api_version}) "
            f"in {location}{filters}: {len(problems)} need attention."
        )
    ]
    status = _status_counts(table, rows)
    if status:
        head.append(status)
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
        problems=[why(r) for r in problems],
        problem_keys=[f"{r.namespace}/{r.name}" if everywhere else r.name for r in problems],
        problem_groups=[r.reason for r in problems],
        rest=[r.shown for r in healthy],
        rest_group=(lambda row: row[0]) if everywhere else None,
        narrow=(
            f"Narrow down: list_resources kind={kind.qualified} with namespace, label_selector "
            f"or field_selector; get_resource kind={kind.qualified} name=<name> for one object."
        ),
        problem_label="needing attention",
        rest_label=f"healthy {kind.resource}",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    data = [r.data for r in problems] + [r.data for r in healthy]
    return ToolResult(text=text, data=data, truncated=truncated)


def _status_counts(table: Table, rows: list[ResourceRow]) -> str:
    """Counts of the Status/Phase/Ready column when the kind prints one by default, else of
    the objects' main condition (``ScalingActive=False 1``)."""
    names = [c.name.lower() if c.priority == 0 else "" for c in table.columns]
    for wanted in ("status", "phase", "ready"):
        if wanted in names:
            at = names.index(wanted)
            tally = Counter(r.cells[at] for r in rows if at < len(r.cells) and r.cells[at])
            if tally and len(tally) <= 20:
                return f"By status: {counts(tally, 8)}."
    tally = Counter(r.condition for r in rows if r.condition)
    return f"By condition: {counts(tally, 8)}." if tally else ""


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
