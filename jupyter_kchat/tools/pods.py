"""Pod tools: list_pods, get_pod, get_pod_logs and delete_pod, plus the pod health rules that
diagnose_cluster and list_deployments reuse."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    NAMESPACE,
    Scope,
    check_args,
    check_name,
    opt_bool,
    opt_int,
    opt_str,
    req_str,
    schema,
    scope,
    selector_args,
)
from .kube import ApiFailure, KubeCluster, api_path, gc_paused
from .models import ContainerStatus, Event, Pod, StateTerminated
from .redact import clean_annotations, env_display, redact_text
from .shape import (
    Listing,
    age_of,
    ago,
    clip,
    counts,
    fit_listing,
    fit_tail,
    human_age,
    plural,
)

# ---------------------------------------------------------------------- health rules

SEVERITY = {
    "CrashLoopBackOff": 0,
    "OOMKilled": 0,
    "Error": 0,
    "RunContainerError": 0,
    "CreateContainerConfigError": 0,
    "CreateContainerError": 0,
    "ContainerCannotRun": 0,
    "ImagePullBackOff": 1,
    "ErrImagePull": 1,
    "InvalidImageName": 1,
    "ErrImageNeverPull": 1,
    "Unschedulable": 2,
    "Pending": 2,
    "ContainerCreating": 2,
    "PodInitializing": 2,
    "Evicted": 3,
    "Failed": 3,
    "Unknown": 3,
    "NodeLost": 3,
    "Terminating": 3,
    "NotReady": 4,
}
RESTART_ALERT = 3
"""Restarts from which a running pod needs attention (as kubectl users read RESTARTS)."""
STUCK_TERMINATING = 300.0


@dataclass(slots=True)
class PodView:
    """What a pod looks like to a person: kubectl's STATUS, readiness, and what is wrong."""

    namespace: str
    name: str
    phase: str
    status: str
    ready: str
    restarts: int
    node: str
    age: str
    problem: str
    severity: int
    worst: ContainerStatus | None
    pod: Pod

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def row(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "phase": self.phase,
            "ready": self.ready,
            "restarts": self.restarts,
            "node": self.node,
            "reason": self.problem,
            "age": self.age,
        }

    def shown_status(self) -> str:
        """STATUS for the text: kubectl's, plus why the pod needs attention when that differs."""
        if self.problem and self.problem != self.status:
            return f"{self.status} ({self.problem})"
        return self.status


def owner_workload(pod: Pod) -> tuple[str, str]:
    """(kind, name) of the workload that runs a pod: a ReplicaSet's Deployment, a StatefulSet,
    a DaemonSet, a Job; ("Pod", name) for a bare pod."""
    for ref in pod.metadata.owner_references:
        if ref.controller is False:
            continue
        if ref.kind == "ReplicaSet":
            base, _, suffix = ref.name.rpartition("-")
            return ("Deployment", base) if base and suffix else ("ReplicaSet", ref.name)
        return ref.kind, ref.name
    return "Pod", pod.metadata.name


def problem_detail(view: PodView, limit: int = 300) -> str:
    """The evidence behind a pod's problem: exit code, image, scheduler or eviction message."""
    problem = view.problem
    worst = view.worst
    st = view.pod.status
    if not problem:
        return ""
    if "Image" in problem and worst is not None:
        return f"image {worst.image or '?'}"
    if problem in ("Unschedulable", "Pending"):
        for cond in st.conditions:
            if cond.type == "PodScheduled" and cond.status != "True" and cond.message:
                return clip(redact_text(cond.message), limit)
        return "not scheduled to a node yet"
    if st.reason and st.message:
        return clip(redact_text(st.message), limit)
    if problem == "NotReady":
        return f"Ready condition not True on node {view.node or '?'}"
    if worst is not None:
        term = worst.last_state.terminated or worst.state.terminated
        waiting = worst.state.waiting
        if term is not None and problem not in (
            "CreateContainerConfigError",
            "CreateContainerError",
        ):
            text = f"container {worst.name}: last exit {describe_exit(term)}"
            if term.message:
                text += f" - {clip(redact_text(term.message), 160)}"
            return clip(text, limit)
        if waiting is not None and waiting.message:
            return clip(f"container {worst.name}: {redact_text(waiting.message)}", limit)
    return ""


