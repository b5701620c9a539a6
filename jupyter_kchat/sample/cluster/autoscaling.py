"""Autoscaling and disruption: HorizontalPodAutoscalers (autoscaling/v2) and PodDisruptionBudgets.

``shop/checkout``'s HPA is pinned at its maximum; ``payments/payments-api``'s cannot compute a
replica count because its container requests no CPU; ``data/postgres``'s PDB allows no
disruption. Conditions, reasons, messages and events are the v1.30 controllers' own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import Obj, rfc3339

if TYPE_CHECKING:
    from . import SampleCluster

HPA_PINNED = "the desired replica count is more than the maximum replica count"
HPA_CONTROLLER = "horizontal-pod-autoscaler"


def hpa_metric_error(container: str, pod: str) -> str:
    """What the HPA controller says when a target's container requests no CPU."""
    return (
        f"failed to get cpu utilization: missing request for cpu in container {container} "
        f"of Pod {pod}"
    )


def make_autoscaling(c: SampleCluster) -> None:
    """The two HPAs and the PDBs."""
    _hpa(c, "shop", "checkout", 2, 4)
    _hpa(c, "payments", "payments-api", 3, 10)
    _pdb(c, "data", "postgres", {"minAvailable": 1}, "StatefulSet")
    _pdb(c, "kube-system", "coredns", {"maxUnavailable": 1}, "Deployment")


def _condition(kind: str, status: str, since: float, reason: str, message: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": rfc3339(since),
        "reason": reason,
        "message": message,
    }


def _hpa(c: SampleCluster, ns: str, name: str, low: int, high: int) -> None:
    target = c.objects["deployments"][(ns, name)]
    current = target["spec"]["replicas"]
    created = c.now - 86400 * 30
    meta = c.meta(name, ns, created)
    spec: Obj = {
        "scaleTargetRef": {"kind": "Deployment", "name": name, "apiVersion": "apps/v1"},
        "minReplicas": low,
        "maxReplicas": high,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ],
    }
    since = c.now - 3600 * c.rng.uniform(2, 6)
    able = _condition(
        "AbleToScale",
        "True",
        since,
        "ReadyForNewScale",
        "recommended size matches current size",
    )
    status: Obj = {"currentReplicas": current, "desiredReplicas": current}
    hpa: Obj = {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v2",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }
    pods = sorted(
        pod["metadata"]["name"]
        for (pod_ns, _), pod in c.objects["pods"].items()
        if pod_ns == ns and pod["metadata"].get("labels", {}).get("app") == name
    )
    if current >= high:
        status["lastScaleTime"] = rfc3339(since)
        status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageValue": "231m", "averageUtilization": 231},
                },
            }
        ]
        status["conditions"] = [
            able,
            _condition(
                "ScalingActive",
                "True",
                created + 120,
                "ValidMetricFound",
                "the HPA was able to successfully calculate a replica count from cpu resource "
                "utilization (percentage of request)",
            ),
            _condition("ScalingLimited", "True", since, "TooManyReplicas", HPA_PINNED),
        ]
        c.store("horizontalpodautoscalers", hpa)
        return
    containers = target["spec"]["template"]["spec"]["containers"]
    bare = next(
        (x["name"] for x in containers if "cpu" not in x.get("resources", {}).get("requests", {})),
        containers[0]["name"],
    )
    error = hpa_metric_error(bare, pods[0] if pods else f"{name}-0")
    able["reason"], able["message"] = (
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    )
    status["conditions"] = [
        able,
        _condition(
            "ScalingActive",
            "False",
            since,
            "FailedGetResourceMetric",
            f"the HPA was unable to compute the replica count: {error}",
        ),
    ]
    c.store("horizontalpodautoscalers", hpa)
    count = c.rng.randint(800, 1400)
    for reason, message in (
        ("FailedGetResourceMetric", error),
        (
            "FailedComputeMetricsReplicas",
            "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource "
            f"metric value: {error}",
        ),
    ):
        c.event(
            hpa,
            reason,
            message,
            "Warning",
            HPA_CONTROLLER,
            since,
            c.now - c.rng.uniform(5, 15),
            count=count,
        )


def _pdb(c: SampleCluster, ns: str, name: str, budget: Obj, kind: str) -> None:
    resource = "statefulsets" if kind == "StatefulSet" else "deployments"
    workload = c.objects[resource][(ns, name)]
    selector = dict(workload["spec"]["selector"]["matchLabels"])
    expected = workload["spec"]["replicas"]
    healthy = sum(
        1
        for (pod_ns, _), pod in c.objects["pods"].items()
        if pod_ns == ns
        and all(pod["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
        and any(
            cond["type"] == "Ready" and cond["status"] == "True"
            for cond in pod["status"].get("conditions", ())
        )
    )
    if "minAvailable" in budget:
        desired = int(budget["minAvailable"])
    else:
        desired = max(0, expected - int(budget["maxUnavailable"]))
    allowed = max(0, healthy - desired)
    meta = c.meta(name, ns, c.now - 86400 * 150)
    meta["generation"] = 1
    c.store(
        "poddisruptionbudgets",
        {
            "kind": "PodDisruptionBudget",
            "apiVersion": "policy/v1",
            "metadata": meta,
            "spec": {**budget, "selector": {"matchLabels": selector}},
            "status": {
                "observedGeneration": 1,
                "disruptionsAllowed": allowed,
                "currentHealthy": healthy,
                "desiredHealthy": desired,
                "expectedPods": expected,
                "conditions": [
                    {
                        "type": "DisruptionAllowed",
                        "status": "True" if allowed else "False",
                        "observedGeneration": 1,
                        "lastTransitionTime": rfc3339(c.now - 86400 * 9),
                        "reason": "SufficientPods" if allowed else "InsufficientPods",
                        "message": "",
                    }
                ],
            },
        },
    )
