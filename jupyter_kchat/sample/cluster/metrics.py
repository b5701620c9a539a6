"""What metrics-server would report: PodMetrics and NodeMetrics (``metrics.k8s.io/v1beta1``).

Derived on each call from the pods as they are now, never stored: a running container's usage
sits around its requests (deterministic per seed and container), OOM-prone ones near their
memory limit, ``shop/checkout`` above its CPU target (its HPA is pinned at max). Pods on a
NotReady node, pods with no running container and the node itself are missing, as metrics-server
cannot scrape them. CPU is in nanocores (``"123456789n"``), memory in ``Ki``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .common import Obj, parse_quantity, rfc3339

if TYPE_CHECKING:
    from . import SampleCluster

METRICS_API = "metrics.k8s.io/v1beta1"
HOT = {("shop", "checkout"): 2.3}
"""CPU usage as a multiple of the request, for workloads running hot."""
SYSTEM_CPU = 0.35
SYSTEM_MEMORY = 1.6 * 2**30


def _usage(c: SampleCluster, pod: Obj, container: Obj) -> tuple[float, float]:
    """(cores, bytes) one container uses now."""
    meta = pod["metadata"]
    rng = random.Random(f"{c.seed}/metrics/{meta['namespace']}/{meta['name']}/{container['name']}")
    resources = container.get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    cpu = parse_quantity(requests.get("cpu", "100m"))
    memory = parse_quantity(requests.get("memory", "64Mi"))
    app = meta.get("labels", {}).get("app", "")
    factor = HOT.get((meta["namespace"], app))
    cores = cpu * (factor * rng.uniform(0.95, 1.05) if factor else rng.uniform(0.03, 0.85))
    used = memory * rng.uniform(0.35, 1.15)
    limit = parse_quantity(limits["memory"]) if "memory" in limits else None
    profile = c.profile_of_pod(meta["namespace"], meta["name"])
    if limit and profile.startswith("oom"):
        used = limit * rng.uniform(0.93, 0.99)
    elif limit:
        used = min(used, limit * 0.9)
    return cores, used


def _cpu(cores: float) -> str:
    return f"{int(cores * 1e9)}n"


def _memory(size: float) -> str:
    return f"{int(size // 1024)}Ki"


def _reachable(c: SampleCluster) -> set[str]:
    return {n.name for n in c.nodes if n.ready}


def _pod_usage(c: SampleCluster, pod: Obj) -> list[tuple[str, float, float]]:
    running = {
        s["name"]
        for s in pod["status"].get("containerStatuses", ())
        if s.get("state", {}).get("running")
    }
    return [
        (container["name"], *_usage(c, pod, container))
        for container in pod["spec"]["containers"]
        if container["name"] in running
    ]


def pod_metrics(c: SampleCluster, namespace: str | None = None) -> list[Obj]:
    """A PodMetrics for every pod metrics-server can see (in ``namespace``, or all)."""
    now = c.clock()
    nodes = _reachable(c)
    out = []
    for (ns, name), pod in c.objects["pods"].items():
        if namespace is not None and ns != namespace:
            continue
        if pod["status"].get("phase") != "Running" or pod["spec"].get("nodeName") not in nodes:
            continue
        usage = _pod_usage(c, pod)
        if not usage:
            continue
        meta: Obj = {"name": name, "namespace": ns, "creationTimestamp": rfc3339(now)}
        if pod["metadata"].get("labels"):
            meta["labels"] = dict(pod["metadata"]["labels"])
        out.append(
            {
                "kind": "PodMetrics",
                "apiVersion": METRICS_API,
                "metadata": meta,
                "timestamp": rfc3339(now - 7),
                "window": "15.012s",
                "containers": [
                    {"name": cname, "usage": {"cpu": _cpu(cores), "memory": _memory(size)}}
                    for cname, cores, size in usage
                ],
            }
        )
    return out


def node_metrics(c: SampleCluster) -> list[Obj]:
    """A NodeMetrics for every Ready node: its pods' usage plus the system's own."""
    now = c.clock()
    totals = {n.name: [SYSTEM_CPU, SYSTEM_MEMORY] for n in c.nodes if n.ready}
    for pod in c.objects["pods"].values():
        node = pod["spec"].get("nodeName")
        if node not in totals or pod["status"].get("phase") != "Running":
            continue
        for _, cores, size in _pod_usage(c, pod):
            totals[node][0] += cores
            totals[node][1] += size
    out = []
    for name, (cores, size) in totals.items():
        node = c.objects["nodes"][("", name)]
        out.append(
            {
                "kind": "NodeMetrics",
                "apiVersion": METRICS_API,
                "metadata": {
                    "name": name,
                    "creationTimestamp": rfc3339(now),
                    "labels": dict(node["metadata"].get("labels", {})),
                },
                "timestamp": rfc3339(now - 9),
                "window": "20.03s",
                "usage": {"cpu": _cpu(cores), "memory": _memory(size)},
            }
        )
    return out