def describe_exit(term: StateTerminated | None) -> str:
    """``OOMKilled, exit code 137`` for a termination (empty when there is none)."""
    if term is None:
        return ""
    text = term.reason or "terminated"
    text += f", exit code {term.exit_code}"
    if term.signal:
        text += f", signal {term.signal}"
    return text


def kubectl_status(pod: Pod) -> tuple[str, ContainerStatus | None]:
    """STATUS as ``kubectl get pods`` prints it, and the container that decided it.

    The pod's own reason (Evicted, NodeLost) wins, then the first failing init container, then
    the last container that is waiting or terminated; a deleted pod is Terminating.
    """
    st = pod.status
    status = st.reason or st.phase or "Unknown"
    worst: ContainerStatus | None = None
    inits = st.init_container_statuses
    for index, c in enumerate(inits):
        term, waiting = c.state.terminated, c.state.waiting
        if term is not None and term.exit_code == 0:
            continue
        if term is not None:
            status = "Init:" + (term.reason or f"ExitCode:{term.exit_code}")
        elif waiting is not None and waiting.reason and waiting.reason != "PodInitializing":
            status = "Init:" + waiting.reason
        else:
            status = f"Init:{index}/{len(inits)}"
        return status, c
    if not st.reason:
        running_ready = False
        for c in reversed(st.container_statuses):
            term, waiting = c.state.terminated, c.state.waiting
            if waiting is not None and waiting.reason:
                status, worst = waiting.reason, c
            elif term is not None:
                status = term.reason or (
                    f"Signal:{term.signal}" if term.signal else f"ExitCode:{term.exit_code}"
                )
                worst = c
            elif c.state.running is not None and c.ready:
                running_ready = True
        if status == "Completed" and running_ready:
            status = "Running"
    if pod.metadata.deletion_timestamp is not None:
        status = "Unknown" if st.reason == "NodeLost" else "Terminating"
    return status, worst


def pod_problem(pod: Pod, status: str, now: float) -> tuple[str, ContainerStatus | None]:
    """Why a pod needs attention ("" when it does not), and the container to blame.

    Not Running/Succeeded, not Ready, a container not running or restarted 3+ times, or a last
    container exit by the OOM killer; a pod deleted 5+ minutes ago and still there is stuck.
    """
    st = pod.status
    phase = st.phase or "Unknown"
    deleted = pod.metadata.deletion_timestamp
    if deleted is not None:
        return ("Terminating" if now - deleted.timestamp() > STUCK_TERMINATING else ""), None
    if phase == "Succeeded":
        return "", None
    if phase != "Running":
        if phase == "Pending" and status == "Pending":
            for cond in st.conditions:
                if cond.type == "PodScheduled" and cond.status == "False":
                    return cond.reason or "Unschedulable", None
        return status, None
    if status != "Running":
        return status, None
    ready = next((c.status for c in st.conditions if c.type == "Ready"), "")
    if ready != "True":
        return "NotReady", None
    for c in st.container_statuses:
        term = c.last_state.terminated
        if c.state.running is None:
            return "NotRunning", c
        if term is not None and term.reason == "OOMKilled":
            return "last OOMKilled", c
        if c.restart_count >= RESTART_ALERT:
            return (f"last {term.reason}" if term is not None and term.reason else "Restarting"), c
    return "", None


def severity_of(problem: str) -> int:
    """Sort key for problems: crashes first, then image pulls, scheduling, evictions, readiness."""
    if not problem:
        return 9
    if problem.startswith("Init:"):
        return 0 if "Error" in problem or "CrashLoop" in problem else 2
    if problem.startswith("last OOMKilled"):
        return 0
    return SEVERITY.get(problem, 5)


