"""list_events: newest first, repeated events merged, warnings always kept."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .base import ToolContext, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    NAMESPACE,
    Scope,
    check_args,
    check_name,
    missing_namespace,
    opt_bool,
    opt_str,
    schema,
    scope,
)
from .kube import KubeCluster, gc_paused
from .models import Event
from .redact import redact_text
from .shape import Listing, clip, counts, fit_listing, human_age, plural

MESSAGE_LIMIT = 240


@dataclass
class EventGroup:
    """Identical events (same object, type, reason and message) merged into one line."""

    namespace: str
    type: str
    reason: str
    kind: str
    name: str
    message: str
    count: int
    last: float
    first: float
    source: str

    @property
    def object(self) -> str:
        return f"{self.kind.lower()}/{self.name}" if self.kind else self.name

    def row(self, now: float) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "last_seen": human_age(now - self.last) if self.last else "",
            "type": self.type,
            "reason": self.reason,
            "object": self.object,
            "count": self.count,
            "message": self.message,
            "source": self.source,
            "first_seen": human_age(now - self.first) if self.first else "",
        }


def read_events(
    cluster: KubeCluster,
    where: Scope,
    *,
    warnings_only: bool = False,
    name: str | None = None,
    kind: str | None = None,
    timeout: float,
) -> list[EventGroup]:
    """Events in scope, merged and newest first (messages already redacted)."""
    selectors = []
    if warnings_only:
        selectors.append("type=Warning")
    if name:
        selectors.append(f"involvedObject.name={name}")
    if kind:
        selectors.append(f"involvedObject.kind={kind}")
    listed = cluster.list_all(
        where.path("events"), Event, field_selector=",".join(selectors) or None, timeout=timeout
    )
    groups: dict[tuple[str, str, str, str, str, str], EventGroup] = {}
    for event in listed.items:
        obj = event.involved_object
        key = (
            event.metadata.namespace,
            event.type,
            event.reason,
            obj.kind,
            obj.name,
            event.message,
        )
        when = event.when()
        last = when.timestamp() if when else 0.0
        first_at = event.first_timestamp or event.event_time or when
        first = first_at.timestamp() if first_at else last
        group = groups.get(key)
        if group is None:
            groups[key] = EventGroup(
                namespace=event.metadata.namespace,
                type=event.type or "Normal",
                reason=event.reason,
                kind=obj.kind,
                name=obj.name,
                message=redact_text(event.message),
                count=event.times(),
                last=last,
                first=first,
                source=event.reporting_component or event.source.component,
            )
        else:
            group.count += event.times()
            group.last = max(group.last, last)
            group.first = min(group.first, first) if group.first else first
    merged = list(groups.values())
    merged.sort(key=lambda g: g.last, reverse=True)
    return merged


PARAMS = {
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "warnings_only": {
        "type": "boolean",
        "default": False,
    },
    "involved_object": {
        "type": "string",
        "description": "Only about this object.",
    },
    "kind": {
        "type": "string",
        "description": "Its kind.",
    },
}


@gc_paused
def list_events(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Events newest first, merged; warnings first when they do not all fit."""
    check_args(args, PARAMS, "list_events")
    name = opt_str(args, "involved_object")
    if name is not None:
        check_name(name, "involved_object")
    kind = opt_str(args, "kind")
    if kind is not None:
        kind = kind[:1].upper() + kind[1:]
    where = scope(ctx, args)
    warnings_only = opt_bool(args, "warnings_only")
    groups = read_events(
        ctx.cluster, where, warnings_only=warnings_only, name=name, kind=kind, timeout=ctx.timeout
    )
    now = time.time()
    about = f" about {kind.lower() + '/' if kind else ''}{name}" if name else ""
    which = "warning events" if warnings_only else "events"
    if not groups:
        hint = (
            " Events expire after about an hour, so older problems leave none."
            if not warnings_only
            else ""
        )
        missing = "" if name else missing_namespace(ctx, where)
        text = f"No {which}{about} in {where.describe()}.{missing or hint}"
        return ToolResult(text=text, data=[])
    warnings = [g for g in groups if g.type == "Warning"]
    normal = [g for g in groups if g.type != "Warning"]
    rows = [g.row(now) for g in (*warnings, *normal)]
    total = sum(g.count for g in groups)
    head = [
        f"{plural(len(groups), 'distinct ' + which[:-1], 'distinct ' + which)}{about} in "
        f"{where.describe()} ({total} occurrences), newest first; {len(warnings)} warnings."
    ]
    if warnings:
        head.append(f"Warnings by reason: {counts(Counter(g.reason for g in warnings), 15)}.")
    everywhere = where.everywhere
    columns = (("NAMESPACE",) if everywhere else ()) + (
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "COUNT",
        "MESSAGE",
    )

    def cells(g: EventGroup) -> tuple[str, ...]:
        front = (g.namespace,) if everywhere else ()
        return (
            *front,
            human_age(now - g.last) if g.last else "?",
            g.type,
            g.reason,
            g.object,
            str(g.count),
            clip(g.message, MESSAGE_LIMIT),
        )

    listing = Listing(
        noun="events",
        head=head,
        columns=columns,
        problems=[cells(g) for g in warnings],
        problem_keys=[f"{g.namespace}/{g.object}" if everywhere else g.object for g in warnings],
        problem_groups=[g.reason for g in warnings],
        rest=[cells(g) for g in normal],
        rest_group=None,
        narrow=(
            "Narrow down: list_events with namespace=<ns>, warnings_only=true, or "
            "involved_object=<name> (and kind); get_pod shows one pod's events."
        ),
        problem_label="warnings",
        rest_label="normal events",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


def event_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_events",
            description="Events, newest first, repeats merged.",
            parameters=schema(PARAMS),
            func=list_events,
        )
    ]
