"""list_resources: any kind the cluster serves, CRDs included, as the server's own Table.

The kind is resolved through discovery (``discovery``), the rows read with ``table`` (the
columns ``kubectl get`` prints, a CRD's ``additionalPrinterColumns``), each object's health
judged by ``conditions`` (and by ``kind_checks`` for what a status does not show: Services
without endpoints, Ingresses without their backend, failing or suspended CronJobs; an event
list's problems are its Warnings), and the latest Warning event added to every unhealthy one.
The text names every unhealthy object first; the data rows are complete, problems first. A
cluster-wide list RBAC refuses is read in the namespaces the user can read, as
diagnose_cluster does, and the result says so once.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import attrgetter, itemgetter, not_
from typing import Any

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    FIELD_SELECTOR,
    KIND,
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
from .conditions import Health, main_condition, object_problem, plain_status
from .diagnose.notes import failure_notes
from .discovery import Kind, resolve_kind
from .kind_checks import kind_problems, suspended
from .kube import ApiFailure, KubeCluster, api_path, gc_paused
from .models import Event
from .readable import fallback_namespaces
from .redact import redact_text
from .shape import Listing, clip, counts, fit_listing, plural
from .table import Column, RowObject, Table, column_key, data_rows, read_table, text_columns


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
class Rows:
    """Every object of a list in the server's order, one list per field, built page by page
    as the pages arrive: ``shown`` are the text table's cells, ``data`` the rows for the panel;
    a ``reason`` marks an object that needs attention."""

    namespaces: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    shown: list[tuple[str, ...]] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    tallied: dict[str, list[str]] = field(default_factory=dict)
    """The Status and Phase cells, when the kind prints them by default."""

    def add(self, kind: Kind, page: Table, now: float, everywhere: bool) -> None:
        """A page's rows: cells as text (redacted), each object's health, its two forms."""
        columns = page.columns
        texts = text_columns(page.rows, columns, now)
        size = len(page.rows)
        names = [c.name.lower() if c.priority == 0 else "" for c in columns]
        at = {wanted: names.index(wanted) for wanted in TALLIED if wanted in names}
        status_at = next((i for i, n in enumerate(names) if n in ("status", "phase")), None)
        ready_at = names.index("ready") if "ready" in names else None
        objects = list(map(attrgetter("object"), page.rows))
        if objects.count(None):
            empty = RowObject[Any]()
            objects = [o or empty for o in objects]
        metas = list(map(attrgetter("metadata"), objects))
        namespaces = list(map(attrgetter("namespace"), metas))
        row_names = list(map(attrgetter("name"), metas))
        if not all(row_names):
            cells = texts[names.index("name") if "name" in names else 0] if texts else None
            row_names = [name or cell for name, cell in zip(row_names, cells or repeat(""))]
        reasons, messages, conditions = _health(
            list(map(attrgetter("status"), objects)),
            list(map(attrgetter("deletion_timestamp"), metas)),
            texts[status_at] if status_at is not None else [""] * size,
            texts[ready_at] if ready_at is not None else [""] * size,
            printed=status_at is not None or ready_at is not None,
            now=now,
        )
        if (kind.group, kind.resource) in EVENT_KINDS and "type" in names:
            _warning_events(texts, names, reasons, messages)
        front = [namespaces] if everywhere else []
        shown = [*front, *(texts[i] for i, c in enumerate(columns) if c.priority == 0)]
        self.shown.extend(zip(*shown) if shown else [()] * size)
        keys, values = (["namespace"], [namespaces]) if kind.namespaced else ([], [])
        keys.append("name")
        values.append(row_names)
        for i, key in enumerate(map(column_key, (c.name for c in columns))):
            if key not in ("namespace", "name", "reason", "message"):
                keys.append(key)
                values.append(texts[i])
        keys += ["reason", "message"]
        values += [reasons, messages]
        self.data.extend(data_rows(keys, values))
        self.namespaces.extend(namespaces)
        self.names.extend(row_names)
        self.reasons.extend(reasons)
        self.messages.extend(messages)
        self.conditions.extend(conditions)
        for wanted, i in at.items():
            self.tallied.setdefault(wanted, []).extend(texts[i])

    def extend(self, other: Rows) -> None:
        """Another namespace's rows after these."""
        for name in ("namespaces", "names", "reasons", "messages", "conditions", "shown", "data"):
            getattr(self, name).extend(getattr(other, name))
        for wanted, cells in other.tallied.items():
            self.tallied.setdefault(wanted, []).extend(cells)


TALLIED = ("status", "phase")
"""Default columns whose values the head counts (the first with at most 20 values); a READY
ratio or count is no status (a Deployment's health is its conditions)."""
EVENT_KINDS = frozenset({("", "events"), ("events.k8s.io", "events")})


