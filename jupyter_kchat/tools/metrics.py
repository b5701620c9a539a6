"""top: CPU and memory in use, from the metrics API (metrics-server), next to requests and limits.

Like ``kubectl top``, usage comes from ``metrics.k8s.io`` (PodMetrics / NodeMetrics). A cluster
that does not serve it (no metrics-server: absent from discovery, or 404/503) gets a plain
statement and, for pods, what is known without it: each pod's requests and limits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from kubernetes.utils.quantity import parse_quantity

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import ALL_NAMESPACES, NAMESPACE, check_args, opt_str, schema, scope
from .discovery import discovery, match
from .kube import ApiFailure, api_path, gc_paused
from .models import Meta, Node, Pod
from .shape import plural, table

GROUP = "metrics.k8s.io"
NEAR_LIMIT = 90.0
"""Percent of a limit from which a pod is called out (memory: OOM kill; CPU: throttling)."""
KINDS = ("pods", "nodes")
SORTS = ("memory", "cpu")

PARAMS = {
    "kind": {
        "type": "string",
        "enum": list(KINDS),
        "default": "pods",
    },
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "sort_by": {
        "type": "string",
        "enum": list(SORTS),
        "default": "memory",
    },
}


class _ContainerUsage(msgspec.Struct, gc=False):
    name: str = ""
    usage: dict[str, str] = {}


class _PodMetrics(msgspec.Struct, gc=False):
    metadata: Meta = msgspec.field(default_factory=Meta)
    containers: list[_ContainerUsage] = []


class _NodeMetrics(msgspec.Struct, gc=False):
    metadata: Meta = msgspec.field(default_factory=Meta)
    usage: dict[str, str] = {}


def quantity(text: str | None) -> Decimal:
    """A Kubernetes quantity (``250m``, ``123456Ki``, ``1.5``) as a number (0 when unreadable)."""
    if not text:
        return Decimal(0)
    try:
        return Decimal(parse_quantity(text))
    except ValueError:
        return Decimal(0)


def cpu_text(cores: Decimal | None) -> str:
    return "" if cores is None else f"{int(cores * 1000)}m"


def memory_text(size: Decimal | None) -> str:
    return "" if size is None else f"{int(size / (1 << 20))}Mi"


def percent(part: Decimal, whole: Decimal | None) -> float | None:
    return None if not whole else float(part * 100 / whole)


def _metrics_path(ctx: ToolContext, resource: str, namespace: str | None) -> str | None:
    """The metrics list path when the cluster serves the metrics API, else None."""
    found = discovery(ctx.cluster)
    if not found.serves_group(GROUP, ctx.timeout):
        found.refresh(ctx.timeout)
    kind = match(found.kinds(ctx.timeout), f"{resource}.{GROUP}")
    return kind.path(namespace) if kind is not None else None


def _read_metrics(ctx: ToolContext, path: str | None, item: Any) -> list[Any] | None:
    """Every metrics item, or None when the metrics API does not answer (not installed/down)."""
    if path is None:
        return None
    try:
        return ctx.cluster.list_all(path, item, timeout=ctx.timeout).items
    except ApiFailure as exc:
        if exc.status in (404, 503):
            return None
        raise


def _pod_totals(pod: Pod, which: str, resource: str) -> Decimal | None:
    """Sum over containers of a request or limit; None when some container sets none."""
    total = Decimal(0)
    for container in pod.spec.containers:
        values = getattr(container.resources, which, None) if container.resources else None
        if not values or resource not in values:
            return None
        total += quantity(values[resource])
    return total


def _fit_top(
    head: list[str], columns: list[str], rows: list[list[str]], budget: int, noun: str
) -> tuple[str, bool]:
    """The head and as many of the top rows as fit, then how many were left out."""
    lo, hi, best = 0, len(rows), 0
    while lo <= hi:
        mid = (lo + hi) // 2
        size = sum(len(line) + 1 for line in head + table(columns, rows[:mid])) + 120
        if size <= budget:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    lines = head + table(columns, rows[:best])
    if best < len(rows):
        lines.append(
            f"(Not shown: the {plural(len(rows) - best, noun)} using less; the data rows are "
            "complete. Narrow down with namespace.)"
        )
    return "\n".join(lines), best < len(rows)


@gc_paused
def top(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """CPU and memory in use by pods or nodes, biggest first, against requests and limits."""
    check_args(args, PARAMS, "top")
    kind = opt_str(args, "kind") or "pods"
    sort_by = opt_str(args, "sort_by") or "memory"
    if kind not in KINDS:
        raise ToolError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    if sort_by not in SORTS:
        raise ToolError(f"sort_by must be one of {', '.join(SORTS)}, not {sort_by!r}.")
    if kind == "nodes":
        return _top_nodes(ctx, sort_by)
    where = scope(ctx, args)
    metrics = _read_metrics(ctx, _metrics_path(ctx, "pods", where.namespace), _PodMetrics)
    pods = ctx.cluster.list_all(where.path("pods"), Pod, timeout=ctx.timeout).items
    if metrics is None:
        return _requests_only(ctx, where.describe(), pods, sort_by, where.everywhere)
    usage = {
        (m.metadata.namespace, m.metadata.name): (
            sum((quantity(c.usage.get("cpu")) for c in m.containers), Decimal(0)),
            sum((quantity(c.usage.get("memory")) for c in m.containers), Decimal(0)),
        )
        for m in metrics
    }
    rows: list[dict[str, Any]] = []
    for pod in pods:
        key = (pod.metadata.namespace, pod.metadata.name)
        if key not in usage:
            continue
        cpu, memory = usage[key]
        cpu_limit = _pod_totals(pod, "limits", "cpu")
        memory_limit = _pod_totals(pod, "limits", "memory")
        rows.append(
            {
                "namespace": key[0],
                "name": key[1],
                "cpu": cpu_text(cpu),
                "cpu_request": cpu_text(_pod_totals(pod, "requests", "cpu")),
                "cpu_limit": cpu_text(cpu_limit),
                "cpu_of_limit": percent(cpu, cpu_limit),
                "memory": memory_text(memory),
                "memory_request": memory_text(_pod_totals(pod, "requests", "memory")),
                "memory_limit": memory_text(memory_limit),
                "memory_of_limit": percent(memory, memory_limit),
                "_cpu": cpu,
                "_memory": memory,
            }
        )
    if not rows:
        return ToolResult(text=f"No pod metrics in {where.describe()} (no running pods?).", data=[])
    rows.sort(key=lambda r: (-r[f"_{sort_by}"], r["namespace"], r["name"]))
    near = [r for r in rows if _near_limit(r)]
    for r in rows:
        r["reason"] = _near_limit(r)
    head = [
        (
            f"CPU and memory of {plural(len(rows), 'pod')} in {where.describe()} (metrics.k8s.io), "
            f"biggest {sort_by} first: {len(near)} at {NEAR_LIMIT:g}% or more of a limit."
        )
    ]
    columns = (["NAMESPACE"] if where.everywhere else []) + [
        "NAME",
        "CPU",
        "CPU REQ/LIM",
        "MEMORY",
        "MEM REQ/LIM",
        "MEM%LIMIT",
        "REASON",
    ]

    def cells(r: dict[str, Any]) -> list[str]:
        share = r["memory_of_limit"]
        return ([r["namespace"]] if where.everywhere else []) + [
            r["name"],
            r["cpu"],
            f"{r['cpu_request'] or '-'}/{r['cpu_limit'] or '-'}",
            r["memory"],
            f"{r['memory_request'] or '-'}/{r['memory_limit'] or '-'}",
            "" if share is None else f"{share:.0f}%",
            r["reason"],
        ]

    text, truncated = _fit_top(head, columns, [cells(r) for r in rows], ctx.budget, "pod")
    data = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    return ToolResult(text=text, data=data, truncated=truncated)


def _near_limit(row: dict[str, Any]) -> str:
    parts = []
    for what in ("memory", "cpu"):
        share = row[f"{what}_of_limit"]
        if share is not None and share >= NEAR_LIMIT:
            parts.append(f"{what} {share:.0f}% of its limit {row[f'{what}_limit']}")
    return ", ".join(parts)


def _requests_only(
    ctx: ToolContext, where: str, pods: list[Pod], sort_by: str, everywhere: bool
) -> ToolResult:
    """No metrics API: say so, and give requests and limits per pod instead."""
    head = [
        (
            f"This cluster does not serve the metrics API ({GROUP}: metrics-server is not "
            "installed or not running), so actual CPU and memory use is unknown. What the pods in "
            f"{where} request and are limited to instead, biggest {sort_by} request first:"
        )
    ]
    rows = []
    for pod in pods:
        if pod.status.phase not in ("Running", "Pending"):
            continue
        rows.append(
            {
                "namespace": pod.metadata.namespace,
                "name": pod.metadata.name,
                "cpu_request": cpu_text(_pod_totals(pod, "requests", "cpu")),
                "cpu_limit": cpu_text(_pod_totals(pod, "limits", "cpu")),
                "memory_request": memory_text(_pod_totals(pod, "requests", "memory")),
                "memory_limit": memory_text(_pod_totals(pod, "limits", "memory")),
                "_key": _pod_totals(pod, "requests", sort_by) or Decimal(0),
            }
        )
    rows.sort(key=lambda r: (-r["_key"], r["namespace"], r["name"]))
    columns = (["NAMESPACE"] if everywhere else []) + [
        "NAME",
        "CPU REQUEST",
        "CPU LIMIT",
        "MEMORY REQUEST",
        "MEMORY LIMIT",
    ]
    keys = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")
    table_rows = [
        ([r["namespace"]] if everywhere else []) + [r["name"], *(r[k] or "-" for k in keys)]
        for r in rows
    ]
    text, truncated = _fit_top(head, columns, table_rows, ctx.budget, "pod")
    data = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    return ToolResult(text=text, data=data, truncated=truncated)


def _top_nodes(ctx: ToolContext, sort_by: str) -> ToolResult:
    metrics = _read_metrics(ctx, _metrics_path(ctx, "nodes", None), _NodeMetrics)
    nodes = {
        n.metadata.name: n
        for n in ctx.cluster.list_all(api_path("nodes"), Node, timeout=ctx.timeout).items
    }
    if metrics is None:
        return _node_allocations(ctx, nodes, sort_by)
    rows = []
    for m in metrics:
        node = nodes.get(m.metadata.name)
        allocatable = node.status.allocatable if node is not None else {}
        cpu, memory = quantity(m.usage.get("cpu")), quantity(m.usage.get("memory"))
        cpu_share = percent(cpu, quantity(allocatable.get("cpu")) or None)
        memory_share = percent(memory, quantity(allocatable.get("memory")) or None)
        rows.append(
            {
                "name": m.metadata.name,
                "cpu": cpu_text(cpu),
                "cpu_percent": cpu_share,
                "memory": memory_text(memory),
                "memory_percent": memory_share,
                "_cpu": cpu,
                "_memory": memory,
            }
        )
    rows.sort(key=lambda r: (-r[f"_{sort_by}"], r["name"]))
    missing = sorted(set(nodes) - {r["name"] for r in rows})
    head = [
        f"CPU and memory of {plural(len(rows), 'node')} (metrics.k8s.io), biggest {sort_by} first:"
    ]
    if missing:
        head.append(f"No metrics for {', '.join(missing)} (not ready, or its kubelet unreachable).")

    def share(value: float | None) -> str:
        return "" if value is None else f"{value:.0f}%"

    table_rows = [
        [r["name"], r["cpu"], share(r["cpu_percent"]), r["memory"], share(r["memory_percent"])]
        for r in rows
    ]
    text, truncated = _fit_top(
        head, ["NAME", "CPU", "CPU%", "MEMORY", "MEMORY%"], table_rows, ctx.budget, "node"
    )
    data = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    return ToolResult(text=text, data=data, truncated=truncated)


def _pod_sum(pod: Pod, which: str, resource: str) -> Decimal:
    """A request or limit summed over containers, unset counted as 0 (as the scheduler does)."""
    total = Decimal(0)
    for container in pod.spec.containers:
        values = getattr(container.resources, which, None) if container.resources else None
        total += quantity((values or {}).get(resource))
    return total


def _node_allocations(ctx: ToolContext, nodes: dict[str, Node], sort_by: str) -> ToolResult:
    """No metrics API: what the pods on each node request and are limited to, against its
    allocatable resources (kubectl describe node's "Allocated resources")."""
    pods = ctx.cluster.list_all(api_path("pods"), Pod, timeout=ctx.timeout).items
    totals: dict[str, dict[str, Decimal]] = {name: {} for name in nodes}
    for pod in pods:
        if pod.spec.node_name not in totals or pod.status.phase in ("Succeeded", "Failed"):
            continue
        sums = totals[pod.spec.node_name]
        for which in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                key = f"{resource}_{which}"
                sums[key] = sums.get(key, Decimal(0)) + _pod_sum(pod, which, resource)
    rows = []
    for name, node in nodes.items():
        allocatable = node.status.allocatable or {}
        sums = totals[name]
        row: dict[str, Any] = {"name": name}
        for resource, text in (("cpu", cpu_text), ("memory", memory_text)):
            whole = quantity(allocatable.get(resource)) or None
            for which in ("requests", "limits"):
                value = sums.get(f"{resource}_{which}", Decimal(0))
                row[f"{resource}_{which}"] = text(value) or "0"
                row[f"{resource}_{which}_percent"] = percent(value, whole)
            row[f"_{resource}"] = sums.get(f"{resource}_requests", Decimal(0))
        rows.append(row)
    rows.sort(key=lambda r: (-r[f"_{sort_by}"], r["name"]))
    head = [
        (
            f"This cluster does not serve the metrics API ({GROUP}: metrics-server is not "
            "installed or not running), so node CPU and memory use is unknown. What the pods on "
            f"each node request and are limited to instead, as % of its allocatable, biggest "
            f"{sort_by} request first:"
        )
    ]

    def cell(r: dict[str, Any], key: str) -> str:
        share = r[f"{key}_percent"]
        return r[key] + ("" if share is None else f" ({share:.0f}%)")

    keys = ("cpu_requests", "cpu_limits", "memory_requests", "memory_limits")
    columns = ["NAME", "CPU REQUESTS", "CPU LIMITS", "MEMORY REQUESTS", "MEMORY LIMITS"]
    table_rows = [[r["name"], *(cell(r, k) for k in keys)] for r in rows]
    text, truncated = _fit_top(head, columns, table_rows, ctx.budget, "node")
    data = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    return ToolResult(text=text, data=data, truncated=truncated)


def metrics_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="top",
            description="CPU and memory use vs requests and limits.",
            parameters=schema(PARAMS),
            func=top,
        )
    ]
