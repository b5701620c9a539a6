"""One problem as the analyzers report it: ranked, given its log evidence, then written out.

Analyzers only build :class:`Issue` objects; ranking, the log reads for the top crash findings
and the final text are the tool's (``__init__``), so every analyzer stays a small pure function
of what was observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..health import PodView
from ..shape import Finding, clip

LOG_PODS = 2
"""Crashing pods per finding whose previous log is read (the first ones, not all)."""


@dataclass(frozen=True)
class LogRequest:
    """A container log to quote: the previous instance for a restarting container."""

    namespace: str
    pod: str
    container: str
    previous: bool
    node: str


@dataclass
class Issue:
    """A finding before it is written: what, how bad, how many pods it touches, and evidence.

    ``severity`` orders kinds of trouble (0 worst); ``impact`` (pods or objects affected) orders
    findings of the same severity. ``subjects`` are the object keys it explains, so warning
    events about them are not repeated as unexplained.
    """

    category: str
    severity: int
    key: str
    header: str
    evidence: list[str]
    next: str
    brief: str
    impact: int = 1
    subjects: set[str] = field(default_factory=set)
    logs: list[LogRequest] = field(default_factory=list)

    def rank(self) -> tuple[int, int]:
        return self.severity, -self.impact

    def add_log(self, pod: str, previous: bool, lines: list[str]) -> None:
        """Quote a container's last error lines (the first one also goes on the short line)."""
        which = "previous instance" if previous else "last run"
        for line in lines:
            self.evidence.append(f"   Log of {pod} ({which}): {line}")
        if lines and not lines[0].startswith("(") and "; log: " not in self.brief:
            self.brief = f"{self.brief}; log: {clip(lines[-1], 140)}"

    def finding(self) -> Finding:
        lines = [self.header, *self.evidence, f"   Next: {self.next}"]
        short = f"{self.category}: {self.key} {clip(self.brief, 260)}"
        return Finding(self.category, self.key, lines, short)


def log_request(view: PodView) -> LogRequest | None:
    """The log that shows why a pod's container failed: its previous instance when it restarted,
    its last run when it ended for good (a failed Job's pod); None when it never ran."""
    worst = view.worst
    if worst is None or not view.node:
        return None
    if worst.last_state.terminated is not None and worst.restart_count > 0:
        return LogRequest(view.namespace, view.name, worst.name, True, view.node)
    if worst.state.terminated is not None:
        return LogRequest(view.namespace, view.name, worst.name, False, view.node)
    return None


def pod_names(pods: list[PodView], limit: int = 6) -> str:
    """``ns/a (12 restarts), ns/b and 28 more``."""
    shown = []
    for view in pods[:limit]:
        extra = f" ({view.restarts} restarts)" if view.restarts else ""
        shown.append(f"{view.key}{extra}")
    more = f" and {len(pods) - limit} more" if len(pods) > limit else ""
    return ", ".join(shown) + more
