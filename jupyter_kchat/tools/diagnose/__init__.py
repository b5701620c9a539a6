"""diagnose_cluster: one call that finds everything unhealthy and shows the cause.

In the spirit of k8sgpt's analyzers, one module per kind family: ``pods`` (pods grouped by the
workload that runs them, workloads short of replicas), ``nodes``, ``jobs`` (failed Jobs, CronJobs
whose last run failed, suspended or never scheduled), ``storage`` (Pending and Lost claims),
``network`` (Services without endpoints, Ingresses to missing Services), ``scaling`` (HPAs,
PDBs), ``custom`` (custom resources with Ready/Available False) and ``events`` (warnings nothing
else explains). ``observe`` reads everything at once; the evidence is quoted from where the
cause is: the object's Warning events (``evidence``) and, for crashes and failed Jobs, the last
error lines of the crashed container's log, read for the top findings only.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..base import ToolContext, ToolResult, ToolSpec
from ..common import Scope, check_args, check_name, missing_namespace, opt_str, schema
from ..kube import gc_paused
from ..logs import crash_lines
from ..shape import Finding, counts, fit_findings, plural
from ..workloads import KINDS
from .custom import custom_issues
from .events import events_finding
from .evidence import EventIndex
from .issue import Issue
from .jobs import job_issues
from .network import ingress_issues, service_issues
from .nodes import node_issue
from .observe import READERS, Observed, observe_cluster
from .pods import category_of, pod_issues
from .scaling import autoscaler_issues, budget_issues
from .storage import claim_issues

MAX_LOG_READS = 8
"""Container logs read per diagnosis (the top crash findings' first pods)."""
LOG_LINES = (3, 2)
"""Error lines quoted from a finding's first pod, then from a further pod that failed otherwise."""
DIGITS = re.compile(r"[0-9]+")

PARAMS = {
    "namespace": {
        "type": "string",
        "description": "Only this namespace. Default: all.",
    }
}


def _issues(seen: Observed) -> list[Issue]:
    """Every analyzer's findings, worst first (severity, then pods affected)."""
    events = EventIndex(seen.events)
    bad_nodes = {n.name: n for n in seen.nodes if n.problems}
    jobs, job_pods = job_issues(seen.items("jobs"), seen.items("cronjobs"), seen.pods, events)
    pods, on_bad_node = pod_issues(seen.pods, seen.workloads, bad_nodes, events, job_pods)
    issues = [node_issue(n, on_bad_node.get(n.name, []), events) for n in bad_nodes.values()]
    issues += pods + jobs
    issues += claim_issues(
        seen.items("persistentvolumeclaims"),
        seen.lists.get("storageclasses"),
        seen.pods,
        events,
    )
    if seen.readable("endpoints"):
        by_pod = {key: issue for issue in issues for key in issue.subjects}
        issues += service_issues(
            seen.items("services"), seen.items("endpoints"), events, by_pod, _selectors(seen)
        )
    issues += ingress_issues(
        seen.items("ingresses"),
        seen.lists.get("services"),
        seen.lists.get("ingressclasses"),
        events,
    )
    issues += autoscaler_issues(seen.items("horizontalpodautoscalers"), events)
    issues += budget_issues(seen.items("poddisruptionbudgets"), events)
    issues += custom_issues(seen.custom, events)
    issues.sort(key=Issue.rank)
    return issues


def _selectors(seen: Observed) -> list[tuple[str, dict[str, str], str]]:
    """(namespace, matchLabels, ns/name) of every workload: the pods a Service selects."""
    return [
        (item.metadata.namespace, labels, f"{item.metadata.namespace}/{item.metadata.name}")
        for resource in KINDS
        for item in seen.items(resource)
        if (labels := item.spec.selector.match_labels)
    ]


def _quote_logs(ctx: ToolContext, issues: list[Issue]) -> None:
    """Read crashed containers' logs in parallel and quote their last error lines.

    The leading finding of each category gets one first (the budget fitter shows those in
    full), then the findings in rank order; a further pod is quoted only if it failed otherwise.
    """
    leaders: dict[str, Issue] = {}
    for issue in issues:
        if issue.logs:
            leaders.setdefault(issue.category, issue)
    first = [(issue, issue.logs[0]) for issue in leaders.values()]
    taken = {id(issue) for issue in leaders.values()}
    rest = [(i, r) for i in issues for n, r in enumerate(i.logs) if n or id(i) not in taken]
    wanted = (first + rest)[:MAX_LOG_READS]
    if not wanted:
        return
    cluster, timeout = ctx.cluster, ctx.timeout
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="kchat-logs") as pool:
        jobs = [
            (
                issue,
                request,
                pool.submit(
                    crash_lines,
                    cluster,
                    request.namespace,
                    request.pod,
                    request.container,
                    node=request.node,
                    previous=request.previous,
                    keep=LOG_LINES[0],
                    timeout=timeout,
                ),
            )
            for issue, request in wanted
        ]
        last_line: dict[int, str] = {}
        for issue, request, job in jobs:
            lines = job.result()
            if not lines:
                continue
            said = last_line.get(id(issue))
            if said is None:
                last_line[id(issue)] = _gist(lines[-1])
                issue.add_log(request.pod, request.previous, lines[-LOG_LINES[0] :])
            elif _gist(lines[-1]) != said:
                issue.add_log(request.pod, request.previous, lines[-LOG_LINES[1] :])


