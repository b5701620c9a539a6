"""Custom resources (cert-manager Certificates, operators' kinds...) whose ``Ready`` or
``Available`` condition is False, grouped by kind, namespace and reason."""

from __future__ import annotations

from ..discovery import Kind
from ..models import Condition, Conditioned
from ..redact import redact_text
from ..shape import clip
from .evidence import EventIndex
from .issue import Issue

WATCHED = ("Ready", "Available")
SHOWN = 6
"""Objects named in one grouped finding."""


def _failing(obj: Conditioned) -> Condition | None:
    conditions = obj.status.conditions if obj.status is not None else None
    for cond in conditions or []:
        if cond.type in WATCHED and cond.status == "False":
            return cond
    return None


def custom_issues(custom: list[tuple[Kind, list[Conditioned]]], events: EventIndex) -> list[Issue]:
    """One finding per (kind, namespace, reason) of objects with Ready/Available False."""
    issues: list[Issue] = []
    for kind, objects in custom:
        groups: dict[tuple[str, str], list[tuple[Conditioned, Condition]]] = {}
        for obj in objects:
            cond = _failing(obj)
            if cond is not None:
                groups.setdefault((obj.metadata.namespace, cond.reason), []).append((obj, cond))
        for (ns, reason), members in groups.items():
            obj, cond = members[0]
            name = obj.metadata.name
            where = f"{ns}/" if ns else ""
            names = [m.metadata.name for m, _ in members]
            if len(members) == 1:
                key = f"{where}{name}"
                header = f"{kind.kind} not ready: {kind.kind} {key} has {cond.type}=False"
            else:
                key = f"{where}{len(members)} {kind.resource}"
                header = (
                    f"{kind.kind} not ready: {len(members)} {kind.resource} in "
                    f"{('namespace ' + ns) if ns else 'the cluster'} have {cond.type}=False "
                    f"({reason or 'no reason'})"
                )
            message = clip(redact_text(cond.message), 400)
            evidence = [f"   Evidence: {cond.type}=False {reason}: {message}".rstrip(": ")]
            if len(members) > 1:
                more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
                evidence.append(f"   Objects: {', '.join(names[:SHOWN])}{more}")
            evidence.extend(events.lines(ns, kind.kind, name))
            scope = f" namespace={ns}" if ns else ""
            issues.append(
                Issue(
                    category=f"{kind.kind} not ready",
                    severity=4,
                    key=key,
                    header=header,
                    evidence=evidence,
                    next=(
                        f"get_resource kind={kind.qualified} name={name}{scope} shows its status, "
                        "conditions and events; fix what the message names."
                    ),
                    brief=f"({kind.kind}) {reason}: {clip(message, 200)}",
                    impact=len(members),
                    subjects={f"{where}{n}" for n in names},
                )
            )
    return issues
