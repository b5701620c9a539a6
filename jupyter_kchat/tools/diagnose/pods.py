"""Pods and their controllers: unhealthy pods grouped by the workload that runs them and the
cause (one Deployment with 30 crashing pods is one finding), and workloads short of replicas
that no pod explains. Evidence: exit codes, the image and the registry's answer, the
scheduler's message, the memory limit, and (added later) the crashed container's last lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..health import PodView, owner_workload, problem_detail
from ..nodes import NodeView
from ..shape import clip, counts, plural
from ..workloads import WorkloadView
from .evidence import EventIndex
from .issue import LOG_PODS, Issue, log_request, pod_names

CATEGORY = {
    "CrashLoopBackOff": ("Crash loop", 1),
    "Error": ("Crash loop", 1),
    "RunContainerError": ("Crash loop", 1),
    "ContainerCannotRun": ("Crash loop", 1),
    "OOMKilled": ("Out of memory", 1),
    "last OOMKilled": ("Out of memory", 1),
    "CreateContainerConfigError": ("Bad configuration", 1),
    "CreateContainerError": ("Bad configuration", 1),
    "ImagePullBackOff": ("Image pull", 2),
    "ErrImagePull": ("Image pull", 2),
    "InvalidImageName": ("Image pull", 2),
    "Unschedulable": ("Unschedulable", 3),
    "Pending": ("Pending", 3),
    "ContainerCreating": ("Stuck creating", 3),
    "Evicted": ("Evicted", 4),
    "NotReady": ("Not ready", 5),
}
CRASHES = ("Crash loop", "Restarting", "Init container")


@dataclass
class _Group:
    """Unhealthy pods of one workload with one cause."""

    namespace: str
    kind: str
    name: str
    category: str
    severity: int
    pods: list[PodView] = field(default_factory=list)
    workload: WorkloadView | None = None


def category_of(view: PodView) -> tuple[str, int]:
    problem = view.problem
    worst = view.worst
    last = worst.last_state.terminated if worst is not None else None
    if problem == "CrashLoopBackOff" and last is not None and last.reason == "OOMKilled":
        return CATEGORY["OOMKilled"]
    if problem in CATEGORY:
        return CATEGORY[problem]
    if problem.startswith("Init:"):
        return ("Init container", 1 if "Error" in problem or "CrashLoop" in problem else 3)
    if problem.startswith("last "):
        return ("Restarting", 5)
    return ("Unhealthy", 6)


def _memory_limit(view: PodView) -> str:
    worst = view.worst
    for container in view.pod.spec.containers:
        if worst is not None and container.name != worst.name:
            continue
        limits = (container.resources.limits if container.resources else None) or {}
        if "memory" in limits:
            return f"memory limit {limits['memory']} (container {container.name})"
    return "no memory limit set"


def registry_answer(message: str) -> str:
    """The registry's own words at the end of containerd's pull error, after the references it
    repeats ("pull access denied, repository does not exist or may require authorization...")."""
    return message.rsplit('": ', 1)[-1]


def _hint(group: _Group, pod: PodView) -> str:
    ns, pname = pod.namespace, pod.name
    category = group.category
    if category in CRASHES:
        return (
            f"fix what the log above says; get_pod_logs name={pname} namespace={ns} "
            f"previous=true for more of the crash output (kubectl logs -n {ns} {pname} "
            "--previous); get_pod for exit details."
        )
    if category == "Out of memory":
        return (
            f"raise the memory limit or lower the workload's memory use; get_pod_logs name={pname} "
            f"namespace={ns} previous=true shows what it did before being killed."
        )
    if category == "Image pull":
        return (
            "fix the image reference or the registry credentials (imagePullSecrets) as the "
            f"registry's answer above says (kubectl describe pod -n {ns} {pname})."
        )
    if category in ("Unschedulable", "Pending"):
        return (
            "lower the pod's CPU/memory requests, fix node selectors/tolerations, or add nodes; "
            "list_nodes shows allocatable capacity, taints and pressure."
        )
    if category == "Bad configuration":
        return (
            f"get_pod name={pname} namespace={ns} shows the missing secret or configmap; "
            f"list_secrets namespace={ns} checks that it exists."
        )
    if category == "Evicted":
        return (
            f"the node ran short of a resource; list_nodes for pressure. Evicted pods stay as "
            f"Failed records: delete them (kubectl delete pod -n {ns} {pname})."
        )
    if category == "Not ready":
        return f"get_pod name={pname} namespace={ns} for the readiness probe and its events."
    return f"get_pod name={pname} namespace={ns} and list_events involved_object={pname}."


def _issue(group: _Group, events: EventIndex) -> Issue:
    pods = sorted(group.pods, key=lambda p: (p.severity, -p.restarts, p.name))
    first = pods[0]
    ns, name = group.namespace, group.name
    tally = Counter(p.problem for p in pods)
    reasons = next(iter(tally)) if len(tally) == 1 else f"({counts(tally)})"
    if group.workload is not None:
        w = group.workload
        header = f"{group.category}: {w.kind} {ns}/{name} has {w.ready}/{w.desired} ready"
    elif group.kind == "Pod":
        header = f"{group.category}: bare pod {ns}/{name}"
    else:
        header = f"{group.category}: {group.kind} {ns}/{name}"
    evidence = [f"   {plural(len(pods), 'pod')} {reasons}: {pod_names(pods)}"]
    detail = problem_detail(first, 400)
    if detail:
        evidence.append(f"   Evidence: {detail}")
    if group.category == "Out of memory":
        evidence.append(
            f"   Evidence: {_memory_limit(first)}; the kernel's OOM killer ends the container "
            "when it reaches that limit (exit code 137)"
        )
    quoted = events.lines(ns, "Pod", first.name, known=detail)
    evidence.extend(quoted)
    brief = (
        detail.split(": ", 1)[1] if detail.startswith("container ") and ": " in detail else detail
    )
    if group.category == "Image pull" and quoted:
        brief = f"{detail}: {registry_answer(quoted[0].split('): ', 1)[-1])}"
    issue = Issue(
        category=group.category,
        severity=group.severity,
        key=f"{ns}/{name}",
        header=header,
        evidence=evidence,
        next=_hint(group, first),
        brief=f"({group.kind}) {plural(len(pods), 'pod')} {reasons}; {brief}",
        impact=len(pods),
        subjects={f"{ns}/{name}", *(p.key for p in pods)},
    )
    if group.category in CRASHES:
        for view in pods[:LOG_PODS]:
            request = log_request(view)
            if request is not None:
                issue.logs.append(request)
    return issue


def _workload_issue(w: WorkloadView, events: EventIndex) -> Issue:
    detail = w.detail or "; ".join(w.conditions) or w.reason
    evidence = [f"   Evidence: {clip(detail, 400)}"] if detail else []
    evidence.extend(events.lines(w.namespace, w.kind, w.name))
    return Issue(
        category="Replicas short",
        severity=5,
        key=f"{w.namespace}/{w.name}",
        header=f"Replicas short: {w.kind} {w.namespace}/{w.name} has {w.ready}/{w.desired} ready",
        evidence=evidence,
        next=(
            f"list_pods namespace={w.namespace} and list_events namespace={w.namespace} "
            f"involved_object={w.name} (kubectl rollout status -n {w.namespace} "
            f"{w.kind.lower()}/{w.name})."
        ),
        brief=f"({w.kind}) {w.ready}/{w.desired}; {clip(detail, 160)}",
        impact=max(1, w.desired - w.ready),
        subjects={f"{w.namespace}/{w.name}"},
    )


def pod_issues(
    pods: list[PodView],
    workloads: list[WorkloadView],
    bad_nodes: dict[str, NodeView],
    events: EventIndex,
    skip: set[tuple[str, str, str]],
) -> tuple[list[Issue], dict[str, list[PodView]]]:
    """Findings for unhealthy pods (grouped) and short workloads; plus, per bad node, its
    not-ready pods (the node's finding explains them). ``skip`` holds (namespace, kind, name)
    of owners another analyzer explains (a failed Job's pods)."""
    on_bad_node: dict[str, list[PodView]] = {}
    groups: dict[tuple[str, str, str, str], _Group] = {}
    for view in pods:
        if not view.problem:
            continue
        if view.problem == "NotReady" and view.node in bad_nodes:
            on_bad_node.setdefault(view.node, []).append(view)
            continue
        kind, name = owner_workload(view.pod)
        if (view.namespace, kind, name) in skip:
            continue
        category, severity = category_of(view)
        group = groups.get((view.namespace, kind, name, category))
        if group is None:
            group = _Group(view.namespace, kind, name, category, severity)
            groups[(view.namespace, kind, name, category)] = group
        group.pods.append(view)
    by_workload = {(w.namespace, w.kind, w.name): w for w in workloads}
    covered: set[tuple[str, str, str]] = set()
    issues: list[Issue] = []
    explained = {p.key for g in groups.values() for p in g.pods}
    for group in groups.values():
        workload = by_workload.get((group.namespace, group.kind, group.name))
        if workload is not None and workload.short:
            group.workload = workload
            covered.add((workload.namespace, workload.kind, workload.name))
        issues.append(_issue(group, events))
    for w in workloads:
        if not w.short or (w.namespace, w.kind, w.name) in covered:
            continue
        bad = [p for p in w.pods if p.problem]
        if bad and all(p.key in explained or p.node in bad_nodes for p in bad):
            continue
        issues.append(_workload_issue(w, events))
    return issues, on_bad_node