def _warning_events(
    texts: list[list[str]], names: list[str], reasons: list[str], messages: list[str]
) -> None:
    """Warning events are the problems of an event list: their reason and message."""
    types = texts[names.index("type")]
    said = texts[names.index("reason")] if "reason" in names else [""] * len(types)
    told = texts[names.index("message")] if "message" in names else [""] * len(types)
    for i, kind in enumerate(types):
        if kind == "Warning":
            reasons[i], messages[i] = said[i] or "Warning", told[i]


def _health(
    statuses: list[Any],
    deleted: list[str | None],
    shown_status: list[str],
    ready_cells: list[str],
    *,
    printed: bool,
    now: float,
) -> tuple[list[str], list[str], list[str]]:
    """Each object's (reason, message) and main condition; judged once per distinct status
    (a :class:`Health` is hashable: 10,000 healthy objects are a handful of verdicts)."""
    size = len(statuses)
    if not printed and statuses.count(None) == size and not any(deleted):
        return [""] * size, [""] * size, [""] * size
    verdicts: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    reasons, messages, conditions = [], [], []
    for status, gone, shown, ready in zip(statuses, deleted, shown_status, ready_cells):
        key = (status, gone, shown, ready)
        try:
            verdict = verdicts[key]
        except KeyError:
            verdict = verdicts[key] = _verdict(status, gone, shown, ready, printed, now)
        except TypeError:
            verdict = _verdict(status, gone, shown, ready, printed, now)
        reasons.append(verdict[0])
        messages.append(verdict[1])
        conditions.append(verdict[2])
    return reasons, messages, conditions


def _verdict(
    status: Any, deleted_at: str | None, shown: str, ready: str, printed: bool, now: float
) -> tuple[str, str, str]:
    """Why one object needs attention (redacted) and its main condition."""
    plain = plain_status(status) if isinstance(status, Health) else status
    reason = message = ""
    if status is not None or deleted_at or printed:
        reason, message = object_problem(
            plain, deleted_at=deleted_at, shown_status=shown, ready_cell=ready, now=now
        )
        if reason:
            reason, message = redact_text(reason), redact_text(message)
    return reason, message, main_condition(plain)


def _read(
    ctx: ToolContext,
    kind: Kind,
    namespace: str | None,
    labels: str | None,
    fields: str | None,
    now: float,
    everywhere: bool,
) -> tuple[Table, Rows]:
    """The list as the server prints it, turned into rows page by page as it arrives."""
    rows = Rows()

    def convert(page: Table, first: bool) -> None:
        nonlocal rows
        if first:
            rows = Rows()
        rows.add(kind, page, now, everywhere)

    table = read_table(
        ctx.cluster,
        kind,
        namespace,
        label_selector=labels,
        field_selector=fields,
        timeout=ctx.timeout,
        each_page=convert,
    )
    return table, rows


