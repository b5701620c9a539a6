"""What diagnose reads: every list it needs, in parallel, with the user's RBAC taken as it is.

The lists are independent, so a small thread pool reads them at once (the tool already runs
in a worker thread; the API server and the decode of the big pod list overlap). A user whose
RBAC allows some namespaces only gets the cluster-wide reads refused (403): those kinds are then
read namespace by namespace, for the namespaces the user can read (the chat's first), and the
result says once what could not be read. A kind the cluster does not serve (404) is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..base import ToolContext
from ..common import Scope
from ..discovery import Kind, discovery
from ..errors import ToolError
from ..events import EventGroup, read_events
from ..health import PodView, view_pod
from ..kube import ApiFailure, api_path
from ..models import Endpoints, Node, Pod, Service, Workload
from ..nodes import NodeView, view_node
from ..readable import fallback_namespaces
from ..workloads import KINDS, WorkloadView, explain_short, view_workload
from .kinds import (
    Autoscaler,
    Conditioned,
    CronJob,
    DisruptionBudget,
    Ingress,
    Job,
    Named,
    PersistentVolumeClaim,
    StorageClass,
)
from .notes import Failure, failure_notes, forbidden

READERS = 4
"""Lists read at once: enough to overlap the round trips, few enough for a busy API server."""
MAX_CUSTOM_KINDS = 20
"""Custom resource kinds checked for a False Ready/Available condition (the first served)."""
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "storage.k8s.io",
        "discovery.k8s.io",
        "apiextensions.k8s.io",
        "metrics.k8s.io",
        "rbac.authorization.k8s.io",
        "authorization.k8s.io",
        "authentication.k8s.io",
        "admissionregistration.k8s.io",
        "apiregistration.k8s.io",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "node.k8s.io",
        "scheduling.k8s.io",
        "resource.k8s.io",
        "internal.apiserver.k8s.io",
        "storagemigration.k8s.io",
    }
)
"""API groups of Kubernetes itself; every other served group holds custom resources."""


@dataclass(frozen=True)
class Source:
    """One list diagnose reads: resource, group/version, item type, and whether namespaced."""

    resource: str
    item: Any
    group: str = ""
    version: str = "v1"
    namespaced: bool = True

    def path(self, namespace: str | None) -> str:
        return api_path(
            self.resource,
            namespace if self.namespaced else None,
            group=self.group,
            version=self.version,
        )


NAMESPACED = (
    Source("pods", Pod),
    Source("deployments", Workload, "apps"),
    Source("statefulsets", Workload, "apps"),
    Source("daemonsets", Workload, "apps"),
    Source("jobs", Job, "batch"),
    Source("cronjobs", CronJob, "batch"),
    Source("persistentvolumeclaims", PersistentVolumeClaim),
    Source("services", Service),
    Source("endpoints", Endpoints),
    Source("ingresses", Ingress, "networking.k8s.io"),
    Source("horizontalpodautoscalers", Autoscaler, "autoscaling", "v2"),
    Source("poddisruptionbudgets", DisruptionBudget, "policy"),
)
CLUSTER = (
    Source("nodes", Node, namespaced=False),
    Source("storageclasses", StorageClass, "storage.k8s.io", namespaced=False),
    Source("ingressclasses", Named, "networking.k8s.io", namespaced=False),
)
EVENTS = "events"
DISCOVERY = "the served kinds (API discovery), so no custom resources were checked"


@dataclass
class Observed:
    """Everything diagnose read. ``lists[resource]`` is absent when it could not be read."""

    lists: dict[str, list[Any]]
    pods: list[PodView]
    nodes: list[NodeView]
    workloads: list[WorkloadView]
    events: list[EventGroup]
    custom: list[tuple[Kind, list[Conditioned]]]
    namespaces: list[str] | None
    fell_back: bool
    notes: list[str] = field(default_factory=list)

    def items(self, resource: str) -> list[Any]:
        return self.lists.get(resource, [])

    def readable(self, resource: str) -> bool:
        return resource in self.lists


class _Reads:
    """Parallel list reads, each into ``lists`` or ``failures``."""

    def __init__(self, ctx: ToolContext, pool: ThreadPoolExecutor) -> None:
        self.ctx = ctx
        self.pool = pool
        self.jobs: list[tuple[str, str | None, Future[list[Any]]]] = []

    def submit(self, key: str, namespace: str | None, read: Callable[[], list[Any]]) -> None:
        self.jobs.append((key, namespace, self.pool.submit(read)))

    def source(self, source: Source, namespace: str | None) -> None:
        cluster, timeout = self.ctx.cluster, self.ctx.timeout

        def read() -> list[Any]:
            return cluster.list_all(source.path(namespace), source.item, timeout=timeout).items

        self.submit(source.resource, namespace, read)

    def events(self, namespace: str | None) -> None:
        cluster, timeout = self.ctx.cluster, self.ctx.timeout
        where = Scope(namespace)
        self.submit(
            EVENTS,
            namespace,
            lambda: read_events(cluster, where, warnings_only=True, timeout=timeout),
        )

    def custom(self, kind: Kind, namespace: str | None) -> None:
        cluster, timeout = self.ctx.cluster, self.ctx.timeout
        where = namespace if kind.namespaced else None

        def read() -> list[Any]:
            return cluster.list_all(kind.path(where), Conditioned, timeout=timeout).items

        self.submit(_custom_key(kind), where, read)

    def collect(
        self,
    ) -> tuple[dict[str, list[Any]], list[Failure], set[tuple[str, str | None]]]:
        """Every submitted read's items by key, the failures, and which (key, namespace) worked."""
        lists: dict[str, list[Any]] = {}
        failures: list[Failure] = []
        ok: set[tuple[str, str | None]] = set()
        for key, namespace, job in self.jobs:
            try:
                items = job.result()
            except ApiFailure as exc:
                if exc.status != 404:
                    failures.append(Failure(key, namespace, exc))
                continue
            except ToolError as exc:
                failures.append(Failure(key, namespace, exc))
                continue
            lists.setdefault(key, []).extend(items)
            ok.add((key, namespace))
        self.jobs = []
        return lists, failures, ok


