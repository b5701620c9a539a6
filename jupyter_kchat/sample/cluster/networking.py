"""Networking: Endpoints and EndpointSlices that follow the pods, the shop Ingress, policies.

The endpoint controllers are played for real: every Service with a selector gets an Endpoints
object and one EndpointSlice listing its pods (ready ones as ``addresses``, the rest as
``notReadyAddresses`` / ``ready: false``), rebuilt whenever a pod changes. An empty slice has
``"endpoints": null`` exactly as the API server returns it. ``shop/legacy-search`` selects no
pod; the ``shop/shop`` Ingress routes ``/api`` to a Service that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import Key, Obj, parse_rfc3339

if TYPE_CHECKING:
    from . import SampleCluster

INGRESS_HOST = "shop.example.com"
MISSING_BACKEND = "shop-api"
ORPHAN_SERVICE = "legacy-search"
INGRESS_CLASS = "nginx"
INGRESS_IP = "203.0.113.80"
APISERVER_IP = "172.20.0.2"
SLICE_MANAGER = "endpointslice-controller.k8s.io"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


def make_networking(c: SampleCluster) -> None:
    """The orphan Service, endpoints for every Service, the IngressClass, Ingress and policies."""
    created = c.now - 86400 * 400
    c.make_service(
        "shop",
        ORPHAN_SERVICE,
        "ClusterIP",
        [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        {"app": ORPHAN_SERVICE},
        c.now - 86400 * 300,
    )
    by_label: dict[tuple[str, str, str], list[Obj]] = {}
    for (ns, _), pod in c.objects["pods"].items():
        for k, v in pod["metadata"].get("labels", {}).items():
            by_label.setdefault((ns, k, v), []).append(pod)
    for svc in list(c.objects["services"].values()):
        selector = svc["spec"].get("selector")
        if not selector:
            _apiserver_endpoints(c, svc)
            continue
        ns = svc["metadata"]["namespace"]
        first = next(iter(selector.items()))
        pods = [p for p in by_label.get((ns, *first), ()) if _selects(selector, p)]
        serving = _serving(pods)
        c.store("endpoints", endpoints_for(c, svc, serving))
        c.store("endpointslices", slice_for(c, svc, serving))
    _ingress(c, created)
    _policies(c)


def sync_endpoints(c: SampleCluster, pod: Obj) -> None:
    """Rebuild (and commit) the endpoints of every Service in the pod's namespace selecting it."""
    meta = pod["metadata"]
    ns = meta["namespace"]
    labels = meta.get("labels", {})
    for (svc_ns, _), svc in list(c.objects["services"].items()):
        selector = svc["spec"].get("selector")
        if svc_ns != ns or not selector or not all(labels.get(k) == v for k, v in selector.items()):
            continue
        pods = [
            p for (p_ns, _), p in c.objects["pods"].items() if p_ns == ns and _selects(selector, p)
        ]
        serving = _serving(pods)
        c.commit("endpoints", endpoints_for(c, svc, serving))
        c.commit("endpointslices", slice_for(c, svc, serving))


def _selects(selector: dict[str, str], pod: Obj) -> bool:
    labels = pod["metadata"].get("labels", {})
    return all(labels.get(k) == v for k, v in selector.items())


def _serving(pods: list[Obj]) -> list[tuple[Obj, bool]]:
    """The pods that have an IP and are not finished, with whether each is ready."""
    out = []
    for pod in pods:
        status = pod["status"]
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if pod["metadata"].get("deletionTimestamp"):
            continue
        ready = any(
            cond["type"] == "Ready" and cond["status"] == "True"
            for cond in status.get("conditions", ())
        )
        out.append((pod, ready))
    return sorted(out, key=lambda item: item[0]["metadata"]["name"])


def _target_port(svc_port: Obj, pod: Obj | None) -> int:
    target = svc_port.get("targetPort", svc_port["port"])
    if isinstance(target, int):
        return target
    for container in pod["spec"]["containers"] if pod else ():
        for port in container.get("ports", ()):
            if port.get("name") == target:
                return int(port["containerPort"])
    return int(svc_port["port"])


