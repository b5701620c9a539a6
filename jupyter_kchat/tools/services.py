"""list_services (with the ones no ready pod backs) and list_namespaces."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .base import ToolContext, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    LABEL_SELECTOR,
    NAMESPACE,
    Scope,
    check_args,
    missing_namespace,
    opt_str,
    schema,
    scope,
)
from .errors import ToolError
from .kube import api_path
from .models import Endpoints, Namespace, Service
from .shape import Listing, age_of, clip, counts, fit_listing, plural

SERVICE_PARAMS = {
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "label_selector": LABEL_SELECTOR,
}


def _ports(service: Service) -> str:
    parts = []
    for p in service.spec.ports:
        text = f"{p.port}"
        if p.node_port:
            text += f":{p.node_port}"
        text += f"/{p.protocol}"
        if p.target_port not in (None, p.port, ""):
            text += f"->{p.target_port}"
        parts.append(text)
    return ",".join(parts) or "<none>"


def _external(service: Service) -> str:
    spec = service.spec
    if spec.type == "ExternalName":
        return spec.external_name
    addresses = [
        i.ip or i.hostname for i in service.status.load_balancer.ingress
    ] + spec.external_ips
    if addresses:
        return ",".join(addresses)
    return "<pending>" if spec.type == "LoadBalancer" else "<none>"


def _ready_endpoints(ctx: ToolContext, where: Scope) -> dict[tuple[str, str], int] | None:
    """Ready addresses per Service (the Endpoints of the same name); None when unreadable."""
    try:
        listed = ctx.cluster.list_all(where.path("endpoints"), Endpoints, timeout=ctx.timeout)
    except ToolError:
        return None
    return {(e.metadata.namespace, e.metadata.name): e.ready() for e in listed.items}


def list_services(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Services with type, cluster IP, external address, ports and selector."""
    check_args(args, SERVICE_PARAMS, "list_services")
    where = scope(ctx, args)
    labels = opt_str(args, "label_selector")
    listed = ctx.cluster.list_all(
        where.path("services"), Service, label_selector=labels, timeout=ctx.timeout
    )
    ready = _ready_endpoints(ctx, where) if listed.items else None
    now = time.time()
    rows: list[dict[str, Any]] = []
    problem_rows: list[dict[str, Any]] = []
    problems, problem_keys, problem_groups, rest = [], [], [], []
    everywhere = where.everywhere
    for svc in listed.items:
        meta, spec = svc.metadata, svc.spec
        selector = ",".join(f"{k}={v}" for k, v in (spec.selector or {}).items())
        external = _external(svc)
        row = {
            "namespace": meta.namespace,
            "name": meta.name,
            "type": spec.type,
            "cluster_ip": spec.cluster_ip,
            "external_ip": external,
            "ports": _ports(svc),
            "selector": selector,
            "age": age_of(meta.creation_timestamp, now),
            "reason": "",
        }
        cells = ((meta.namespace,) if everywhere else ()) + (
            meta.name,
            spec.type,
            spec.cluster_ip or "<none>",
            external,
            row["ports"],
            row["age"],
            clip(selector, 80) or "<none>",
        )
        if external == "<pending>":
            row["reason"] = "LoadBalancer pending"
        elif (
            ready is not None
            and selector
            and spec.type != "ExternalName"
            and not ready.get((meta.namespace, meta.name))
        ):
            row["reason"] = "no ready endpoints"
        if row["reason"]:
            problem_rows.append(row)
            problems.append((*cells, row["reason"]))
            problem_keys.append(f"{meta.namespace}/{meta.name}" if everywhere else meta.name)
            problem_groups.append(row["reason"])
        else:
            rows.append(row)
            rest.append((*cells, ""))
    rows[:0] = problem_rows
    if not rows:
        missing = "" if labels else missing_namespace(ctx, where)
        return ToolResult(text=f"No services in {where.describe()}.{missing}", data=rows)
    head = [
        f"{plural(len(rows), 'service')} in {where.describe()}: "
        f"{counts(Counter(r['type'] for r in rows))}."
    ]
    tally = Counter(problem_groups)
    if tally["LoadBalancer pending"]:
        head.append(
            f"{tally['LoadBalancer pending']} LoadBalancer services have no external address yet "
            "(<pending>): check the cloud load-balancer controller and the service's events."
        )
    if tally["no ready endpoints"]:
        head.append(
            f"{tally['no ready endpoints']} services select no ready pod (no endpoints), so "
            "traffic to them fails: diagnose_cluster says why (no matching pod, or its pods are "
            "not ready)."
        )
    columns = (("NAMESPACE",) if everywhere else ()) + (
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
        "SELECTOR",
        "REASON",
    )
    listing = Listing(
        noun="services",
        head=head,
        columns=columns,
        problems=problems,
        problem_keys=problem_keys,
        problem_groups=problem_groups,
        rest=rest,
        rest_group=(lambda row: row[0]) if everywhere else None,
        narrow="Narrow down: list_services with namespace=<ns> or label_selector.",
        problem_label="needing attention",
        rest_label="other services",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


NAMESPACE_PARAMS = {"label_selector": LABEL_SELECTOR}


def list_namespaces(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Namespaces with status and age (Terminating ones first)."""
    check_args(args, NAMESPACE_PARAMS, "list_namespaces")
    labels = opt_str(args, "label_selector")
    listed = ctx.cluster.list_all(
        api_path("namespaces"), Namespace, label_selector=labels, timeout=ctx.timeout
    )
    now = time.time()
    rows = [
        {
            "name": ns.metadata.name,
            "status": ns.status.phase or "Active",
            "age": age_of(ns.metadata.creation_timestamp, now),
            "reason": "" if (ns.status.phase or "Active") == "Active" else ns.status.phase,
        }
        for ns in listed.items
    ]
    rows.sort(key=lambda r: r["reason"] == "")
    if not rows:
        return ToolResult(
            text="No namespaces" + (f" match {labels!r}." if labels else "."), data=rows
        )
    stuck = [r for r in rows if r["status"] != "Active"]
    active = [r for r in rows if r["status"] == "Active"]
    default = ctx.default_namespace()
    head = [
        f"{plural(len(rows), 'namespace')}: {counts(Counter(r['status'] for r in rows))}. "
        f"The chat's default namespace is {default}."
    ]
    listing = Listing(
        noun="namespaces",
        head=head,
        columns=("NAME", "STATUS", "AGE"),
        problems=[(r["name"], r["status"], r["age"]) for r in stuck],
        problem_keys=[r["name"] for r in stuck],
        problem_groups=[r["status"] for r in stuck],
        rest=[(r["name"], r["status"], r["age"]) for r in active],
        narrow="Narrow down: list_namespaces with label_selector.",
        problem_label="not active",
        rest_label="active namespaces",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


def service_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_services",
            description="Services: type, IPs, ports, selector.",
            parameters=schema(SERVICE_PARAMS),
            func=list_services,
        ),
        ToolSpec(
            name="list_namespaces",
            description="Namespaces: status and age.",
            parameters=schema(NAMESPACE_PARAMS),
            func=list_namespaces,
        ),
    ]
