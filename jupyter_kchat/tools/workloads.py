"""Workload tools: list_deployments (with StatefulSets and DaemonSets), scale_deployment and
restart_deployment."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    LABEL_SELECTOR,
    NAMESPACE,
    Scope,
    check_args,
    check_name,
    missing_namespace,
    opt_int,
    opt_str,
    req_str,
    schema,
    scope,
)
from .health import PodView, list_pod_views, owner_workload, problem_detail
from .kube import ApiFailure, KubeCluster, api_path, gc_paused
from .lookup import Target, target, write_not_found
from .models import Scale, Workload
from .shape import Listing, clip, counts, fit_listing, human_age, plural

KINDS = {
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MAX_REPLICAS = 1000


@dataclass
class WorkloadView:
    """A workload's desired vs ready counts and, when it is short, why."""

    namespace: str
    kind: str
    name: str
    desired: int
    ready: int
    up_to_date: int
    available: int
    age: str
    images: list[str]
    conditions: list[str]
    short: bool
    reason: str = ""
    detail: str = ""
    pods: list[PodView] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def row(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "kind": self.kind,
            "name": self.name,
            "desired": self.desired,
            "ready": self.ready,
            "up_to_date": self.up_to_date,
            "available": self.available,
            "age": self.age,
            "images": ", ".join(self.images),
            "reason": self.reason,
        }


def view_workload(kind: str, item: Workload, now: float) -> WorkloadView:
    """Desired/ready for any of the three kinds, and what the conditions say when short."""
    meta, spec, st = item.metadata, item.spec, item.status
    if kind == "DaemonSet":
        desired = st.desired_number_scheduled
        ready = st.number_ready
        up_to_date = st.updated_number_scheduled
        available = st.number_available
    else:
        desired = 1 if spec.replicas is None else spec.replicas
        ready = st.ready_replicas
        up_to_date = (
            st.updated_replicas
            if kind == "Deployment"
            else st.updated_replicas or st.current_replicas
        )
        available = st.available_replicas
    conditions = []
    reason = ""
    for cond in st.conditions:
        bad = (cond.type == "ReplicaFailure" and cond.status == "True") or (
            cond.type in ("Available", "Progressing") and cond.status == "False"
        )
        if bad:
            conditions.append(f"{cond.type}={cond.status} {cond.reason}: {clip(cond.message, 200)}")
            reason = reason or cond.reason
    short = ready < desired or available < desired or bool(conditions)
    if spec.paused:
        conditions.append("rollout paused (kubectl rollout resume)")
        reason = reason or "Paused"
    created = meta.creation_timestamp
    return WorkloadView(
        namespace=meta.namespace,
        kind=kind,
        name=meta.name,
        desired=desired,
        ready=ready,
        up_to_date=up_to_date,
        available=available,
        age=human_age(now - created.timestamp()) if created else "",
        images=[c.image for c in spec.template.spec.containers],
        conditions=conditions,
        short=short,
        reason=reason if short or spec.paused else "",
    )


def list_workload_views(
    cluster: KubeCluster,
    where: Scope,
    kinds: list[str],
    *,
    label_selector: str | None,
    timeout: float,
    pods: list[PodView] | None = None,
) -> list[WorkloadView]:
    """Workloads of the given kinds; short ones get the reason from their pods' problems.

    ``pods`` may be passed when the caller already listed them (diagnose); otherwise the pods
    in scope are listed only if some workload is short.
    """
    now = time.time()
    views: list[WorkloadView] = []
    for resource in kinds:
        listed = cluster.list_all(
            where.path(resource, group="apps"),
            Workload,
            label_selector=label_selector,
            timeout=timeout,
        )
        views.extend(view_workload(KINDS[resource], item, now) for item in listed.items)
    short = [v for v in views if v.short]
    if short:
        if pods is None:
            try:
                pods = list_pod_views(cluster, where, timeout=timeout)
            except ToolError:
                pods = []
        explain_short(short, pods)
    views.sort(key=lambda v: (v.namespace, v.kind, v.name))
    return views


def explain_short(short: list[WorkloadView], pods: list[PodView]) -> None:
    """Attach each short workload's unhealthy pods and a one-line reason built from them."""
    index = {(v.namespace, v.kind, v.name): v for v in short}
    for pod in pods:
        kind, name = owner_workload(pod.pod)
        view = index.get((pod.namespace, kind, name))
        if view is not None:
            view.pods.append(pod)
    for view in short:
        bad = [p for p in view.pods if p.problem]
        if bad:
            tally = Counter(p.problem for p in bad)
            view.reason = ", ".join(f"{n} {problem}" for problem, n in tally.most_common())
            worst = min(bad, key=lambda p: p.severity)
            view.detail = problem_detail(worst)
        elif not view.reason:
            view.reason = "pods starting" if view.available < view.desired else "not ready"
        if not bad and view.conditions:
            view.detail = view.conditions[0]