def view_pod(pod: Pod, now: float) -> PodView:
    """Classify one pod: kubectl's STATUS, READY and RESTARTS, and what needs attention."""
    st = pod.status
    meta = pod.metadata
    ready_count = 0
    restarts = 0
    for c in st.container_statuses:
        ready_count += c.ready
        restarts += c.restart_count
    total = len(pod.spec.containers) or len(st.container_statuses)
    status, worst = kubectl_status(pod)
    problem, blamed = pod_problem(pod, status, now)
    created = meta.creation_timestamp
    return PodView(
        namespace=meta.namespace,
        name=meta.name,
        phase=st.phase or "Unknown",
        status=status,
        ready=f"{ready_count}/{total}",
        restarts=restarts,
        node=pod.spec.node_name,
        age=human_age(now - created.timestamp()) if created is not None else "",
        problem=problem,
        severity=severity_of(problem),
        worst=blamed or worst,
        pod=pod,
    )


def list_pod_views(
    cluster: KubeCluster,
    where: Scope,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout: float,
) -> list[PodView]:
    """Every pod in scope, classified, in namespace/name order."""
    listed = cluster.list_all(
        where.path("pods"),
        Pod,
        label_selector=label_selector,
        field_selector=field_selector,
        timeout=timeout,
    )
    now = time.time()
    return [view_pod(pod, now) for pod in listed.items]


def pod_not_found(name: str, namespace: str) -> str:
    return (
        f"pod {name!r} not found in namespace {namespace!r}. Pod names change when pods are "
        f"replaced: use list_pods (namespace={namespace}, or all_namespaces=true) to find the "
        "current name."
    )


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
    rows = [view.row() for view in views]
    filters = "".join(
        f", {name} {value!r}"
        for name, value in (("label_selector", labels), ("field_selector", fields))
        if value
    )
    if not views:
        return ToolResult(
            text=f"No pods in {where.describe()}{filters}.", data=rows, truncated=False
        )
    problems = sorted(
        (v for v in views if v.problem), key=lambda v: (v.severity, v.namespace, v.name)
    )
    healthy = [v for v in views if not v.problem]
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
        "Narrow down: list_pods with namespace=<ns>, label_selector (e.g. 'app=web') or "
        "field_selector (e.g. 'status.phase!=Running'); get_pod or get_pod_logs for one pod; "
        "diagnose_cluster for the causes."
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
    "name": {"type": "string", "description": "Exact pod name (from list_pods)."},
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
    namespace = check_name(opt_str(args, "namespace") or ctx.default_namespace(), "namespace")
    cluster = ctx.cluster
    raw = cluster.get_raw(
        api_path("pods", namespace, name),
        timeout=ctx.timeout,
        not_found=pod_not_found(name, namespace),
    )
    now = time.time()
    pod: dict[str, Any] = msgspec.json.decode(raw)
    typed = msgspec.json.decode(raw, type=Pod)
    del raw
    view = view_pod(typed, now)
    created = age_of(typed.metadata.creation_timestamp, now)
    lines = [f"Pod {namespace}/{name}", *_overview(pod, view, created, now)]
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

LOGS_PARAMS = {
    "name": {"type": "string", "description": "Exact pod name (from list_pods)."},
    "namespace": NAMESPACE,
    "container": {
        "type": "string",
        "description": "Container name. Default: the one that is failing, else the pod's default.",
    },
    "tail_lines": {
        "type": "integer",
        "minimum": 1,
        "maximum": 5000,
        "default": 100,
        "description": "Lines to read from the end (default 100; 2000 when grep is given).",
    },
    "previous": {
        "type": "boolean",
        "default": False,
        "description": "Logs of the previous, crashed instance of the container (after restarts).",
    },
    "grep": {
        "type": "string",
        "description": "Keep only lines matching this case-insensitive regular expression.",
    },
}
LOG_LIMIT_BYTES = 8 * 1024 * 1024
LOG_LINE_LIMIT = 1000


