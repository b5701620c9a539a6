"""rollout_history: a workload's revisions, newest first, and what the last rollout changed.

As ``kubectl rollout history`` reads them: a Deployment's revisions are its ReplicaSets (the
``deployment.kubernetes.io/revision`` annotation), a StatefulSet's or DaemonSet's are its
ControllerRevisions (``revision``, with the pod template in ``data``). Only objects the
workload controls (owner reference by uid) count. Env values are masked like everywhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import NAME, NAMESPACE, check_args, check_name, opt_str, req_str, schema
from .kube import api_path
from .lookup import read_located, target
from .redact import env_display, redact_text
from .shape import ago, clip, plural, table

KINDS = {"deployment": "deployments", "statefulset": "statefulsets", "daemonset": "daemonsets"}
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABELS = ("pod-template-hash", "controller-revision-hash")

PARAMS = {
    "name": NAME,
    "namespace": NAMESPACE,
    "kind": {
        "type": "string",
        "enum": list(KINDS),
        "default": "deployment",
    },
}


@dataclass
class Revision:
    number: int
    created: str
    change_cause: str
    template: dict[str, Any]
    replicas: int | None

    def images(self) -> str:
        spec = self.template.get("spec") or {}
        return ", ".join(str(c.get("image", "?")) for c in spec.get("containers") or [])


def template_facts(template: dict[str, Any]) -> dict[str, str]:
    """A pod template as comparable ``what -> value`` facts (env values masked)."""
    facts: dict[str, str] = {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    for key in HASH_LABELS:
        labels.pop(key, None)
    for key, value in labels.items():
        facts[f"label {key}"] = str(value)
    for key, value in ((template.get("metadata") or {}).get("annotations") or {}).items():
        facts[f"annotation {key}"] = redact_text(str(value))
    spec = template.get("spec") or {}
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            name = (
                f"{'init container' if group == 'initContainers' else 'container'} {c.get('name')}"
            )
            facts[f"{name} image"] = str(c.get("image", ""))
            command = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
            if command:
                facts[f"{name} command"] = redact_text(" ".join(command))
            for entry in c.get("env") or []:
                facts[f"{name} env {entry.get('name')}"] = env_display(entry)
            for which in ("requests", "limits"):
                for res, value in ((c.get("resources") or {}).get(which) or {}).items():
                    facts[f"{name} {which} {res}"] = str(value)
            for port in c.get("ports") or []:
                facts[f"{name} port {port.get('name') or port.get('containerPort')}"] = (
                    f"{port.get('containerPort')}/{port.get('protocol', 'TCP')}"
                )
    for key in ("serviceAccountName", "nodeSelector", "tolerations", "volumes", "affinity"):
        if key in spec:
            facts[key] = redact_text(clip(str(spec[key]), 300))
    return facts


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two pod templates, one line per fact."""
    before, after = template_facts(old), template_facts(new)
    lines = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if a is None:
            lines.append(f"  added {key}: {clip(str(b), 300)}")
        elif b is None:
            lines.append(f"  removed {key}: {clip(a, 300)}")
        else:
            lines.append(f"  {key}: {clip(a, 200)} -> {clip(b, 200)}")
    return lines


def _owned_by(item: dict[str, Any], uid: str) -> bool:
    refs = (item.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("uid") == uid for r in refs)


def _selector(workload: dict[str, Any]) -> str | None:
    labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or None


def _revisions(ctx: ToolContext, kind: str, workload: dict[str, Any], ns: str) -> list[Revision]:
    uid = str((workload.get("metadata") or {}).get("uid", ""))
    resource = "replicasets" if kind == "deployment" else "controllerrevisions"
    listed = ctx.cluster.list_all(
        api_path(resource, ns, group="apps"),
        dict,
        label_selector=_selector(workload),
        timeout=ctx.timeout,
    )
    out = []
    for item in listed.items:
        if not _owned_by(item, uid):
            continue
        meta = item.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if kind == "deployment":
            number = annotations.get(REVISION)
            template = (item.get("spec") or {}).get("template") or {}
            replicas = (item.get("spec") or {}).get("replicas")
        else:
            number = item.get("revision")
            template = ((item.get("data") or {}).get("spec") or {}).get("template") or {}
            replicas = None
        try:
            revision = int(number)
        except (TypeError, ValueError):
            continue
        out.append(
            Revision(
                revision,
                str(meta.get("creationTimestamp") or ""),
                redact_text(str(annotations.get(CHANGE_CAUSE) or "")),
                template,
                replicas if isinstance(replicas, int) else None,
            )
        )
    out.sort(key=lambda r: r.number, reverse=True)
    return out


def rollout_history(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Revisions with images and change causes, newest first, and the last rollout's diff."""
    check_args(args, PARAMS, "rollout_history")
    kind = (opt_str(args, "kind") or "deployment").lower()
    if kind.endswith("s") and kind[:-1] in KINDS:
        kind = kind[:-1]
    if kind not in KINDS:
        raise ToolError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    name = check_name(req_str(args, "name", "rollout_history"), f"{kind} name")
    resource = KINDS[kind]
    label = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}
    workload, namespace, note = read_located(
        ctx,
        target(ctx, args),
        label[kind],
        resource,
        name,
        lambda ns: ctx.cluster.get(
            api_path(resource, ns, name, group="apps"), dict, timeout=ctx.timeout
        ),
        group="apps",
    )
    revisions = _revisions(ctx, kind, workload, namespace)
    title = f"{label[kind]} {namespace}/{name}"
    head = [note] if note else []
    if not revisions:
        head.append(f"{title} has no recorded revisions (no ReplicaSets/ControllerRevisions).")
        return ToolResult(text="\n".join(head), data=[])
    now = time.time()
    current = revisions[0].number
    if kind == "deployment":
        stamped = ((workload.get("metadata") or {}).get("annotations") or {}).get(REVISION)
        current = int(stamped) if str(stamped or "").isdigit() else current
    head.append(f"Rollout history of {title}: {plural(len(revisions), 'revision')}, newest first.")
    rows = [
        [
            f"{r.number}{' (current)' if r.number == current else ''}",
            ago(r.created, now),
            "" if r.replicas is None else str(r.replicas),
            clip(r.images(), 200),
            clip(r.change_cause, 200) or "<none>",
        ]
        for r in revisions
    ]
    lines = head + table(["REVISION", "CREATED", "PODS", "IMAGES", "CHANGE-CAUSE"], rows)
    if len(revisions) > 1:
        new, old = revisions[0], revisions[1]
        diff = differences(old.template, new.template)
        lines.append(f"Changed from revision {old.number} to {new.number}:")
        lines.extend(diff or ["  nothing in the pod template (a rollback or a restart?)"])
    text = "\n".join(lines)
    truncated = len(text) > ctx.budget
    if truncated:
        text = text[: ctx.budget - 80].rsplit("\n", 1)[0] + "\n(more changes not shown)"
    data = [
        {
            "revision": r.number,
            "current": r.number == current,
            "created": r.created,
            "pods": r.replicas,
            "images": r.images(),
            "change_cause": r.change_cause,
        }
        for r in revisions
    ]
    return ToolResult(text=text, data=data, truncated=truncated)


def rollout_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="rollout_history",
            description="A workload's revisions: images, change causes, last change.",
            parameters=schema(PARAMS, ["name"]),
            func=rollout_history,
        )
    ]