def _ports(svc: Obj, pod: Obj | None) -> list[Obj]:
    out = []
    for port in svc["spec"]["ports"]:
        entry: Obj = {"port": _target_port(port, pod), "protocol": port.get("protocol", "TCP")}
        if port.get("name"):
            entry = {"name": port["name"], **entry}
        out.append(entry)
    return out


def _trigger_time(serving: list[tuple[Obj, bool]], svc: Obj) -> str:
    times = [
        cond["lastTransitionTime"]
        for pod, _ in serving
        for cond in pod["status"].get("conditions", ())
        if cond["type"] == "Ready"
    ]
    return max(times, default=svc["metadata"]["creationTimestamp"])


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    out: Obj = {"ip": pod["status"]["podIP"]}
    if pod["spec"].get("nodeName"):
        out["nodeName"] = pod["spec"]["nodeName"]
    out["targetRef"] = {
        "kind": "Pod",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
    }
    return out


def endpoints_for(c: SampleCluster, svc: Obj, serving: list[tuple[Obj, bool]]) -> Obj:
    """The Endpoints object the endpoints controller keeps for ``svc`` over ``serving`` pods."""
    meta = svc["metadata"]
    key: Key = (meta["namespace"], meta["name"])
    old = c.objects["endpoints"].get(key)
    out_meta = (
        old["metadata"]
        if old
        else c.meta(meta["name"], meta["namespace"], _created(svc), dict(meta.get("labels", {})))
    )
    out_meta["annotations"] = {TRIGGER: _trigger_time(serving, svc)}
    obj: Obj = {"kind": "Endpoints", "apiVersion": "v1", "metadata": out_meta}
    if serving:
        subset: Obj = {}
        ready = [_address(p) for p, ok in serving if ok]
        unready = [_address(p) for p, ok in serving if not ok]
        if ready:
            subset["addresses"] = ready
        if unready:
            subset["notReadyAddresses"] = unready
        subset["ports"] = _ports(svc, serving[0][0])
        obj["subsets"] = [subset]
    return obj


def slice_for(c: SampleCluster, svc: Obj, serving: list[tuple[Obj, bool]]) -> Obj:
    """The one EndpointSlice the EndpointSlice controller keeps for ``svc`` over ``serving``."""
    meta = svc["metadata"]
    name = c.endpoint_slices.get((meta["namespace"], meta["name"]))
    old = c.objects["endpointslices"].get((meta["namespace"], name)) if name else None
    if old is not None:
        out_meta = old["metadata"]
        out_meta["generation"] = out_meta.get("generation", 1) + 1
    else:
        out_meta = c.meta(
            f"{meta['name']}-{c.suffix()}",
            meta["namespace"],
            _created(svc),
            {
                **meta.get("labels", {}),
                "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
                "kubernetes.io/service-name": meta["name"],
            },
        )
        out_meta["generateName"] = f"{meta['name']}-"
        out_meta["generation"] = 1
        out_meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        c.endpoint_slices[(meta["namespace"], meta["name"])] = out_meta["name"]
    out_meta["annotations"] = {TRIGGER: _trigger_time(serving, svc)}
    zones = {n.name: n.zone for n in c.nodes}
    endpoints = []
    for pod, ready in serving:
        entry: Obj = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "targetRef": _address(pod)["targetRef"],
        }
        node = pod["spec"].get("nodeName")
        if node:
            entry["nodeName"] = node
            entry["zone"] = zones.get(node, "")
        endpoints.append(entry)
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": out_meta,
        "addressType": "IPv4",
        "endpoints": endpoints or None,
        "ports": _ports(svc, serving[0][0] if serving else None),
    }


def _created(svc: Obj) -> float:
    return parse_rfc3339(svc["metadata"]["creationTimestamp"])


