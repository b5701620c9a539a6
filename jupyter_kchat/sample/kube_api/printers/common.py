"""What every printer shares: the Name column, ages as kubectl words them, selector text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...cluster import Obj, parse_rfc3339

Cells = Callable[[Obj], list[Any]]
"""A row's cells from the object alone: what depends on the clock is an :class:`Ago`."""
TableSpec = tuple[list[Obj], Cells]


class Ago:
    """A cell that reads the clock ("5m", "3 (2m ago)"), so the rest of a row can be cached."""

    __slots__ = ("start", "template")

    def __init__(self, start: float, template: str = "{}") -> None:
        self.start = start
        self.template = template

    def at(self, now: float) -> str:
        return self.template.format(human_duration(now - self.start))

    def span(self, now: float) -> tuple[float, float]:
        """The times around ``now`` (from, until) during which :meth:`at` words the same."""
        seconds = now - self.start
        if seconds < 0:
            return now, now
        step = duration_step(int(seconds))
        first = self.start + int(seconds) // step * step
        return first + SPAN_MARGIN, first + step - SPAN_MARGIN


SPAN_MARGIN = 1e-6
"""Seconds cut off both ends of a span, so float rounding never stretches it."""


def resolve(cells: list[Any], now: float) -> list[Any]:
    """A cached row with its clock-reading cells worded for ``now``."""
    return [c.at(now) if type(c) is Ago else c for c in cells]


def resolve_span(cells: list[Any], now: float) -> tuple[float, float]:
    """The times around ``now`` during which :func:`resolve` gives the same row (all of time
    for a row that reads no clock)."""
    first, until = float("-inf"), float("inf")
    for c in cells:
        if type(c) is Ago:
            since, before = c.span(now)
            first, until = max(first, since), min(until, before)
    return first, until


NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace.",
}


def human_duration(seconds: float) -> str:
    """Kubernetes' HumanDuration, the AGE column's wording."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, hours // 24 % 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def duration_step(seconds: int) -> int:
    """How many seconds one step of :func:`human_duration`'s wording lasts at ``seconds``
    (>= 0): its text is the same for every whole second of ``[k * step, (k + 1) * step)``."""
    if seconds < 600:
        return 1
    if seconds < 8 * 3600:
        return 60
    if seconds < 8 * 86400:
        return 3600
    return 86400


def age(obj: Obj) -> Ago | str:
    """The AGE cell."""
    created = obj["metadata"].get("creationTimestamp")
    return Ago(parse_rfc3339(created)) if created else "<unknown>"


def col(name: str, priority: int = 0, kind: str = "string", description: str = "") -> Obj:
    return {
        "name": name,
        "type": kind,
        "format": "",
        "description": description or name,
        "priority": priority,
    }


def since(timestamp: str | None, missing: str = "<none>") -> Ago | str:
    """A timestamp as "how long ago", or ``missing`` when unset."""
    return Ago(parse_rfc3339(timestamp)) if timestamp else missing


def format_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector: requirements sorted by key, "<none>" when empty."""
    if selector is None:
        return "<none>"
    terms = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        text = {
            "In": f"{key} in ({','.join(sorted(values))})",
            "NotIn": f"{key} notin ({','.join(sorted(values))})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, key)
        terms.append((key, text))
    return ",".join(t for _, t in sorted(terms)) or "<none>"


def with_more(items: list[str], limit: int, empty: str = "") -> str:
    """The first ``limit`` items, then " + N more..." as kubectl's list cells end."""
    text = ",".join(items[:limit])
    if len(items) > limit:
        return f"{text} + {len(items) - limit} more..."
    return text or empty


def containers(template_spec: Obj) -> list[str]:
    """The container names and images cells of a pod template (kubectl's wide columns)."""
    cs = template_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)]
