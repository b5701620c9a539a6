"""Custom resources (cert-manager Certificates, operators' kinds...) whose ``Ready`` or
``Available`` condition is False, grouped by kind, namespace and reason."""

from __future__ import annotations

from ..discovery import Kind
from ..models import Condition
from ..redact import redact_text
from ..shape import clip
from .evidence import EventIndex
from .issue import Issue
from .kinds import Conditioned

WATCHED = ("Ready", "Available")
SHOWN = 6
"""Objects named in one grouped finding."""


def _failing(obj: Conditioned) -> Condition | None:
    conditions = obj.status.conditions if obj.status is not None else None
    for cond in conditions or []:
        if cond.type in WATCHED and cond.status == "False":
            return cond
    return None


def _label(obj: Conditioned) -> str:
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def custom_issues(custom: list[tuple[Kind, list[Conditioned]]], events: EventIndex) -> list[Issue]:
    """One finding per kind and reason of objects with Ready/Available False (a cause shared by
    200 Certificates over 30 namespaces is one finding); the object with events leads."""
    issues: list[Issue] = []
    for kind, objects in custom:
        groups: dict[str, list[tuple[Conditioned, Condition]]] = {}
        for obj in objects:
            cond = _failing(obj)
            if cond is not None:
                groups.setdefault(cond.reason, []).append((obj, cond))
        for reason, members in groups.items():

            def telling(member: tuple[Conditioned, Condition]) -> tuple[bool, str]:
                meta = member[0].metadata
                return not events.about(meta.namespace, kind.kind, meta.name), _label(member[0])

            members.sort(key=telling)
            obj, cond = members[0]
            ns, name = obj.metadata.namespace, obj.metadata.name
            names = [_label(m) for m, _ in members]
            spaces = sorted({m.metadata.namespace for m, _ in members})
            if len(members) == 1:
                key = names[0]
                header = f"{kind.kind} not ready: {kind.kind} {key} has {cond.type}=False"
            else:
                where = (
                    f"namespace {spaces[0]}" if len(spaces) == 1 else (f"{len(spaces)} namespaces")
                )
                key = f"{len(members)} {kind.resource} in {where}"
                header = (
                    f"{kind.kind} not ready: {key} have {cond.type}=False ({reason or 'no reason'})"
                )
            message = clip(redact_text(cond.message), 400)
            evidence = [f"   Evidence: {cond.type}=False {reason}: {message}".rstrip(": ")]
            if len(members) > 1:
                more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
                evidence.append(f"   Objects: {', '.join(names[:SHOWN])}{more}")
            evidence.extend(events.lines(ns, kind.kind, name))
            brief = f"({kind.kind}) {reason}: {clip(message, 200)}"
            warned = events.about(ns, kind.kind, name)
            if warned:
                said = clip(redact_text(warned[0].message), 220)
                brief = f"({kind.kind}) {reason}; event {warned[0].reason}: {said}"
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
                    brief=brief,
                    impact=len(members),
                    subjects=set(names),
                )
            )
    return issues
