"""list_nodes: readiness, pressure conditions, capacity, kubelet version, taints, pods per node."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import LABEL_SELECTOR, check_args, opt_str, schema
from .kube import KubeCluster, api_path, gc_paused
from .models import Node, PodPlacement
from .shape import Listing, clip, counts, fit_listing, human_age, parse_time, plural

PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
STANDARD_TAINTS = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")

_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


def quantity(text: str) -> float:
    """A resource quantity ("7910m", "31675764Ki", "110") as a number (0 if unreadable)."""
    text = text.strip()
    try:
        if text.endswith("m"):
            return float(text[:-1]) / 1000
        for suffix in _UNITS:
            if text.endswith(suffix):
                return float(text[: -len(suffix)]) * _UNITS[suffix]
        return float(text)
    except ValueError:
        return 0.0


def cpu_text(value: str) -> str:
    """Cores with a few significant digits: ``7.91``, ``0.5``, ``47.81``."""
    cores = quantity(value)
    return f"{cores:g}" if cores >= 10 else f"{cores:.2g}" if cores < 1 else f"{cores:.3g}"


def memory_text(value: str) -> str:
    """Bytes as GiB with one decimal: ``30.2Gi``."""
    return f"{quantity(value) / 2**30:.1f}Gi" if value else ""


@dataclass
class NodeView:
    """A node as a row: STATUS flags (Ready/NotReady, pressures, cordoned) and the problems."""

    name: str
    status: str
    roles: str
    age: str
    version: str
    ip: str
    cpu: str
    memory: str
    pods: str
    taints: str
    problems: list[str]

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "roles": self.roles,
            "age": self.age,
            "version": self.version,
            "internal_ip": self.ip,
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": self.pods,
            "taints": self.taints,
            "problems": "; ".join(self.problems),
            "reason": self.problems[0].split(" ", 1)[0] if self.problems else "",
        }


def view_node(node: Node, running: Counter[str] | None, now: float) -> NodeView:
    """A node's STATUS and problems: not Ready, pressure, network, cordoned."""
    meta, spec, status = node.metadata, node.spec, node.status
    conditions = {c.type: c for c in status.conditions}
    ready = conditions.get("Ready")
    problems: list[str] = []
    if ready is None:
        state = "Unknown"
        problems.append("NotReady: no Ready condition reported")
    elif ready.status == "True":
        state = "Ready"
    else:
        state = "NotReady"
        why = ": ".join(p for p in (ready.reason, ready.message) if p)
        since = _since(ready.last_transition_time, now)
        problems.append(f"NotReady{since}" + (f" ({clip(why, 200)})" if why else ""))
    flags = [state]
    for kind in PRESSURES:
        cond = conditions.get(kind)
        if cond is not None and cond.status == "True":
            flags.append(kind)
            why = cond.reason or cond.message
            problems.append(
                f"{kind}{_since(cond.last_transition_time, now)}" + (f" ({why})" if why else "")
            )
    if spec.unschedulable:
        flags.append("SchedulingDisabled")
        problems.append("cordoned (SchedulingDisabled)")
    labels = meta.labels or {}
    roles = sorted(
        key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")
    )
    taints = [
        f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}"
        for t in spec.taints
        if not t.key.startswith(STANDARD_TAINTS)
    ]
    alloc = status.allocatable
    capacity_pods = alloc.get("pods") or status.capacity.get("pods", "")
    pods = f"{running[meta.name]}/{capacity_pods}" if running is not None else capacity_pods
    ip = next((a.address for a in status.addresses if a.type == "InternalIP"), "")
    created = meta.creation_timestamp
    return NodeView(
        name=meta.name,
        status=",".join(flags),
        roles=",".join(roles) or "<none>",
        age=human_age(now - created.timestamp()) if created else "",
        version=status.node_info.kubelet_version,
        ip=ip,
        cpu=cpu_text(alloc.get("cpu", "")) if alloc.get("cpu") else "",
        memory=memory_text(alloc.get("memory", "")),
        pods=pods,
        taints=", ".join(taints),
        problems=problems,
    )


def _since(stamp: str, now: float) -> str:
    when = parse_time(stamp)
    return f" for {human_age(now - when)}" if when is not None else ""


def pods_per_node(cluster: KubeCluster, timeout: float) -> Counter[str] | None:
    """Non-terminated pods per node, or None when pods cannot be listed (RBAC)."""
    try:
        listed = cluster.list_all(api_path("pods"), PodPlacement, timeout=timeout)
    except ToolError:
        return None
    return Counter(
        p.spec.node_name
        for p in listed.items
        if p.spec.node_name and p.status.phase not in ("Succeeded", "Failed")
    )


def list_node_views(
    cluster: KubeCluster, timeout: float, label_selector: str | None = None, with_pods: bool = True
) -> list[NodeView]:
    """Every node, classified; ``with_pods`` also counts pods per node (one pod list)."""
    listed = cluster.list_all(
        api_path("nodes"), Node, label_selector=label_selector, timeout=timeout
    )
    running = pods_per_node(cluster, timeout) if with_pods else None
    now = time.time()
    return [view_node(node, running, now) for node in listed.items]


LIST_NODES_PARAMS = {"label_selector": LABEL_SELECTOR}


@gc_paused
def list_nodes(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Every node with readiness and pressure; unhealthy nodes first and explained."""
    check_args(args, LIST_NODES_PARAMS, "list_nodes")
    labels = opt_str(args, "label_selector")
    views = list_node_views(ctx.cluster, ctx.timeout, labels)
    if not views:
        return ToolResult(text="No nodes" + (f" match {labels!r}." if labels else "."), data=[])
    bad = [v for v in views if v.problems]
    good = [v for v in views if not v.problems]
    rows = [v.row() for v in (*bad, *good)]
    head = [
        f"{plural(len(views), 'node')}: {counts(Counter(v.status.split(',')[0] for v in views))}; "
        f"{len(bad)} need attention. Kubelet versions: {counts(Counter(v.version for v in views))}."
    ]
    if bad:
        details = [f"{v.name}: {'; '.join(v.problems)}" for v in bad[:20]]
        head.append(
            "Problems: "
            + " | ".join(details)
            + (f" | … {len(bad) - 20} more" if len(bad) > 20 else "")
        )
    if any(v.pods and "/" in v.pods for v in views):
        head.append(
            "PODS is non-terminated pods / allocatable pod slots; CPU and MEMORY are allocatable."
        )
    columns = ("NAME", "STATUS", "ROLES", "AGE", "VERSION", "CPU", "MEMORY", "PODS", "TAINTS")

    def cells(v: NodeView) -> tuple[str, ...]:
        return (v.name, v.status, v.roles, v.age, v.version, v.cpu, v.memory, v.pods, v.taints)

    listing = Listing(
        noun="nodes",
        head=head,
        columns=columns,
        problems=[cells(v) for v in bad],
        problem_keys=[v.name for v in bad],
        problem_groups=[v.problems[0].split(" ", 1)[0] for v in bad],
        rest=[cells(v) for v in good],
        rest_group=lambda row: row[2],
        narrow=(
            "Narrow down: list_nodes with a label_selector on the nodes' own labels (a role or "
            "zone label); list_pods with a field_selector on spec.nodeName for one node's pods."
        ),
        problem_label="needing attention",
        rest_label="healthy nodes",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


def node_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_nodes",
            description="Nodes: ready, pressure, cordoned, taints; unhealthy first.",
            parameters=schema(LIST_NODES_PARAMS),
            func=list_nodes,
        )
    ]