@dataclass
class _LogPod:
    containers: list[str]
    init_containers: list[str]
    statuses: dict[str, Mapping[str, Any]]
    default: str | None
    scheduled: bool
    phase: str


def _log_pod(pod: Mapping[str, Any]) -> _LogPod:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    statuses = {
        c.get("name", ""): c
        for c in (status.get("containerStatuses") or [])
        + (status.get("initContainerStatuses") or [])
    }
    return _LogPod(
        containers=[c.get("name", "") for c in spec.get("containers") or []],
        init_containers=[c.get("name", "") for c in spec.get("initContainers") or []],
        statuses=statuses,
        default=annotations.get("kubectl.kubernetes.io/default-container"),
        scheduled=bool(spec.get("nodeName")),
        phase=str(status.get("phase", "")),
    )


def _pick_container(info: _LogPod, previous: bool) -> tuple[str, str]:
    """The container to read and why: the failing one, else the default, else the first."""
    names = info.containers
    if len(names) == 1:
        return names[0], ""
    for name in names:
        cs = info.statuses.get(name) or {}
        if previous and (cs.get("lastState") or {}).get("terminated"):
            return name, "the one that restarted"
        if not previous and (
            cs.get("restartCount", 0) >= RESTART_ALERT or not cs.get("ready", True)
        ):
            return name, "the one that is not ready / restarting"
    if info.default in names:
        return str(info.default), "the pod's default container"
    return names[0], "the first container"