def _apiserver_endpoints(c: SampleCluster, svc: Obj) -> None:
    """``default/kubernetes``: the API server writes these itself, and skips mirroring."""
    meta = svc["metadata"]
    created = _created(svc)
    labels = {"endpointslice.kubernetes.io/skip-mirror": "true"}
    c.store(
        "endpoints",
        {
            "kind": "Endpoints",
            "apiVersion": "v1",
            "metadata": c.meta(meta["name"], meta["namespace"], created, labels),
            "subsets": [
                {
                    "addresses": [{"ip": APISERVER_IP}],
                    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
                }
            ],
        },
    )
    slice_meta = c.meta(
        meta["name"], meta["namespace"], created, {"kubernetes.io/service-name": meta["name"]}
    )
    slice_meta["generation"] = 1
    c.endpoint_slices[(meta["namespace"], meta["name"])] = meta["name"]
    c.store(
        "endpointslices",
        {
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": slice_meta,
            "addressType": "IPv4",
            "endpoints": [{"addresses": [APISERVER_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        },
    )


def _ingress(c: SampleCluster, created: float) -> None:
    labels = {
        "app.kubernetes.io/component": "controller",
        "app.kubernetes.io/instance": "ingress-nginx",
        "app.kubernetes.io/name": "ingress-nginx",
        "app.kubernetes.io/part-of": "ingress-nginx",
        "app.kubernetes.io/version": "1.10.1",
    }
    c.store(
        "ingressclasses",
        {
            "kind": "IngressClass",
            "apiVersion": "networking.k8s.io/v1",
            "metadata": c.meta(
                INGRESS_CLASS,
                None,
                created,
                labels,
                {"ingressclass.kubernetes.io/is-default-class": "true"},
            ),
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
    )
    made = c.now - 86400 * 60

    def path(prefix: str, service: str, port: int) -> Obj:
        return {
            "path": prefix,
            "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": port}}},
        }

    meta = c.meta(
        "shop",
        "shop",
        made,
        {"app": "shop"},
        {
            "cert-manager.io/cluster-issuer": "letsencrypt-prod",
            "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
        },
    )
    meta["generation"] = 2
    ingress = c.store(
        "ingresses",
        {
            "kind": "Ingress",
            "apiVersion": "networking.k8s.io/v1",
            "metadata": meta,
            "spec": {
                "ingressClassName": INGRESS_CLASS,
                "tls": [{"hosts": [INGRESS_HOST], "secretName": "shop-tls"}],
                "rules": [
                    {
                        "host": INGRESS_HOST,
                        "http": {
                            "paths": [
                                path("/", "frontend", 80),
                                path("/api", MISSING_BACKEND, 8080),
                            ]
                        },
                    }
                ],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": INGRESS_IP}]}},
        },
    )
    c.event(
        ingress,
        "Sync",
        "Scheduled for sync",
        "Normal",
        "nginx-ingress-controller",
        made + 5,
        c.now - 3600 * 6,
        count=3,
    )


def _policies(c: SampleCluster) -> None:
    def peer(ns: str) -> Obj:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}

    for ns, name, selector, peers, port in (
        ("data", "postgres-allow-apps", {"app": "postgres"}, ["payments", "shop", "data"], 5432),
        ("monitoring", "allow-prometheus-scrape", {}, ["monitoring"], None),
    ):
        rule: Obj = {"from": [peer(p) for p in peers]}
        if port:
            rule["ports"] = [{"protocol": "TCP", "port": port}]
        meta = c.meta(name, ns, c.now - 86400 * 150)
        meta["generation"] = 1
        c.store(
            "networkpolicies",
            {
                "kind": "NetworkPolicy",
                "apiVersion": "networking.k8s.io/v1",
                "metadata": meta,
                "spec": {
                    "podSelector": {"matchLabels": selector} if selector else {},
                    "ingress": [rule],
                    "policyTypes": ["Ingress"],
                },
            },
        )