def _gist(line: str) -> str:
    """A log line without timestamps and numbers: two pods failing alike say the same gist."""
    return DIGITS.sub("", line)


def _checked(seen: Observed) -> str:
    parts = [plural(len(seen.pods), "pod")]
    if seen.readable("nodes"):
        parts.append(plural(len(seen.nodes), "node"))
    parts.append(plural(len(seen.workloads), "workload"))
    for resource, word in (
        ("jobs", "job"),
        ("cronjobs", "cronjob"),
        ("persistentvolumeclaims", "PVC"),
        ("services", "service"),
        ("ingresses", "ingress"),
        ("horizontalpodautoscalers", "HPA"),
        ("poddisruptionbudgets", "PDB"),
    ):
        if seen.readable(resource):
            parts.append(
                plural(
                    len(seen.items(resource)), word, word + ("es" if word.endswith("s") else "s")
                )
            )
    if seen.custom:
        total = sum(len(objects) for _, objects in seen.custom)
        kinds = ", ".join(kind.kind for kind, _ in seen.custom)
        parts.append(f"{plural(total, 'custom resource')} ({kinds})")
    parts.append(plural(len(seen.events), "distinct warning event"))
    return "Checked " + ", ".join(parts) + "."


def _scope_text(seen: Observed, namespace: str | None) -> str:
    if namespace:
        return f"namespace {namespace} (and all nodes)"
    if seen.fell_back and seen.namespaces:
        shown = ", ".join(seen.namespaces or []) or "no namespace"
        return f"the namespaces this user can read ({shown})"
    return "the whole cluster"


@gc_paused
def diagnose_cluster(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Everything unhealthy in the cluster (or one namespace), worst first, with the cause."""
    check_args(args, PARAMS, "diagnose_cluster")
    namespace = opt_str(args, "namespace")
    if namespace:
        check_name(namespace, "namespace")
    seen = observe_cluster(ctx, namespace)
    issues = _issues(seen)
    _quote_logs(ctx, issues)
    findings = [issue.finding() for issue in issues]
    explained = {subject for issue in issues for subject in issue.subjects}
    oom_nodes = {v.node for v in seen.pods if v.problem and category_of(v)[0] == "Out of memory"}
    leftover = events_finding(EventIndex(seen.events).events, explained, oom_nodes)
    if leftover is not None:
        findings.append(leftover)
    summary = f"Diagnosis of {_scope_text(seen, namespace)}: {plural(len(issues), 'problem')} found"
    if issues:
        summary += f" ({counts(Counter(i.category for i in issues))})"
    head = [summary + ".", _checked(seen), *seen.notes]
    missing = (
        missing_namespace(ctx, Scope(namespace))
        if namespace and not seen.pods and not seen.workloads
        else ""
    )
    if missing:
        head.append(missing.strip())
    elif not findings:
        head.append(
            "Everything looks healthy: all nodes Ready, all pods running and ready, all "
            "workloads at their desired replicas, no failed Jobs, pending claims or broken routes."
        )
    rows = [
        {
            "category": f.category,
            "object": f.key,
            "summary": f.full[0].split(": ", 1)[-1],
            "evidence": " | ".join(line.strip() for line in f.full[1:-1]),
            "next": f.full[-1].strip().removeprefix("Next: "),
            "reason": f.category,
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
                "Everything unhealthy, with cause and evidence; start here for 'what is wrong?'."
            ),
            parameters=schema(PARAMS),
            func=diagnose_cluster,
        )
    ]