def _custom_kinds(ctx: ToolContext) -> list[Kind]:
    kinds = discovery(ctx.cluster).kinds(ctx.timeout)
    custom = [
        k for k in kinds if k.group not in BUILTIN_GROUPS and "list" in k.verbs and k.has_status
    ]
    return custom[:MAX_CUSTOM_KINDS]


def observe_cluster(ctx: ToolContext, namespace: str | None) -> Observed:
    """Read everything in scope (one namespace, or all; falling back to readable namespaces)."""
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="kchat-diagnose") as pool:
        reads = _Reads(ctx, pool)
        kinds_job = pool.submit(_custom_kinds, ctx)
        for source in NAMESPACED:
            reads.source(source, namespace)
        reads.events(namespace)
        for source in CLUSTER:
            reads.source(source, None)
        unlisted: list[Failure] = []
        try:
            custom_kinds = kinds_job.result()
        except ToolError as exc:
            custom_kinds = []
            unlisted.append(Failure(DISCOVERY, None, exc))
        for kind in custom_kinds:
            reads.custom(kind, namespace)
        lists, failures, _ok = reads.collect()
        failures += unlisted
        denied = [
            f
            for f in failures
            if f.namespace is None and forbidden(f) and _namespaced(f.resource, custom_kinds)
        ]
        if namespace is not None or not denied:
            namespaces = [namespace] if namespace else None
            return _assemble(lists, failures, custom_kinds, namespaces, set())
        retry = {f.resource for f in denied}
        candidates = fallback_namespaces(ctx)
        for candidate in candidates:
            for source in NAMESPACED:
                if source.resource in retry:
                    reads.source(source, candidate)
            if EVENTS in retry:
                reads.events(candidate)
            for kind in custom_kinds:
                if _custom_key(kind) in retry:
                    reads.custom(kind, candidate)
        more, later, ok = reads.collect()
    for key, items in more.items():
        lists.setdefault(key, []).extend(items)
    readable = [ns for ns in candidates if any((key, ns) in ok for key in retry)]
    kept = [f for f in failures if f not in denied]
    kept += [f for f in denied if not any((f.resource, ns) in ok for ns in readable)]
    kept.extend(f for f in later if f.namespace in readable)
    return _assemble(lists, kept, custom_kinds, readable, retry if readable else {""})


def _custom_key(kind: Kind) -> str:
    return f"custom:{kind.qualified}"


def _namespaced(resource: str, custom: list[Kind]) -> bool:
    if resource == EVENTS or any(s.resource == resource for s in NAMESPACED):
        return True
    return any(_custom_key(k) == resource and k.namespaced for k in custom)


def _assemble(
    lists: dict[str, list[Any]],
    failures: list[Failure],
    custom_kinds: list[Kind],
    namespaces: list[str] | None,
    retried: set[str],
) -> Observed:
    """Classify what was read; ``retried`` names the kinds read namespace by namespace
    (``{""}`` when that was tried and no namespace allowed it)."""
    now = time.time()
    pods = [view_pod(pod, now) for pod in lists.get("pods", [])]
    nodes = [view_node(node, None, now) for node in lists.get("nodes", [])]
    workloads = [
        view_workload(KINDS[resource], item, now)
        for resource in KINDS
        for item in lists.get(resource, [])
    ]
    explain_short([w for w in workloads if w.short], pods)
    workloads.sort(key=lambda w: (w.namespace, w.kind, w.name))
    custom = [
        (kind, lists[_custom_key(kind)]) for kind in custom_kinds if _custom_key(kind) in lists
    ]
    if not pods and not nodes and not workloads and "pods" not in lists and "nodes" not in lists:
        raise ToolError(
            "diagnose_cluster could not read anything. "
            + " ".join(failure_notes(failures, namespaces, retried))
        )
    return Observed(
        lists=lists,
        pods=pods,
        nodes=nodes,
        workloads=workloads,
        events=lists.get(EVENTS, []),
        custom=custom,
        namespaces=namespaces,
        fell_back=bool(retried),
        notes=failure_notes(failures, namespaces, retried),
    )
