"""Pod health and resource rules the generator and the controllers share (readiness, QoS class,
requests, a Deployment's allowed unavailability).
"""

from __future__ import annotations

from .common import Obj, parse_quantity


def requested(containers: list[Obj]) -> tuple[float, float]:
    """Total (cpu cores, memory bytes) the containers request."""
    cpu = memory = 0.0
    for c in containers:
        requests = c.get("resources", {}).get("requests", {})
        cpu += parse_quantity(requests.get("cpu", "0"))
        memory += parse_quantity(requests.get("memory", "0"))
    return cpu, memory


def qos_class(containers: list[Obj]) -> str:
    """The QoS class the kubelet gives a pod with these containers."""
    requests_all = limits_all = True
    any_set = False
    for c in containers:
        res = c.get("resources", {})
        req, lim = res.get("requests", {}), res.get("limits", {})
        any_set = any_set or bool(req or lim)
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                limits_all = False
            if r not in req and r not in lim:
                requests_all = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if limits_all and requests_all else "Burstable"


def max_unavailable(deployment: Obj) -> int:
    """How many replicas a Deployment's strategy lets be unavailable."""
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    value = strategy.get("rollingUpdate", {}).get("maxUnavailable", "25%")
    replicas = deployment["spec"]["replicas"]
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * int(value[:-1]) / 100)
    return int(value)


def pod_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True."""
    for c in pod["status"].get("conditions", ()):
        if c["type"] == "Ready":
            return bool(c["status"] == "True")
    return False


def pod_is_healthy(pod: Obj) -> bool:
    """Running and ready without trouble, or finished well (see ``unhealthy_pod_keys``)."""
    status = pod["status"]
    if status.get("phase") not in ("Running", "Succeeded"):
        return False
    if status["phase"] == "Succeeded":
        return True
    if not pod_ready(pod):
        return False
    for cs in status.get("containerStatuses", ()):
        if not cs["state"].get("running") or cs["restartCount"] >= 3:
            return False
        if cs.get("lastState", {}).get("terminated", {}).get("reason") == "OOMKilled":
            return False
    return True
