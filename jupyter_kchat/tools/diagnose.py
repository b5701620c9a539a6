"""diagnose_cluster: one call that finds everything unhealthy, with evidence and a next step.

In the spirit of k8sgpt's analyzers: nodes (NotReady, pressure, cordoned), pods grouped by the
workload that runs them (crash loops with the last exit, OOM kills with the limit, image pulls
with the image, unschedulable with the scheduler's message, evictions, failing readiness),
workloads short of replicas, and recent warning events nothing else explains.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import Scope, check_args, check_name, opt_str, schema
from .events import EventGroup, read_events
from .kube import gc_paused
from .nodes import NodeView, list_node_views
from .health import PodView, list_pod_views, owner_workload, problem_detail
from .shape import Finding, clip, counts, fit_findings, plural
from .workloads import KINDS, WorkloadView, list_workload_views

T = TypeVar("T")

EVENTS = "Warning events"

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


@dataclass
class _Problem:
    """Unhealthy pods of one workload, with the evidence for the finding."""

    namespace: str
    kind: str
    name: str
    category: str
    severity: int
    pods: list[PodView] = field(default_factory=list)
    workload: WorkloadView | None = None


def _category(view: PodView) -> tuple[str, int]:
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


def _try(func: Callable[[], T], what: str, notes: list[str]) -> T | None:
    try:
        return func()
    except ToolError as exc:
        notes.append(f"Could not read {what}: {exc}")
        return None


def _pod_list(pods: list[PodView], limit: int = 6) -> str:
    shown = []
    for view in pods[:limit]:
        extra = f" ({view.restarts} restarts)" if view.restarts else ""
        shown.append(f"{view.key}{extra}")
    more = f" and {len(pods) - limit} more" if len(pods) > limit else ""
    return ", ".join(shown) + more


def _memory_limit(view: PodView) -> str:
    worst = view.worst
    for container in view.pod.spec.containers:
        if worst is not None and container.name != worst.name:
            continue
        limits = (container.resources.limits if container.resources else None) or {}
        if "memory" in limits:
            return f"memory limit {limits['memory']} (container {container.name})"
    return "no memory limit set"


def _pod_finding(problem: _Problem) -> Finding:
    pods = problem.pods
    first = min(pods, key=lambda p: p.severity)
    ns, name = problem.namespace, problem.name
    tally = Counter(p.problem for p in pods)
    reasons = next(iter(tally)) if len(tally) == 1 else f"({counts(tally)})"
    if problem.workload is not None:
        w = problem.workload
        header = f"{problem.category}: {w.kind} {ns}/{name} has {w.ready}/{w.desired} ready"
    elif problem.kind == "Pod":
        header = f"{problem.category}: bare pod {ns}/{name}"
    else:
        header = f"{problem.category}: {problem.kind} {ns}/{name}"
    evidence = f"   {plural(len(pods), 'pod')} {reasons}: {_pod_list(pods)}"
    detail = problem_detail(first, 400)
    lines = [header, evidence]
    if detail:
        lines.append(f"   Evidence: {detail}")
    if problem.category == "Out of memory":
        lines.append(
            f"   Evidence: {_memory_limit(first)}; the kernel's OOM killer ends the container "
            "when it reaches that limit (exit code 137)"
        )
    hint = _hint(problem, first)
    lines.append(f"   Next: {hint}")
    brief = (
        detail.split(": ", 1)[1] if detail.startswith("container ") and ": " in detail else detail
    )
    short = (
        f"{problem.category}: {ns}/{name} ({problem.kind}) {plural(len(pods), 'pod')} "
        f"{reasons}; {clip(brief, 110)}"
    )
    return Finding(problem.category, f"{ns}/{name}", lines, short)


def _hint(problem: _Problem, pod: PodView) -> str:
    ns, pname = pod.namespace, pod.name
    category = problem.category
    if category in ("Crash loop", "Restarting", "Init container"):
        return (
            f"get_pod_logs name={pname} namespace={ns} previous=true for the crash output "
            f"(kubectl logs -n {ns} {pname} --previous); get_pod for exit details."
        )
    if category == "Out of memory":
        return (
            f"raise the memory limit or lower the workload's memory use; get_pod_logs name={pname} "
            f"namespace={ns} previous=true shows what it did before being killed."
        )
    if category == "Image pull":
        return (
            f"check that the image and tag exist and the pull secret works; list_events "
            f"namespace={ns} involved_object={pname} shows the registry's error "
            f"(kubectl describe pod -n {ns} {pname})."
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


def _node_finding(node: NodeView, lost: list[PodView]) -> tuple[Finding, int]:
    not_ready = node.status.startswith("NotReady") or node.status.startswith("Unknown")
    category = (
        "Node not ready"
        if not_ready
        else (
            "Node pressure"
            if "Pressure" in node.status or "Network" in node.status
            else "Node cordoned"
        )
    )
    lines = [
        f"{category}: node {node.name} is {node.status}",
        f"   Evidence: {'; '.join(node.problems)}",
    ]
    if lost:
        lines.append(f"   Impact: {plural(len(lost), 'pod')} on it not ready: {_pod_list(lost, 8)}")
    if not_ready:
        hint = (
            f"check the machine and its kubelet (cloud console, kubectl describe node "
            f"{node.name}); its pods are evicted after ~5 minutes and recreated elsewhere if a "
            "controller owns them."
        )
    elif category == "Node pressure":
        hint = (
            f"list_pods field_selector='spec.nodeName={node.name}' all_namespaces=true shows "
            "what runs there; move or shrink workloads, or add capacity (the kubelet evicts pods "
            "under pressure)."
        )
    else:
        hint = f"uncordon it when maintenance is done (kubectl uncordon {node.name})."
    lines.append(f"   Next: {hint}")
    short = f"{category}: {node.name} {node.status}; {clip('; '.join(node.problems), 160)}"
    return Finding(category, node.name, lines, short), (0 if not_ready else 4)


def _workload_finding(w: WorkloadView) -> Finding:
    lines = [f"Replicas short: {w.kind} {w.namespace}/{w.name} has {w.ready}/{w.desired} ready"]
    detail = w.detail or "; ".join(w.conditions) or w.reason
    if detail:
        lines.append(f"   Evidence: {clip(detail, 400)}")
    lines.append(
        f"   Next: list_pods namespace={w.namespace} and list_events namespace={w.namespace} "
        f"involved_object={w.name} (kubectl rollout status -n {w.namespace} "
        f"{w.kind.lower()}/{w.name})."
    )
    short = (
        f"Replicas short: {w.namespace}/{w.name} ({w.kind}) {w.ready}/{w.desired}; "
        f"{clip(detail, 160)}"
    )
    return Finding("Replicas short", f"{w.namespace}/{w.name}", lines, short)


def _events_finding(
    events: list[EventGroup], explained: set[str], oom_nodes: set[str]
) -> Finding | None:
    warnings = [e for e in events if e.type == "Warning"]
    if not warnings:
        return None
    loose = [
        e
        for e in warnings
        if f"{e.namespace}/{e.name}" not in explained
        and e.name not in explained
        and not (e.kind == "Node" and e.reason == "OOMKilling" and e.name in oom_nodes)
    ]
    total = sum(e.count for e in warnings)
    lines = [
        f"Warning events: {plural(len(warnings), 'distinct warning')} ({total} occurrences); "
        f"by reason: {counts(Counter(e.reason for e in warnings), 10)}"
    ]
    if loose:
        lines.append(f"   Not explained by the findings above ({len(loose)}), newest first:")
        for e in loose[:8]:
            where = e.object if e.kind in ("Node", "Namespace") else f"{e.namespace}/{e.object}"
            lines.append(f"   {where} {e.reason} x{e.count}: {clip(e.message, 200)}")
    lines.append(
        "   Next: list_events warnings_only=true (with namespace or involved_object) for all."
    )
    short = f"Warning events: {len(warnings)} distinct, {len(loose)} not explained above"
    return Finding(EVENTS, "events", lines, short)


PARAMS = {
    "namespace": {
        "type": "string",
        "description": "Only this namespace (nodes are always checked). Default: all.",
    }
}


@dataclass
class _Observed:
    """What diagnose read; a source that could not be read is empty, with a note saying why."""

    pods: list[PodView]
    nodes: list[NodeView]
    workloads: list[WorkloadView]
    events: list[EventGroup]
    notes: list[str]


def _observe(ctx: ToolContext, where: Scope) -> _Observed:
    """Read pods, nodes and warning events concurrently, then the workloads (using the pods)."""
    cluster, timeout = ctx.cluster, ctx.timeout
    notes: list[str] = []
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="kchat-diagnose") as pool:
        pods_job = pool.submit(
            _try, lambda: list_pod_views(cluster, where, timeout=timeout), "pods", notes
        )
        nodes_job = pool.submit(
            _try, lambda: list_node_views(cluster, timeout, with_pods=False), "nodes", notes
        )
        events_job = pool.submit(
            _try,
            lambda: read_events(cluster, where, warnings_only=True, timeout=timeout),
            "events",
            notes,
        )
        pods = pods_job.result()
        workloads = _try(
            lambda: list_workload_views(
                cluster, where, list(KINDS), label_selector=None, timeout=timeout, pods=pods or []
            ),
            "workloads",
            notes,
        )
        nodes = nodes_job.result()
        events = events_job.result()
    if pods is None and nodes is None and workloads is None:
        raise ToolError("diagnose_cluster could not read anything. " + " ".join(notes))
    return _Observed(pods or [], nodes or [], workloads or [], events or [], notes)


def _findings(seen: _Observed) -> list[Finding]:
    """Every finding, worst first: nodes, then pods grouped by workload, then short workloads
    nothing else explains, then warning events nothing else explains."""
    bad_nodes = {n.name: n for n in seen.nodes if n.problems}
    ranked: list[tuple[int, int, Finding]] = []
    explained: set[str] = set()
    on_bad_node: dict[str, list[PodView]] = {}
    groups: dict[tuple[str, str, str, str], _Problem] = {}
    for view in seen.pods:
        if not view.problem:
            continue
        explained.add(view.key)
        if view.problem == "NotReady" and view.node in bad_nodes:
            on_bad_node.setdefault(view.node, []).append(view)
            continue
        category, severity = _category(view)
        kind, name = owner_workload(view.pod)
        problem = groups.get((view.namespace, kind, name, category))
        if problem is None:
            problem = _Problem(view.namespace, kind, name, category, severity)
            groups[(view.namespace, kind, name, category)] = problem
        problem.pods.append(view)
    for node in bad_nodes.values():
        finding, severity = _node_finding(node, on_bad_node.get(node.name, []))
        ranked.append((severity, len(ranked), finding))
        explained.add(node.name)
    by_workload = {(w.namespace, w.kind, w.name): w for w in seen.workloads}
    covered: set[tuple[str, str, str]] = set()
    for problem in groups.values():
        workload = by_workload.get((problem.namespace, problem.kind, problem.name))
        if workload is not None and workload.short:
            problem.workload = workload
            covered.add((workload.namespace, workload.kind, workload.name))
        explained.add(f"{problem.namespace}/{problem.name}")
        ranked.append((problem.severity, len(ranked), _pod_finding(problem)))
    for w in seen.workloads:
        if not w.short or (w.namespace, w.kind, w.name) in covered:
            continue
        bad_pods = [p for p in w.pods if p.problem]
        if bad_pods and all(p.key in explained for p in bad_pods):
            continue
        ranked.append((5, len(ranked), _workload_finding(w)))
        explained.add(f"{w.namespace}/{w.name}")
    ranked.sort(key=lambda item: (item[0], item[1]))
    findings = [f for _, _, f in ranked]
    oom_nodes = {
        p.node for g in groups.values() if g.category == "Out of memory" for p in g.pods if p.node
    }
    events = _events_finding(seen.events, explained, oom_nodes)
    if events is not None:
        findings.append(events)
    return findings


@gc_paused
def diagnose_cluster(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Everything unhealthy in the cluster (or one namespace), worst first, with next steps."""
    check_args(args, PARAMS, "diagnose_cluster")
    namespace = opt_str(args, "namespace")
    where = Scope(check_name(namespace, "namespace") if namespace else None)
    seen = _observe(ctx, where)
    findings = _findings(seen)
    problems = [f for f in findings if f.category != EVENTS]
    scope_text = (
        f"namespace {where.namespace} (and all nodes)" if where.namespace else "the whole cluster"
    )
    summary = f"Diagnosis of {scope_text}: {plural(len(problems), 'problem')} found"
    if problems:
        summary += f" ({counts(Counter(f.category for f in problems))})"
    head = [
        summary + ".",
        f"Checked {plural(len(seen.pods), 'pod')}, {plural(len(seen.nodes), 'node')}, "
        f"{plural(len(seen.workloads), 'workload')}, "
        f"{plural(len(seen.events), 'distinct warning event')}.",
        *seen.notes,
    ]
    if not findings:
        head.append(
            "Everything looks healthy: all nodes Ready, all pods running and ready, all "
            "workloads at their desired replicas."
        )
    rows = [
        {
            "category": f.category,
            "object": f.key,
            "summary": f.full[0].split(": ", 1)[-1],
            "evidence": " | ".join(line.strip() for line in f.full[1:-1]),
            "next": f.full[-1].strip().removeprefix("Next: "),
        }
        for f in findings
    ]
    numbered = [
        Finding(f.category, f.key, [f"{i}. {f.full[0]}", *f.full[1:]], f"{i}. {f.short}")
        for i, f in enumerate(findings, 1)
    ]
    narrow = (
        "Narrow down: diagnose_cluster namespace=<ns>, or follow a finding's Next step "
        "(get_pod, get_pod_logs previous=true, list_events)."
    )
    text, truncated = fit_findings(head, numbered, ctx.budget, narrow)
    return ToolResult(text=text, data=rows, truncated=truncated)


def diagnose_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="diagnose_cluster",
            description=(
                "Find everything unhealthy in one call: NotReady nodes and pressure, crash loops "
                "with the last exit code, OOM kills, image pull errors with the image, "
                "unschedulable pods with the scheduler's message, evictions, workloads short of "
                "replicas, warning events. Each finding has evidence and a next step. Start here "
                "for 'what is wrong?'."
            ),
            parameters=schema(PARAMS),
            func=diagnose_cluster,
        )
    ]
