"""Pod tools: list_pods, get_pod and delete_pod (get_pod_logs lives in ``logs``); the health
rules they share with other tools are in ``health``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    NAME,
    NAMESPACE,
    check_args,
    check_name,
    missing_namespace,
    req_str,
    schema,
    scope,
    selector_args,
)
from .health import PodView, list_pod_views, pod_not_found, view_pod
from .kube import ApiFailure, KubeCluster, api_path, gc_paused
from .logs import LOGS_PARAMS, get_pod_logs
from .lookup import read_located, target, write_not_found
from .models import Event, Pod
from .redact import clean_annotations, env_display, redact_text
from .shape import Listing, age_of, ago, clip, counts, fit_listing, human_age, plural

# ---------------------------------------------------------------------- list_pods

LIST_PODS_PARAMS = {
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "label_selector": LABEL_SELECTOR,
    "field_selector": FIELD_SELECTOR,
}


@gc_paused
def list_pods(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Pods with kubectl-like status; unhealthy ones first and always named."""
    check_args(args, LIST_PODS_PARAMS, "list_pods")
    where = scope(ctx, args)
    labels, fields = selector_args(args)
    views = list_pod_views(
        ctx.cluster, where, label_selector=labels, field_selector=fields, timeout=ctx.timeout
    )
    filters = "".join(
        f", {name} {value!r}"
        for name, value in (("label_selector", labels), ("field_selector", fields))
        if value
    )
    if not views:
        missing = "" if filters else missing_namespace(ctx, where)
        return ToolResult(
            text=f"No pods in {where.describe()}{filters}.{missing}", data=[], truncated=False
        )
    problems = sorted(
        (v for v in views if v.problem), key=lambda v: (v.severity, v.namespace, v.name)
    )
    healthy = [v for v in views if not v.problem]
    rows = [view.row() for view in (*problems, *healthy)]
    head = [
        f"{plural(len(views), 'pod')} in {where.describe()}{filters}: "
        f"{len(problems)} need attention. By phase: {counts(Counter(v.phase for v in views))}."
    ]
    if where.everywhere:
        per_ns: dict[str, list[int]] = {}
        for v in views:
            entry = per_ns.setdefault(v.namespace, [0, 0])
            entry[0] += 1
            if v.problem:
                entry[1] += 1
        ordered = sorted(per_ns.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
        shown = ordered[:40]
        text = ", ".join(
            f"{ns} {n}" + (f" ({bad} unhealthy)" if bad else "") for ns, (n, bad) in shown
        )
        if len(ordered) > len(shown):
            text += f", {len(ordered) - len(shown)} more namespaces"
        head.append(f"By namespace ({len(per_ns)}): {text}.")
    if problems:
        head.append(f"Needing attention by reason: {counts(Counter(v.problem for v in problems))}.")
    if where.everywhere:
        columns: Sequence[str] = ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE")

        def cells(v: PodView) -> tuple[str, ...]:
            return (
                v.namespace,
                v.name,
                v.ready,
                v.shown_status(),
                str(v.restarts),
                v.age,
                v.node or "<none>",
            )
    else:
        columns = ("NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE")

        def cells(v: PodView) -> tuple[str, ...]:
            return (v.name, v.ready, v.shown_status(), str(v.restarts), v.age, v.node or "<none>")

    narrow = (
        "Narrow down: list_pods with namespace=<ns>, a label_selector built from the pods' own "
        "labels, or a field_selector on status.phase or spec.nodeName; get_pod or get_pod_logs "
        "for one pod; diagnose_cluster for the causes."
    )
    listing = Listing(
        noun="pods",
        head=head,
        columns=columns,
        problems=[cells(v) for v in problems],
        problem_keys=[v.key if where.everywhere else v.name for v in problems],
        problem_groups=[v.problem for v in problems],
        rest=[cells(v) for v in healthy],
        rest_group=(lambda row: row[0]) if where.everywhere else None,
        narrow=narrow,
        problem_label="needing attention",
        rest_label="healthy pods",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


# ---------------------------------------------------------------------- get_pod

GET_POD_PARAMS = {
    "name": NAME,
    "namespace": NAMESPACE,
}


def _stamp_age(value: Any, now: float) -> str:
    return ago(value, now) if isinstance(value, str) else ""


def _state_text(state: Mapping[str, Any], now: float) -> str:
    if not state:
        return "unknown"
    if "running" in state:
        return f"Running since {_stamp_age(state['running'].get('startedAt'), now)}".rstrip()
    if "waiting" in state:
        waiting = state["waiting"] or {}
        text = f"Waiting: {waiting.get('reason', '')}"
        if waiting.get("message"):
            text += f" - {clip(redact_text(str(waiting['message'])), 400)}"
        return text
    if "terminated" in state:
        return "Terminated: " + _termination_text(state["terminated"] or {}, now)
    return "unknown"


def _termination_text(term: Mapping[str, Any], now: float) -> str:
    text = f"{term.get('reason') or 'terminated'}, exit code {term.get('exitCode', '?')}"
    if term.get("signal"):
        text += f", signal {term['signal']}"
    finished = _stamp_age(term.get("finishedAt"), now)
    if finished:
        text += f", finished {finished}"
    if term.get("message"):
        text += f" - {clip(redact_text(str(term['message'])), 400)}"
    return text


def _resources(resources: Mapping[str, Any]) -> str:
    parts = []
    for kind in ("requests", "limits"):
        values = resources.get(kind) or {}
        if values:
            parts.append(f"{kind} " + ", ".join(f"{k} {v}" for k, v in values.items()))
    return "; ".join(parts)


def _volume_text(volume: Mapping[str, Any]) -> str:
    name = volume.get("name", "?")
    for kind, key in (
        ("secret", "secretName"),
        ("configMap", "name"),
        ("persistentVolumeClaim", "claimName"),
        ("hostPath", "path"),
    ):
        if kind in volume:
            return f"{name} ({kind} {(volume[kind] or {}).get(key, '')})".replace(" )", ")")
    kinds = [k for k in volume if k != "name"]
    return f"{name} ({kinds[0] if kinds else 'unknown'})"


def _overview(pod: Mapping[str, Any], view: PodView, created: str, now: float) -> list[str]:
    """Status, placement, owner, labels, annotations and conditions of a pod, one line each."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    summary = (
        f"Status: {view.shown_status()}, phase {view.phase}, {view.ready} ready, "
        f"{view.restarts} restarts"
    )
    if status.get("message"):
        summary += f" - {clip(redact_text(str(status['message'])), 300)}"
    placement = f"Node: {spec.get('nodeName') or '<not scheduled>'}"
    if status.get("hostIP"):
        placement += f" ({status['hostIP']})"
    if status.get("podIP"):
        placement += f"; pod IP {status['podIP']}"
    placement += f"; created {created} ago"
    if status.get("qosClass"):
        placement += f"; QoS {status['qosClass']}"
    lines = [summary, placement]
    owners = meta.get("ownerReferences") or []
    if owners:
        owner = owners[0]
        text = f"Controlled by: {owner.get('kind')} {owner.get('name')}"
        if owner.get("kind") == "ReplicaSet":
            deployment = _deployment_of_replicaset(
                str(owner.get("name", "")), meta.get("labels") or {}
            )
            if deployment:
                text += f" (Deployment {deployment})"
        lines.append(text)
    else:
        lines.append("Controlled by: nothing (a bare pod: deleting it deletes it for good)")
    labels = meta.get("labels") or {}
    if labels:
        lines.append("Labels: " + clip(", ".join(f"{k}={v}" for k, v in labels.items()), 400))
    annotations = clean_annotations(meta.get("annotations"))
    if annotations:
        shown = ", ".join(f"{k}={clip(v, 120)}" for k, v in annotations.items())
        lines.append("Annotations: " + clip(shown, 600))
    conditions = []
    for cond in status.get("conditions") or []:
        text = f"{cond.get('type')}={cond.get('status')}"
        if cond.get("status") != "True" and (cond.get("reason") or cond.get("message")):
            why = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
            text += f" ({clip(redact_text(why), 500)})"
        conditions.append(text)
    if conditions:
        lines.append("Conditions: " + "; ".join(conditions))
    return lines


def _container_lines(container: Mapping[str, Any], cs: Mapping[str, Any], now: float) -> list[str]:
    """One container described: image, state, last termination, resources, ports, env."""
    lines = [
        f"  {container.get('name', '?')}: image {container.get('image', '?')}",
        f"    State: {_state_text(cs.get('state') or {}, now)}",
    ]
    last = (cs.get("lastState") or {}).get("terminated")
    if last:
        lines.append(f"    Last termination: {_termination_text(last, now)}")
    ready = "true" if cs.get("ready") else "false"
    lines.append(f"    Ready: {ready}, restarts {cs.get('restartCount', 0)}")
    command = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if command:
        lines.append(f"    Command: {clip(redact_text(' '.join(command)), 300)}")
    resources = _resources(container.get("resources") or {})
    if resources:
        lines.append(f"    Resources: {resources}")
    ports = [
        f"{p.get('name', '')} {p.get('containerPort')}/{p.get('protocol', 'TCP')}".strip()
        for p in container.get("ports") or []
    ]
    if ports:
        lines.append("    Ports: " + ", ".join(ports))
    env = container.get("env") or []
    if env:
        lines.append("    Env: " + clip("; ".join(env_display(e) for e in env), 1200))
    for source in container.get("envFrom") or []:
        for kind, what in (("secretRef", "secret"), ("configMapRef", "configmap")):
            if kind in source:
                name = (source[kind] or {}).get("name", "?")
                lines.append(f"    Env from {what} {name} (values not shown)")
    return lines


def _container_row(
    container: Mapping[str, Any], cs: Mapping[str, Any], init: bool
) -> dict[str, Any]:
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    reason = ""
    for key in ("waiting", "terminated"):
        if key in state:
            reason = (state[key] or {}).get("reason", "")
    return {
        "container": container.get("name", "?"),
        "init": init,
        "image": container.get("image", ""),
        "state": next(iter(state), "unknown"),
        "reason": reason,
        "ready": bool(cs.get("ready", False)),
        "restarts": int(cs.get("restartCount", 0)),
        "last_reason": last.get("reason", ""),
        "last_exit_code": last.get("exitCode"),
    }


def get_pod(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """One pod described: status, conditions, containers, last terminations, recent events."""
    check_args(args, GET_POD_PARAMS, "get_pod")
    name = check_name(req_str(args, "name", "get_pod"), "pod name")
    cluster = ctx.cluster

    def fetch(namespace: str) -> bytes:
        return cluster.get_raw(
            api_path("pods", namespace, name),
            timeout=ctx.timeout,
            not_found=pod_not_found(name, namespace),
        )

    raw, namespace, found_note = read_located(ctx, target(ctx, args), "pod", "pods", name, fetch)
    now = time.time()
    pod: dict[str, Any] = msgspec.json.decode(raw)
    typed = msgspec.json.decode(raw, type=Pod)
    del raw
    view = view_pod(typed, now)
    created = age_of(typed.metadata.creation_timestamp, now)
    lines = [f"Pod {namespace}/{name}", *_overview(pod, view, created, now)]
    if found_note:
        lines.insert(0, found_note)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    rows: list[dict[str, Any]] = []
    for label, key, status_key in (
        ("Init containers", "initContainers", "initContainerStatuses"),
        ("Containers", "containers", "containerStatuses"),
    ):
        containers = spec.get(key) or []
        if not containers:
            continue
        known = {c.get("name"): c for c in status.get(status_key) or []}
        lines.append(f"{label}:")
        for container in containers:
            cs = known.get(container.get("name")) or {}
            lines.extend(_container_lines(container, cs, now))
            rows.append(_container_row(container, cs, init=key == "initContainers"))
    volumes = spec.get("volumes") or []
    if volumes:
        lines.append("Volumes: " + clip(", ".join(_volume_text(v) for v in volumes), 500))
    del pod
    hint = _pod_hint(view, namespace)
    tail = [f"Hint: {hint}"] if hint else []
    events = _events_for(cluster, namespace, "Pod", name, ctx.timeout)
    room = ctx.budget - sum(len(line) + 1 for line in lines + tail)
    lines.extend(_event_lines(events, now, room))
    lines.extend(tail)
    text = "\n".join(lines)
    truncated = len(text) > ctx.budget
    if truncated:
        note = "\n(Description cut to fit; ask about one container or use list_events.)"
        text = text[: ctx.budget - len(note)].rsplit("\n", 1)[0] + note
    return ToolResult(text=text, data=rows, truncated=truncated)


def _deployment_of_replicaset(rs_name: str, labels: Mapping[str, str]) -> str:
    template_hash = labels.get("pod-template-hash")
    if template_hash and rs_name.endswith(f"-{template_hash}"):
        return rs_name[: -len(template_hash) - 1]
    return ""


def _events_for(
    cluster: KubeCluster, namespace: str, kind: str, name: str, timeout: float
) -> list[Event]:
    """Events about one object, newest first; empty when events cannot be read."""
    try:
        listed = cluster.list_all(
            api_path("events", namespace),
            Event,
            field_selector=f"involvedObject.name={name},involvedObject.kind={kind}",
            timeout=timeout,
        )
    except ToolError:
        return []
    events = listed.items
    events.sort(key=lambda e: e.when().timestamp() if e.when() else 0.0, reverse=True)
    return events


def _event_lines(events: Sequence[Event], now: float, room: int) -> list[str]:
    if not events:
        return ["Events: none recorded (events expire after about an hour)."]
    lines = ["Events (newest first):"]
    used = len(lines[0]) + 1
    for index, event in enumerate(events):
        when = event.when()
        line = (
            f"  {human_age(now - when.timestamp()) if when else '?'} ago  {event.type}  "
            f"{event.reason}  x{event.times()}  {clip(redact_text(event.message), 300)}"
        )
        if used + len(line) + 1 > min(room, 3000):
            lines.append(f"  ({len(events) - index} older events not shown)")
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def _pod_hint(view: PodView, namespace: str) -> str:
    problem = view.problem
    name = view.name
    if not problem:
        return ""
    if (
        "CrashLoopBackOff" in problem
        or problem in ("Error", "OOMKilled")
        or problem.startswith("last")
    ):
        return (
            f"the container keeps exiting; read the crashed instance's logs with get_pod_logs "
            f"name={name} namespace={namespace} previous=true (kubectl logs -n {namespace} {name} "
            "--previous)."
        )
    if "Image" in problem:
        return (
            "the image cannot be pulled: check the image name and tag above and the registry "
            "credentials (imagePullSecrets); the Failed events carry the registry's error."
        )
    if problem in ("Unschedulable", "Pending"):
        return (
            "no node can take this pod (see the PodScheduled condition and FailedScheduling "
            "events): lower its requests, fix its node selector/tolerations, or add capacity "
            "(list_nodes shows allocatable and pressure)."
        )
    if problem == "Evicted":
        return (
            "the kubelet evicted it under node pressure; check list_nodes for pressure conditions."
        )
    if problem == "NotReady":
        return (
            "its readiness check fails or its node is not ready; check list_nodes and the "
            "events above."
        )
    return "check the events above and list_events for this pod."


# ---------------------------------------------------------------------- get_pod_logs

# ---------------------------------------------------------------------- delete_pod

DELETE_PARAMS = {
    "name": NAME,
    "namespace": NAMESPACE,
}


def delete_pod(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Delete one pod (its controller, if any, creates a replacement)."""
    check_args(args, DELETE_PARAMS, "delete_pod")
    name = check_name(req_str(args, "name", "delete_pod"), "pod name")
    where = target(ctx, args)
    namespace = where.namespace
    try:
        raw = ctx.cluster.delete(
            api_path("pods", namespace, name),
            timeout=ctx.timeout,
            not_found=pod_not_found(name, namespace) + " It may already be deleted.",
        )
    except ApiFailure as exc:
        elsewhere = write_not_found(ctx, where, "pod", "pods", name) if exc.status == 404 else None
        if elsewhere is None:
            raise
        raise ToolError(elsewhere) from None
    try:
        pod = msgspec.json.decode(raw, type=Pod)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pod = None
    text = f"Deleted pod {namespace}/{name}."
    row: dict[str, Any] = {"namespace": namespace, "name": name, "deleted": True}
    if pod is not None and pod.metadata.name:
        view = view_pod(pod, time.time())
        text += f" It was {view.phase}, {view.ready} ready, on {view.node or 'no node'}."
        owners = pod.metadata.owner_references
        if owners:
            owner = owners[0]
            text += (
                f" It is managed by {owner.kind} {owner.name}, which will create a replacement; "
                f"check it with list_pods namespace={namespace}."
            )
            row["owner"] = f"{owner.kind}/{owner.name}"
        else:
            text += " It had no controller, so nothing will recreate it."
    return ToolResult(text=text, data=[row])


def _describe_delete(args: dict[str, Any]) -> str:
    where = args.get("namespace") or "the default namespace"
    return f"Delete pod {args.get('name', '?')} in {where}"


# ---------------------------------------------------------------------- specs


def pod_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_pods",
            description="Pods: status, restarts, node; unhealthy first.",
            parameters=schema(LIST_PODS_PARAMS),
            func=list_pods,
        ),
        ToolSpec(
            name="get_pod",
            description="One pod: containers, last exit, resources, env, events.",
            parameters=schema(GET_POD_PARAMS, ["name"]),
            func=get_pod,
        ),
        ToolSpec(
            name="get_pod_logs",
            description="A pod's last log lines; previous=true: the crashed instance's.",
            parameters=schema(LOGS_PARAMS, ["name"]),
            func=get_pod_logs,
        ),
        ToolSpec(
            name="delete_pod",
            description=(
                "Delete a pod. A pod owned by a Deployment/StatefulSet/DaemonSet is recreated by "
                "it (a restart of that pod); a bare pod is gone for good. Needs user approval."
            ),
            parameters=schema(DELETE_PARAMS, ["name"]),
            func=delete_pod,
            writes=True,
            summarize=_describe_delete,
        ),
    ]