def _read_readable(
    ctx: ToolContext,
    kind: Kind,
    labels: str | None,
    fields: str | None,
    now: float,
    denied: ApiFailure,
) -> tuple[Table, Rows, list[str]]:
    """A cluster-wide list RBAC refused, read in each namespace the user can read (the ones
    diagnose_cluster falls back to); the refusal stands when none allows it."""
    columns: list[Column] = []
    rows = Rows()
    readable: list[str] = []
    for namespace in fallback_namespaces(ctx):
        try:
            table, part = _read(ctx, kind, namespace, labels, fields, now, True)
        except ApiFailure as exc:
            if exc.status == 403:
                continue
            raise
        columns = columns or table.columns
        rows.extend(part)
        readable.append(namespace)
    if not readable:
        raise denied
    return Table(columns, []), rows, readable


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
    spots: list[str | None] = [where.namespace]
    fallback = ""
    try:
        table, rows = _read(ctx, kind, where.namespace, labels, fields, now, everywhere)
    except ApiFailure as exc:
        if not (everywhere and exc.status == 403):
            raise
        table, rows, readable = _read_readable(ctx, kind, labels, fields, now, exc)
        spots = list(readable)
        fallback = " ".join(failure_notes([], readable, {kind.resource}))
    location = where.describe() if kind.namespaced else "the cluster (cluster-scoped)"
    if fallback:
        location = f"the namespaces this user can read ({', '.join(map(str, spots))})"
    filters = "".join(
        f", {name} {value!r}"
        for name, value in (("label_selector", labels), ("field_selector", fields))
        if value
    )
    what = f"{kind.resource} ({kind.kind}, {kind.api_version})"
    if not rows.names:
        missing = missing_namespace(ctx, where) if kind.namespaced else ""
        note = f" {fallback}" if fallback else ""
        return ToolResult(text=f"No {what} in {location}{filters}.{missing}{note}", data=[])
    _judge_kind(ctx.cluster, kind, spots, rows, ctx.timeout)
    reasons, messages, namespaces, names = rows.reasons, rows.messages, rows.namespaces, rows.names
    problems = list(compress(count(), reasons))
    if problems and (kind.group, kind.resource) not in EVENT_KINDS:
        events = {
            key: event
            for spot in spots
            for key, event in _warnings(ctx.cluster, kind, spot, ctx.timeout).items()
        }
        for i in problems:
            event = events.get((namespaces[i], names[i]))
            if event is not None and not messages[i]:
                messages[i] = redact_text(f"{event.reason}: {event.message}")
                rows.data[i]["message"] = messages[i]
    problems.sort(key=lambda i: (reasons[i], namespaces[i], names[i]))
    healthy = list(compress(count(), map(not_, reasons))) if problems else None
    columns = (["NAMESPACE"] if everywhere else []) + [
        c.name.upper() for c in table.columns if c.priority == 0
    ]

    def why(i: int) -> list[str]:
        reason, message = reasons[i], messages[i]
        return [*rows.shown[i], f"{reason}: {clip(message, 200)}" if message else reason]

    head = [
        (
            f"{plural(len(names), kind.singular, kind.resource)} ({kind.kind}, "
            f"{kind.api_version}) in {location}{filters}: {len(problems)} need attention."
        )
    ]
    if fallback:
        head.append(fallback)
    status = _status_counts(rows)
    if status:
        head.append(status)
    if everywhere:
        per_ns = Counter(namespaces)
        bad_ns = Counter(namespaces[i] for i in problems)
        ordered = sorted(per_ns, key=lambda ns: (-bad_ns[ns], -per_ns[ns], ns))
        text = ", ".join(
            f"{ns} {per_ns[ns]}" + (f" ({bad_ns[ns]} unhealthy)" if bad_ns[ns] else "")
            for ns in ordered[:30]
        )
        if len(ordered) > 30:
            text += f", {len(ordered) - 30} more namespaces"
        head.append(f"By namespace ({len(per_ns)}): {text}.")
    if problems:
        head.append(
            f"Needing attention by reason: {counts(Counter(reasons[i] for i in problems))}."
        )
    listing = Listing(
        noun=kind.resource,
        head=head,
        columns=[*columns, "REASON"] if problems else columns,
        problems=[why(i) for i in problems],
        problem_keys=[f"{namespaces[i]}/{names[i]}" if everywhere else names[i] for i in problems],
        problem_groups=[reasons[i] for i in problems],
        rest=rows.shown if healthy is None else [rows.shown[i] for i in healthy],
        rest_group=itemgetter(0) if everywhere else None,
        narrow=(
            f"Narrow down: list_resources kind={kind.qualified} with namespace, label_selector "
            f"or field_selector; get_resource kind={kind.qualified} name=<name> for one object."
        ),
        problem_label="needing attention",
        rest_label=f"healthy {kind.resource}",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    data = rows.data if healthy is None else [rows.data[i] for i in (*problems, *healthy)]
    return ToolResult(text=text, data=data, truncated=truncated)


def _judge_kind(
    cluster: KubeCluster, kind: Kind, spots: list[str | None], rows: Rows, timeout: float
) -> None:
    """The kind's own rules on top of the status ones (:mod:`.kind_checks`)."""
    found = kind_problems(cluster, kind, spots, timeout)
    cronjobs = (kind.group, kind.resource) == ("batch", "cronjobs")
    if not found and not cronjobs:
        return
    for i, key in enumerate(zip(rows.namespaces, rows.names)):
        if rows.reasons[i]:
            continue
        verdict = found.get(key) or (suspended(rows.data[i]) if cronjobs else None)
        if verdict is not None:
            reason, message = redact_text(verdict[0]), redact_text(verdict[1])
            rows.reasons[i], rows.messages[i] = reason, message
            rows.data[i]["reason"], rows.data[i]["message"] = reason, message


def _status_counts(rows: Rows) -> str:
    """Counts of the Status/Phase column when the kind prints one by default, else of
    the objects' main condition (``ScalingActive=False 1``)."""
    for cells in rows.tallied.values():
        tally = Counter(filter(None, cells))
        if tally and len(tally) <= 20:
            return f"By status: {counts(tally, 8)}."
    tally = Counter(filter(None, rows.conditions))
    return f"By condition: {counts(tally, 8)}." if tally else ""


def resource_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_resources",
            description="Any kind, custom ones too, as kubectl get lists them; unhealthy first.",
            parameters=schema(LIST_PARAMS, ["kind"]),
            func=list_resources,
        ),
    ]
