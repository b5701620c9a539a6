"""The last finding: Warning events in scope, and those about objects no finding explains."""

from __future__ import annotations

from collections import Counter

from ..events import EventGroup
from ..shape import Finding, clip, counts, plural

EVENTS = "Warning events"
SHOWN = 8


def _explained(event: EventGroup, explained: set[str]) -> bool:
    return f"{event.namespace}/{event.name}" in explained or event.name in explained


def events_finding(
    warnings: list[EventGroup], explained: set[str], oom_nodes: set[str]
) -> Finding | None:
    """Counts by reason, then the newest warnings about objects the findings do not cover."""
    if not warnings:
        return None
    loose = [
        e
        for e in warnings
        if not _explained(e, explained)
        and not (e.kind == "Node" and e.reason == "OOMKilling" and e.name in oom_nodes)
    ]
    total = sum(e.count for e in warnings)
    lines = [
        f"{EVENTS}: {plural(len(warnings), 'distinct warning')} ({total} occurrences); "
        f"by reason: {counts(Counter(e.reason for e in warnings), 10)}"
    ]
    if loose:
        lines.append(f"   Not explained by the findings above ({len(loose)}), newest first:")
        for e in loose[:SHOWN]:
            where = e.object if e.kind in ("Node", "Namespace") else f"{e.namespace}/{e.object}"
            lines.append(f"   {where} {e.reason} x{e.count}: {clip(e.message, 200)}")
    lines.append(
        "   Next: list_events warnings_only=true (with namespace or involved_object) for all."
    )
    short = f"{EVENTS}: {len(warnings)} distinct, {len(loose)} not explained above"
    return Finding(EVENTS, "events", lines, short)
