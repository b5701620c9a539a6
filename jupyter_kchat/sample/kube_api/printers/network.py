"""kubectl's columns for networking kinds: services, endpoints, ingresses, policies."""

from __future__ import annotations

from typing import Any

from ...cluster import Obj
from .common import NAME_COLUMN, TableSpec, age, col, format_selector, with_more


def _service_cells(svc: Obj) -> list[Any]:
    spec = svc["spec"]
    ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress)
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    ports = ",".join(
        f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p['port']}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports", ())
    )
    selector = ",".join(f"{k}={v}" for k, v in spec.get("selector", {}).items())
    return [
        svc["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", ""),
        external,
        ports or "<none>",
        age(svc),
        selector or "<none>",
    ]


def _endpoints(ep: Obj) -> str:
    """formatEndpoints: ready "ip:port" pairs, three at most; "<none>" without subsets."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    pairs = []
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or ()]
        ports = subset.get("ports") or []
        if not ports:
            pairs.extend(addresses)
        for port in ports:
            pairs.extend(
                f"[{ip}]:{port.get('port')}" if ":" in ip else f"{ip}:{port.get('port')}"
                for ip in addresses
            )
    return with_more(pairs, 3)


def _slice_cells(es: Obj) -> list[Any]:
    ports = [
        str(p["port"]) if p.get("port") is not None else p.get("name") or "*"
        for p in es.get("ports") or ()
    ]
    addresses = [a for e in es.get("endpoints") or () for a in e.get("addresses") or ()]
    return [
        es["metadata"]["name"],
        es.get("addressType", ""),
        with_more(ports, 3, "<unset>"),
        with_more(addresses, 3, "<unset>"),
        age(es),
    ]


def _hosts(rules: list[Obj]) -> str:
    """formatHosts: up to three hosts, "*" when no rule names one."""
    hosts = [r["host"] for r in rules[:3] if r.get("host")]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if len(rules) > 3 else text


def _ingress_cells(ing: Obj) -> list[Any]:
    spec = ing["spec"]
    balancer = ing.get("status", {}).get("loadBalancer", {}).get("ingress") or ()
    return [
        ing["metadata"]["name"],
        spec.get("ingressClassName") or "<none>",
        _hosts(spec.get("rules") or []),
        ",".join(i.get("ip") or i.get("hostname", "") for i in balancer),
        "80, 443" if spec.get("tls") else "80",
        age(ing),
    ]


def _ingress_class_cells(ic: Obj) -> list[Any]:
    params = ic["spec"].get("parameters")
    shown = "<none>"
    if params:
        kind = params.get("kind", "")
        if params.get("apiGroup"):
            kind += "." + params["apiGroup"]
        shown = f"{kind}/{params.get('name', '')}"
    return [ic["metadata"]["name"], ic["spec"].get("controller", ""), shown, age(ic)]


TABLES: dict[str, TableSpec] = {
    "services": (
        [
            NAME_COLUMN,
            col("Type"),
            col("Cluster-IP"),
            col("External-IP"),
            col("Port(s)"),
            col("Age"),
            col("Selector", 1),
        ],
        _service_cells,
    ),
    "endpoints": (
        [NAME_COLUMN, col("Endpoints"), col("Age")],
        lambda ep: [ep["metadata"]["name"], _endpoints(ep), age(ep)],
    ),
    "endpointslices": (
        [NAME_COLUMN, col("AddressType"), col("Ports"), col("Endpoints"), col("Age")],
        _slice_cells,
    ),
    "ingresses": (
        [NAME_COLUMN, col("Class"), col("Hosts"), col("Address"), col("Ports"), col("Age")],
        _ingress_cells,
    ),
    "ingressclasses": (
        [NAME_COLUMN, col("Controller"), col("Parameters"), col("Age")],
        _ingress_class_cells,
    ),
    "networkpolicies": (
        [NAME_COLUMN, col("Pod-Selector"), col("Age")],
        lambda n: [
            n["metadata"]["name"],
            format_selector(n["spec"].get("podSelector")),
            age(n),
        ],
    ),
}
