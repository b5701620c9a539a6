"""Warning events indexed by the object they are about: the cause, quoted where it is.

The registry's answer to a pull ("pull access denied ..."), the scheduler's message, a failed
mount or ProvisioningFailed are Warning events on the object; diagnose reads all warnings in
scope once and each analyzer quotes the ones about its object, cause-bearing reasons first.
"""

from __future__ import annotations

from ..events import EventGroup
from ..shape import clip

CAUSE_REASONS = (
    "Failed",
    "FailedScheduling",
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreatePodSandBox",
    "ProvisioningFailed",
    "ClaimLost",
    "BackoffLimitExceeded",
    "DeadlineExceeded",
    "FailedCreate",
    "FailedGetResourceMetric",
    "FailedComputeMetricsReplicas",
    "Unhealthy",
    "Evicted",
    "OOMKilling",
)
"""Reasons that carry the cause, best first; anything else after them, back-offs last."""
NOISE = ("BackOff",)
CLUSTER_KINDS = ("Node", "PersistentVolume", "StorageClass", "Namespace", "ClusterIssuer")


def _key(namespace: str, kind: str, name: str) -> tuple[str, str, str]:
    return ("" if kind in CLUSTER_KINDS else namespace, kind, name)


def _order(event: EventGroup) -> tuple[int, int]:
    if event.reason in NOISE:
        return len(CAUSE_REASONS) + 1, 0
    if event.reason in CAUSE_REASONS:
        return CAUSE_REASONS.index(event.reason), -len(event.message)
    return len(CAUSE_REASONS), -len(event.message)


class EventIndex:
    """Warning events by (namespace, kind, name); remembers which objects were quoted."""

    def __init__(self, events: list[EventGroup]) -> None:
        self.events = [e for e in events if e.type == "Warning"]
        self._by_object: dict[tuple[str, str, str], list[EventGroup]] = {}
        for event in self.events:
            self._by_object.setdefault(_key(event.namespace, event.kind, event.name), []).append(
                event
            )

    def about(self, namespace: str, kind: str, name: str) -> list[EventGroup]:
        """The object's warnings, cause-bearing reasons first, one per distinct message."""
        found = sorted(self._by_object.get(_key(namespace, kind, name), []), key=_order)
        seen: set[str] = set()
        unique = []
        for event in found:
            if event.message not in seen:
                seen.add(event.message)
                unique.append(event)
        return unique

    def lines(
        self, namespace: str, kind: str, name: str, limit: int = 1, known: str = ""
    ) -> list[str]:
        """Evidence lines quoting the object's most telling warnings (messages redacted).

        One per reason (the longest message: "Failed to pull image ...: rpc error ..." over
        "Error: ErrImagePull"), back-offs only when nothing else was said, and none whose text
        ``known`` evidence already holds (the scheduler's message is also the pod's condition).
        """
        about = [e for e in self.about(namespace, kind, name) if e.reason not in NOISE]
        seen: set[str] = set()
        picked = []
        for event in about:
            if event.reason in seen or (known and event.message[:80] in known):
                continue
            seen.add(event.reason)
            picked.append(event)
        return [
            f"   Event on {kind.lower()} {name} ({e.reason}, x{e.count}): {clip(e.message, 520)}"
            for e in picked[:limit]
        ]
