"""Whether any object, of any kind, needs attention: read from its status, as kubectl users do.

Works on the plain JSON ``status`` (a dict), so custom resources get the same rules as built-ins:
a ``Ready``/``Available``-style condition that is not True, a ``Failed``-style condition that
is True, a phase such as Pending or Lost, fewer replicas ready than wanted. The first rule that
fires gives the reason (the condition's own ``reason`` when it has one) and the message.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .shape import parse_time

GOOD_WHEN_TRUE = frozenset(
    {
        "Ready",
        "Available",
        "Progressing",
        "PodScheduled",
        "ScalingActive",
        "AbleToScale",
        "DisruptionAllowed",
        "Established",
        "NamesAccepted",
        "Healthy",
        "Synced",
        "Reconciled",
    }
)
"""Conditions that should be True; False (or Unknown, for Ready) means trouble."""
BAD_WHEN_TRUE = frozenset(
    {
        "Failed",
        "ReplicaFailure",
        "Stalled",
        "Degraded",
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "NetworkUnavailable",
    }
)
"""Conditions that should not be True (``Issuing`` matters only when its reason says failure)."""
WATCHED = GOOD_WHEN_TRUE | BAD_WHEN_TRUE | {"ScalingLimited", "Issuing"}
"""Every condition type a rule looks at (the others are skipped at once)."""
BAD_PHASES = frozenset({"Pending", "Lost", "Failed", "Unknown", "Terminating"})
DONE_PHASES = frozenset({"Succeeded"})
STUCK_DELETING = 300.0
"""Seconds after deletion from which an object still present is stuck (finalizers)."""

STUCK_REASONS = frozenset({"ProgressDeadlineExceeded"})
"""Reasons that say a rollout stopped (they lead, as failures do, over "not available")."""

_RATIO = re.compile(r"^(\d+)/(\d+)$")


class Condition(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None


class Health(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel", gc=False):
    """The ``status`` fields the rules below read, and no other: decoded straight from the
    API's bytes, and hashable, so one verdict serves every object whose status reads the same.
    :func:`plain_status` gives the plain ``status`` dict the rules take."""

    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    conditions: tuple[Condition, ...] | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    desired_number_scheduled: int | None = None
    number_ready: int | None = None


def plain_status(health: Health) -> dict[str, Any]:
    """The ``status`` as plain JSON (lists, not tuples), holding just the fields read here."""
    status: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(health))
    return status


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bad(kind: str, status: str, reason: str) -> bool:
    if kind == "Issuing":
        return "fail" in reason.lower()
    if kind in GOOD_WHEN_TRUE:
        if kind == "Ready" and reason == "PodCompleted":
            return False
        return status == "False" or (kind == "Ready" and status == "Unknown")
    if kind in BAD_WHEN_TRUE:
        return status == "True"
    if kind == "ScalingLimited":
        return status == "True" and reason == "TooManyReplicas"
    return False


def condition_problem(conditions: Any) -> tuple[str, str]:
    """(reason, message) of the conditions that say trouble, else ("", "").

    One that names a failure (cert-manager's ``Issuing`` ``Failed`` next to a generic
    ``Ready`` ``DoesNotExist``, a Deployment's ``ProgressDeadlineExceeded``) gives the reason; the others are added to the message.
    """
    if not isinstance(conditions, list):
        return "", ""
    bad = []
    for cond in conditions:
        if not isinstance(cond, dict):
            continue
        kind, status = cond.get("type"), cond.get("status")
        settled = kind not in WATCHED or (status == "True") == (kind in GOOD_WHEN_TRUE)
        if settled and kind != "Issuing":
            continue
        kind, status = _text(kind), _text(status)
        reason, message = _text(cond.get("reason")), _text(cond.get("message"))
        if _bad(kind, status, reason):
            bad.append((kind, status, reason or f"{kind}={status}", message))
    if not bad:
        return "", ""
    bad.sort(key=lambda c: "fail" not in c[2].lower() and c[2] not in STUCK_REASONS)
    _, _, reason, message = bad[0]
    others = "; ".join(f"{k}={s} {r}" + (f": {m}" if m else "") for k, s, r, m in bad[1:])
    return reason, f"{message} (also {others})" if others else message


MAIN = ("Ready", "Available", "Complete", "Established", "ScalingActive", "DisruptionAllowed")
"""The condition that sums an object up, in order of preference."""


def main_condition(status: Any) -> str:
    """``Ready=True``: the object's main condition and its status ("" when it has none)."""
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list):
        return ""
    found = {c.get("type"): c.get("status") for c in conditions if isinstance(c, dict)}
    kind = next((k for k in MAIN if k in found), None)
    return f"{kind}={found[kind]}" if kind else ""


def replicas_problem(status: dict[str, Any]) -> str:
    """A "1/3 ready" reason when a workload-like status has fewer ready than wanted."""
    pairs = (
        ("replicas", "readyReplicas"),
        ("desiredNumberScheduled", "numberReady"),
    )
    for want_key, ready_key in pairs:
        want = status.get(want_key)
        if isinstance(want, int) and want > 0:
            ready = status.get(ready_key) or 0
            if isinstance(ready, int) and ready < want:
                return f"{ready}/{want} ready"
    return ""


def object_problem(
    status: Any,
    *,
    deleted_at: str | None = None,
    shown_status: str = "",
    ready_cell: str = "",
    now: float,
) -> tuple[str, str]:
    """(reason, message) saying why an object needs attention, ("", "") when it does not.

    ``shown_status`` and ``ready_cell`` are the Table's STATUS and READY cells when the server
    printed them (a pod's kubectl status, a Deployment's "1/3"): they catch what the status
    fields spread over several places; a pod's STATUS (CrashLoopBackOff) beats its conditions'
    generic reason (ContainersNotReady).
    """
    if deleted_at:
        when = parse_time(deleted_at)
        if when is not None and now - when > STUCK_DELETING:
            return "Terminating", "deleted over 5 minutes ago and still present (finalizers?)"
        return "", ""
    st = status if isinstance(status, dict) else {}
    phase = _text(st.get("phase"))
    if phase in DONE_PHASES:
        return "", ""
    reason, message = condition_problem(st.get("conditions"))
    pod_like = phase in ("Running", "Pending")
    if pod_like and shown_status not in ("", phase, "Running", "Completed", "Succeeded"):
        return shown_status, message or _text(st.get("message"))
    if reason:
        return reason, message
    if phase in BAD_PHASES:
        return _text(st.get("reason")) or phase, _text(st.get("message"))
    ratio = _RATIO.match(ready_cell.strip()) if ready_cell else None
    if ratio and int(ratio.group(1)) < int(ratio.group(2)):
        return ("NotReady" if phase == "Running" else f"{ready_cell} ready"), ""
    ready = replicas_problem(st)
    return (ready, "") if ready else ("", "")
