"""Pod health rules: kubectl's STATUS, what needs attention and why, and which workload runs a
pod. Shared by list_pods, get_pod, list_deployments and diagnose_cluster; no tool lives here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .common import Scope
from .kube import KubeCluster
from .models import ContainerStatus, Pod, StateTerminated
from .redact import redact_text
from .shape import clip, human_age

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
