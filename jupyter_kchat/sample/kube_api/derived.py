"""Objects served but not stored: metrics-server's usage (``metrics.k8s.io/v1beta1``) and
HorizontalPodAutoscalers converted to ``autoscaling/v1`` as the API server converts them."""

from __future__ import annotations

import copy

import orjson

from ..cluster import Key, Obj, SampleCluster
from .errors import ApiError, details
from .resources import Resource

CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"


def metrics_objects(
    cluster: SampleCluster, resource: Resource, namespace: str | None
) -> dict[Key, Obj]:
    """The cluster's PodMetrics (of one namespace, or all) or NodeMetrics now, keyed like
    stored objects."""
    if resource.name == "pods":
        items = cluster.pod_metrics(namespace)
    else:
        items = cluster.node_metrics()
    return {(m["metadata"].get("namespace", ""), m["metadata"]["name"]): m for m in items}


def metrics_not_found(resource: Resource, namespace: str | None, name: str) -> ApiError:
    """metrics-server's 404 names ``podmetrics.metrics.k8s.io "ns/name"``."""
    plural = f"{resource.kind.lower()}.{resource.group}"
    shown = f"{namespace}/{name}" if namespace else name
    return ApiError(
        404,
        f'{plural} "{shown}" not found',
        {**details(resource, shown), "kind": resource.kind.lower()},
    )


def hpa_v1(hpa: Obj) -> Obj:
    """An autoscaling/v2 HPA as autoscaling/v1 shows it (CPU target, conditions annotated)."""
    spec, status = hpa.get("spec", {}), hpa.get("status", {})
    meta = copy.deepcopy(hpa["metadata"])
    if status.get("conditions"):
        annotations = meta.setdefault("annotations", {})
        annotations[CONDITIONS_ANNOTATION] = orjson.dumps(status["conditions"]).decode()
    out_spec: Obj = {
        "scaleTargetRef": spec.get("scaleTargetRef", {}),
        "minReplicas": spec.get("minReplicas", 1),
        "maxReplicas": spec.get("maxReplicas", 0),
    }
    out_status: Obj = {
        k: status[k]
        for k in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
        if k in status
    }
    for metric in spec.get("metrics") or ():
        resource = metric.get("resource") or {}
        target = resource.get("target") or {}
        if resource.get("name") == "cpu" and "averageUtilization" in target:
            out_spec["targetCPUUtilizationPercentage"] = target["averageUtilization"]
    for metric in status.get("currentMetrics") or ():
        resource = metric.get("resource") or {}
        current = resource.get("current") or {}
        if resource.get("name") == "cpu" and "averageUtilization" in current:
            out_status["currentCPUUtilizationPercentage"] = current["averageUtilization"]
    return {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": out_spec,
        "status": out_status,
    }


CONVERSIONS = {("autoscaling", "v1", "horizontalpodautoscalers"): hpa_v1}