LIST_PARAMS = {
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "label_selector": LABEL_SELECTOR,
    "kind": {
        "type": "string",
        "enum": ["all", "deployments", "statefulsets", "daemonsets"],
        "default": "all",
    },
}


@gc_paused
def list_deployments(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Deployments, StatefulSets and DaemonSets: desired vs ready, and why when short."""
    check_args(args, LIST_PARAMS, "list_deployments")
    where = scope(ctx, args)
    kind = opt_str(args, "kind") or "all"
    if kind not in ("all", *KINDS):
        raise ToolError(f"kind must be one of all, {', '.join(KINDS)}; not {kind!r}.")
    kinds = list(KINDS) if kind == "all" else [kind]
    labels = opt_str(args, "label_selector")
    views = list_workload_views(
        ctx.cluster, where, kinds, label_selector=labels, timeout=ctx.timeout
    )
    what = "workloads (Deployments, StatefulSets, DaemonSets)" if kind == "all" else kind
    if not views:
        missing = "" if labels else missing_namespace(ctx, where)
        return ToolResult(text=f"No {what} in {where.describe()}.{missing}", data=[])
    short = sorted((v for v in views if v.reason), key=lambda v: (not v.short, v.namespace, v.name))
    fine = [v for v in views if not v.reason]
    rows = [v.row() for v in (*short, *fine)]
    head = [
        f"{plural(len(views), 'workload')} in {where.describe()} "
        f"({counts(Counter(v.kind for v in views))}): {len(short)} short of replicas or stuck."
    ]
    room = ctx.budget // 3
    explained = 0
    for v in short:
        if not v.detail:
            continue
        line = (
            f"{v.namespace}/{v.name} ({v.kind}): {v.ready}/{v.desired} ready; {v.reason}; "
            f"{v.detail}"
        )
        if len(line) + 1 > room:
            head.append(
                f"(why the other {sum(1 for w in short if w.detail) - explained} are short: "
                "see diagnose_cluster)"
            )
            break
        head.append(line)
        room -= len(line) + 1
        explained += 1
    everywhere = where.everywhere
    columns = (("NAMESPACE",) if everywhere else ()) + (
        "KIND",
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "REASON",
    )

    def cells(v: WorkloadView) -> tuple[str, ...]:
        front = (v.namespace,) if everywhere else ()
        return (
            *front,
            v.kind,
            v.name,
            f"{v.ready}/{v.desired}",
            str(v.up_to_date),
            str(v.available),
            v.age,
            v.reason,
        )

    listing = Listing(
        noun="workloads",
        head=head,
        columns=columns,
        problems=[cells(v) for v in short],
        problem_keys=[
            f"{v.key} ({v.kind})" if everywhere else f"{v.name} ({v.kind})" for v in short
        ],
        problem_groups=[v.reason.split(", ")[0].split(" ", 1)[-1] for v in short],
        rest=[cells(v) for v in fine],
        rest_group=(lambda row: row[0]) if everywhere else None,
        narrow=(
            "Narrow down: list_deployments with namespace=<ns>, kind, or label_selector; "
            "list_pods with the workload's own selector labels and get_pod for its pods."
        ),
        problem_label="short or stuck",
        rest_label="healthy workloads",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


# ---------------------------------------------------------------------- writes

SCALE_PARAMS = {
    "name": {"type": "string", "description": "Deployment name (from list_deployments)."},
    "namespace": NAMESPACE,
    "replicas": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_REPLICAS,
        "description": "The new desired number of pods (0 stops the app).",
    },
}
RESTART_PARAMS = {
    "name": {"type": "string", "description": "Deployment name (from list_deployments)."},
    "namespace": NAMESPACE,
}


def _deployment_not_found(name: str, namespace: str) -> str:
    return (
        f"deployment {name!r} not found in namespace {namespace!r}; use list_deployments "
        f"(namespace={namespace}, or all_namespaces=true) to find its exact name."
    )


@contextmanager
def _elsewhere(ctx: ToolContext, where: Target, name: str) -> Iterator[None]:
    """Turn a 404 in the defaulted namespace into "it exists in namespace x" (nothing done)."""
    try:
        yield
    except ApiFailure as exc:
        found = (
            write_not_found(ctx, where, "deployment", "deployments", name, group="apps")
            if exc.status == 404
            else None
        )
        if found is None:
            raise
        raise ToolError(found) from None


def scale_deployment(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Set a deployment's replicas through the scale subresource."""
    check_args(args, SCALE_PARAMS, "scale_deployment")
    name = check_name(req_str(args, "name", "scale_deployment"), "deployment name")
    where = target(ctx, args)
    namespace = where.namespace
    replicas = opt_int(args, "replicas", None, 0, MAX_REPLICAS)
    if replicas is None:
        raise ToolError("scale_deployment needs replicas (a whole number from 0).")
    path = api_path("deployments", namespace, name, group="apps", subresource="scale")
    missing = _deployment_not_found(name, namespace)
    cluster = ctx.cluster
    with _elsewhere(ctx, where, name):
        before = cluster.get(path, Scale, timeout=ctx.timeout, not_found=missing)
    old = int(before.spec.get("replicas", 0))
    row = {"namespace": namespace, "name": name, "replicas_before": old, "replicas": replicas}
    if old == replicas:
        return ToolResult(
            text=(
                f"Deployment {namespace}/{name} already wants {plural(replicas, 'replica')}; "
                "nothing changed."
            ),
            data=[row],
        )
    after = msgspec.json.decode(
        cluster.patch(
            path, {"spec": {"replicas": replicas}}, timeout=ctx.timeout, not_found=missing
        ),
        type=Scale,
    )
    now = int(after.spec.get("replicas", replicas))
    row["replicas"] = now
    direction = "up" if now > old else "down"
    text = (
        f"Scaled deployment {namespace}/{name} {direction} from {old} to {plural(now, 'replica')}. "
        f"The controller {'creates' if now > old else 'removes'} pods in the background; check "
        f"with list_deployments namespace={namespace} or list_pods namespace={namespace}."
    )
    return ToolResult(text=text, data=[row])


def restart_deployment(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """``kubectl rollout restart``: stamp the pod template so every pod is replaced, rolling."""
    check_args(args, RESTART_PARAMS, "restart_deployment")
    name = check_name(req_str(args, "name", "restart_deployment"), "deployment name")
    where = target(ctx, args)
    namespace = where.namespace
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    with _elsewhere(ctx, where, name):
        raw = ctx.cluster.patch(
            api_path("deployments", namespace, name, group="apps"),
            patch,
            patch_type="strategic",
            timeout=ctx.timeout,
            not_found=_deployment_not_found(name, namespace),
        )
    item = msgspec.json.decode(raw, type=Workload)
    desired = 1 if item.spec.replicas is None else item.spec.replicas
    text = (
        f"Restarted deployment {namespace}/{name} (rollout restart, {RESTARTED_AT}={stamp}): its "
        f"{plural(desired, 'pod')} are replaced one batch at a time by its rolling update "
        f"strategy. Follow it with list_deployments namespace={namespace}."
    )
    if item.spec.paused:
        text += " Note: the deployment's rollout is paused, so nothing moves until it is resumed."
    row = {"namespace": namespace, "name": name, "restarted_at": stamp, "replicas": desired}
    return ToolResult(text=text, data=[row])


def _describe_scale(args: dict[str, Any]) -> str:
    where = args.get("namespace") or "the default namespace"
    name, replicas = args.get("name", "?"), args.get("replicas", "?")
    return f"Scale deployment {name} in {where} to {replicas} replicas"


def _describe_restart(args: dict[str, Any]) -> str:
    where = args.get("namespace") or "the default namespace"
    return (
        f"Restart deployment {args.get('name', '?')} in {where} (rolling restart of all its pods)"
    )


def workload_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_deployments",
            description="Deployments, StatefulSets, DaemonSets: ready/desired and why.",
            parameters=schema(LIST_PARAMS),
            func=list_deployments,
        ),
        ToolSpec(
            name="scale_deployment",
            description="Set a Deployment's replica count. Needs user approval.",
            parameters=schema(SCALE_PARAMS, ["name", "replicas"]),
            func=scale_deployment,
            writes=True,
            summarize=_describe_scale,
        ),
        ToolSpec(
            name="restart_deployment",
            description=(
                "Rolling restart of a Deployment (kubectl rollout restart): all its pods are "
                "replaced gradually. Needs user approval."
            ),
            parameters=schema(RESTART_PARAMS, ["name"]),
            func=restart_deployment,
            writes=True,
            summarize=_describe_restart,
        ),
    ]