def get_pod_logs(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """The tail of a container's log (optionally grepped), redacted and fitted to the budget."""
    check_args(args, LOGS_PARAMS, "get_pod_logs")
    name = check_name(req_str(args, "name", "get_pod_logs"), "pod name")
    namespace = check_name(opt_str(args, "namespace") or ctx.default_namespace(), "namespace")
    container = opt_str(args, "container")
    previous = opt_bool(args, "previous")
    grep = opt_str(args, "grep")
    tail = opt_int(args, "tail_lines", None, 1, 5000)
    if tail is None:
        tail = 2000 if grep else 100
    pattern: re.Pattern[str] | None = None
    if grep:
        try:
            pattern = re.compile(grep, re.IGNORECASE)
        except re.error:
            pattern = re.compile(re.escape(grep), re.IGNORECASE)
    cluster = ctx.cluster
    pod = cluster.get(
        api_path("pods", namespace, name),
        dict,
        timeout=ctx.timeout,
        not_found=pod_not_found(name, namespace),
    )
    info = _log_pod(pod)
    del pod
    all_names = info.containers + info.init_containers
    why = ""
    if container is None:
        container, why = _pick_container(info, previous)
    elif container not in all_names:
        raise ToolError(
            f"pod {namespace}/{name} has no container {container!r}; its containers are: "
            f"{', '.join(info.containers)}"
            + (f" (init: {', '.join(info.init_containers)})" if info.init_containers else "")
            + "."
        )
    if not info.scheduled:
        raise ToolError(
            f"pod {namespace}/{name} has no logs: it is {info.phase or 'Pending'} and not "
            "scheduled to a node yet, so no container ever started. Use get_pod to see why "
            "(PodScheduled condition, FailedScheduling events)."
        )
    query: list[tuple[str, Any]] = [
        ("container", container),
        ("tailLines", tail),
        ("limitBytes", LOG_LIMIT_BYTES),
    ]
    if previous:
        query.append(("previous", True))
    try:
        raw = cluster.get_raw(
            api_path("pods", namespace, name, subresource="log"),
            query,
            accept="text/plain, */*",
            timeout=ctx.timeout,
            not_found=pod_not_found(name, namespace),
        )
    except ApiFailure as exc:
        raise ToolError(_log_failure(exc, namespace, name, container, previous)) from None
    text = redact_text(raw.decode("utf-8", errors="replace"))
    del raw
    lines = text.splitlines()
    read = len(lines)
    if pattern is not None:
        lines = [line for line in lines if pattern.search(line)]
    which = "previous (crashed) instance of container" if previous else "container"
    head = f"Logs of pod {namespace}/{name}, {which} {container}"
    if why:
        head += f" ({why}; others: {', '.join(n for n in all_names if n != container)})"
    if pattern is not None:
        head += (
            f": {plural(len(lines), 'line')} matching {grep!r} among the last "
            f"{plural(read, 'line')} read"
        )
    else:
        head += f": last {plural(read, 'line')}" + (" (all there is)" if read < tail else "")
    heads = [head + ":"]
    if not lines:
        body = ["(no matching lines)"] if pattern is not None else ["(the log is empty)"]
        return ToolResult(text="\n".join(heads + body), data=[], truncated=False)
    kept, dropped, cut = fit_tail(lines, ctx.budget, heads, LOG_LINE_LIMIT)
    notes = []
    if dropped:
        notes.append(
            f"({dropped} earlier lines left out to fit; use grep or a smaller tail_lines to see "
            "specific parts.)"
        )
    if cut:
        notes.append(f"({cut} long lines were cut to {LOG_LINE_LIMIT} characters.)")
    first = len(lines) - len(kept) + 1
    data = [{"line": first + i, "text": line} for i, line in enumerate(kept)]
    return ToolResult(
        text="\n".join(heads + kept + notes), data=data, truncated=bool(dropped or cut)
    )


def _log_failure(exc: ApiFailure, namespace: str, name: str, container: str, previous: bool) -> str:
    message = exc.api_message
    if exc.status == 400 and "previous terminated container" in message:
        return (
            f"container {container} of pod {namespace}/{name} has not restarted, so there is "
            "no previous instance to read; call get_pod_logs without previous."
        )
    if exc.status == 400 and "waiting to start" in message:
        return (
            f"container {container} of pod {namespace}/{name} has not started ({message}), so "
            "it has no logs yet. Use get_pod to see why it is waiting."
        )
    if exc.status == 400 and "a container name must be specified" in message:
        return f"{message}. Pass container."
    if exc.status == 400 and "unable to retrieve container logs" in message:
        return (
            f"the logs of pod {namespace}/{name} are gone ({message}); the pod was probably "
            "evicted or its node lost. Use get_pod and list_events instead."
        )
    return str(exc)


# ---------------------------------------------------------------------- delete_pod

DELETE_PARAMS = {
    "name": {"type": "string", "description": "Exact pod name (from list_pods)."},
    "namespace": NAMESPACE,
}


def delete_pod(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Delete one pod (its controller, if any, creates a replacement)."""
    check_args(args, DELETE_PARAMS, "delete_pod")
    name = check_name(req_str(args, "name", "delete_pod"), "pod name")
    namespace = check_name(opt_str(args, "namespace") or ctx.default_namespace(), "namespace")
    raw = ctx.cluster.delete(
        api_path("pods", namespace, name),
        timeout=ctx.timeout,
        not_found=pod_not_found(name, namespace) + " It may already be deleted.",
    )
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
            description=(
                "List pods with READY, STATUS (CrashLoopBackOff, ImagePullBackOff, Pending...), "
                "restarts, age and node. Big results show counts per namespace and phase, every "
                "unhealthy pod with its reason, and a sample of the healthy ones."
            ),
            parameters=schema(LIST_PODS_PARAMS),
            func=list_pods,
        ),
        ToolSpec(
            name="get_pod",
            description=(
                "Describe one pod: phase, conditions, each container's state with reason and "
                "message, restarts, last termination (exit code, OOMKilled), node, resources, "
                "env (credentials masked) and its recent events."
            ),
            parameters=schema(GET_POD_PARAMS, ["name"]),
            func=get_pod,
        ),
        ToolSpec(
            name="get_pod_logs",
            description=(
                "Read the end of a pod container's log (credentials masked). Use previous=true "
                "for the instance that crashed (CrashLoopBackOff), grep to keep matching lines."
            ),
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
