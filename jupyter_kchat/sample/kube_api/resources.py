"""The served resources: built-in kinds as kube-apiserver v1.30 registers them, and custom
resources derived from CustomResourceDefinition objects as apiextensions-apiserver does."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..cluster import Obj

RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_ONLY = ("get", "list")


@dataclass(frozen=True)
class Resource:
    """One served resource at one group/version: its names, scope and what can be done to it."""

    name: str
    singular: str
    kind: str
    group: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    verbs: tuple[str, ...] = RW
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    version: str = "v1"
    storage: str = ""
    """The key of its objects in ``SampleCluster.objects`` ("" for derived ones like metrics)."""
    printer_columns: tuple[Obj, ...] | None = None
    """A custom resource's ``additionalPrinterColumns`` (None for built-ins)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name used in error messages: ``pods``, ``deployments.apps``."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def storage_version_hash(self) -> str:
        """What discovery reports as ``storageVersionHash`` (8 bytes of sha256 of g/v/kind)."""
        digest = hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()


def _r(
    name: str,
    kind: str,
    group: str,
    namespaced: bool,
    short: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
    subresources: tuple[str, ...] = ("status",),
    version: str = "v1",
    categories: tuple[str, ...] = (),
    verbs: tuple[str, ...] = RW,
    singular: str = "",
) -> Resource:
    return Resource(
        name,
        singular or kind.lower(),
        kind,
        group,
        namespaced,
        short,
        fields,
        verbs,
        subresources,
        categories,
        version,
        name,
    )


ALL = ("all",)
POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = tuple(
    f"involvedObject.{k}"
    for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
) + ("reason", "reportingComponent", "source", "type")

BUILTINS: tuple[Resource, ...] = (
    _r("namespaces", "Namespace", "", False, ("ns",), ("status.phase",)),
    _r("nodes", "Node", "", False, ("no",), ("spec.unschedulable",)),
    _r("pods", "Pod", "", True, ("po",), POD_FIELDS, ("log", "status"), categories=ALL),
    _r("services", "Service", "", True, ("svc",), categories=ALL),
    _r("secrets", "Secret", "", True, (), ("type",), ()),
    _r("configmaps", "ConfigMap", "", True, ("cm",), (), ()),
    _r("events", "Event", "", True, ("ev",), EVENT_FIELDS, ()),
    _r("persistentvolumeclaims", "PersistentVolumeClaim", "", True, ("pvc",), ("name",)),
    _r("persistentvolumes", "PersistentVolume", "", False, ("pv",), ("name",)),
    _r("endpoints", "Endpoints", "", True, ("ep",), (), (), singular="endpoints"),
    _r("serviceaccounts", "ServiceAccount", "", True, ("sa",), (), ()),
    _r("deployments", "Deployment", "apps", True, ("deploy",), (), ("scale", "status"), "v1", ALL),
    _r("replicasets", "ReplicaSet", "apps", True, ("rs",), ("status.replicas",), categories=ALL),
    _r("statefulsets", "StatefulSet", "apps", True, ("sts",), categories=ALL),
    _r("daemonsets", "DaemonSet", "apps", True, ("ds",), categories=ALL),
    _r("controllerrevisions", "ControllerRevision", "apps", True, (), (), ()),
    _r("jobs", "Job", "batch", True, (), ("status.successful",), categories=ALL),
    _r("cronjobs", "CronJob", "batch", True, ("cj",), categories=ALL),
    _r("ingresses", "Ingress", "networking.k8s.io", True, ("ing",)),
    _r("ingressclasses", "IngressClass", "networking.k8s.io", False, (), (), ()),
    _r("networkpolicies", "NetworkPolicy", "networking.k8s.io", True, ("netpol",), (), ()),
    _r(
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        "autoscaling",
        True,
        ("hpa",),
        version="v2",
        categories=ALL,
    ),
    _r(
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        "autoscaling",
        True,
        ("hpa",),
        version="v1",
        categories=ALL,
    ),
    _r("poddisruptionbudgets", "PodDisruptionBudget", "policy", True, ("pdb",)),
    _r("storageclasses", "StorageClass", "storage.k8s.io", False, ("sc",), (), ()),
    _r("endpointslices", "EndpointSlice", "discovery.k8s.io", True, (), (), ()),
    _r(
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        False,
        ("crd", "crds"),
    ),
)

METRICS_GROUP = "metrics.k8s.io"
METRICS: tuple[Resource, ...] = (
    Resource(
        "nodes", "", "NodeMetrics", METRICS_GROUP, False, (), (), READ_ONLY, version="v1beta1"
    ),
    Resource("pods", "", "PodMetrics", METRICS_GROUP, True, (), (), READ_ONLY, version="v1beta1"),
)
"""Served by metrics-server as an aggregated API: derived, not stored, get and list only."""

CRDS = "customresourcedefinitions"
BUILTIN_GROUPS = (
    "",
    "apps",
    "autoscaling",
    "batch",
    "networking.k8s.io",
    "policy",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "discovery.k8s.io",
)
"""The order kube-apiserver lists its groups in; custom groups follow by name, metrics last."""


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key of Kubernetes version names (v2 > v1 > v1beta2 > v1alpha1 > other), high first."""
    match = re.fullmatch(r"v(\d+)(?:(beta|alpha)(\d+))?", version)
    if match is None:
        return (0, 0, 0)
    major, level, minor = match.groups()
    return ({None: 3, "beta": 2, "alpha": 1}[level], int(major), int(minor or 0))


def custom_resources(crd: Obj) -> list[Resource]:
    """The served versions of one CRD (none until it is Established, as the real server)."""
    conditions = {
        c.get("type"): c.get("status") for c in crd.get("status", {}).get("conditions", ())
    }
    if conditions.get("Established", "True") != "True":
        return []
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group = spec.get("group", "")
    plural = names.get("plural", "")
    out = []
    for version in spec.get("versions", ()):
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        out.append(
            Resource(
                plural,
                names.get("singular") or names.get("kind", "").lower(),
                names.get("kind", ""),
                group,
                spec.get("scope", "Namespaced") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                (),
                RW,
                tuple(s for s in ("scale", "status") if s in subs),
                tuple(names.get("categories") or ()),
                version["name"],
                f"{plural}.{group}",
                tuple(version.get("additionalPrinterColumns") or ()),
            )
        )
    return out


@dataclass(frozen=True)
class Group:
    """One API group with its served versions, preferred first."""

    name: str
    versions: tuple[str, ...]

    @property
    def preferred(self) -> str:
        return self.versions[0]


class Catalog:
    """Every served resource by (group, version, plural), rebuilt when a CRD changes."""

    def __init__(self, crds: Iterable[Obj], metrics: bool) -> None:
        self.metrics = metrics
        self.refresh(crds)

    def refresh(self, crds: Iterable[Obj]) -> None:
        resources = list(BUILTINS)
        for crd in sorted(crds, key=lambda c: c["metadata"]["name"]):
            resources.extend(custom_resources(crd))
        if self.metrics:
            resources.extend(METRICS)
        self.by_address: dict[tuple[str, str, str], Resource] = {
            (r.group, r.version, r.name): r for r in resources
        }
        order: dict[str, list[str]] = {}
        for r in resources:
            versions = order.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)

        def rank(name: str) -> tuple[int, str]:
            if name in BUILTIN_GROUPS:
                return BUILTIN_GROUPS.index(name), ""
            return (len(BUILTIN_GROUPS) + (name == METRICS_GROUP), name)

        self.groups = [
            Group(name, tuple(sorted(order[name], key=version_priority, reverse=True)))
            for name in sorted(order, key=rank)
        ]
        self.storages = {r.storage for r in resources if r.storage}

    def lookup(self, group: str, version: str, name: str) -> Resource | None:
        return self.by_address.get((group, version, name))

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def in_version(self, group: str, version: str) -> list[Resource]:
        """The resources of one group version, sorted by name as discovery lists them."""
        found = [r for (g, v, _), r in self.by_address.items() if g == group and v == version]
        return sorted(found, key=lambda r: r.name)

    def preferred(self, storage: str) -> Resource | None:
        """The resource at the preferred version of its group that serves ``storage``."""
        candidates = [r for r in self.by_address.values() if r.storage == storage]
        if not candidates:
            return None
        group = self.group(candidates[0].group)
        assert group is not None
        return next((r for r in candidates if r.version == group.preferred), candidates[0])


Extract = Callable[[Obj], str]


def _path(*keys: str) -> Extract:
    def get(obj: Obj) -> str:
        node = obj
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, bool):
            return "true" if node else "false"
        return "" if node is None else str(node)

    return get


FIELD_VALUES: dict[str, dict[str, Extract]] = {
    "pods": {
        **{f: _path(*f.split(".")) for f in POD_FIELDS if f != "spec.hostNetwork"},
        "spec.hostNetwork": lambda o: "true" if o["spec"].get("hostNetwork") else "false",
    },
    "events": {
        **{f: _path(*f.split(".")) for f in EVENT_FIELDS if f != "source"},
        "source": _path("source", "component"),
    },
    "secrets": {"type": _path("type")},
    "nodes": {
        "spec.unschedulable": lambda o: "true" if o["spec"].get("unschedulable") else "false"
    },
    "namespaces": {"status.phase": _path("status", "phase")},
    "replicasets": {"status.replicas": lambda o: str(o.get("status", {}).get("replicas", 0))},
    "persistentvolumeclaims": {"name": _path("metadata", "name")},
    "persistentvolumes": {"name": _path("metadata", "name")},
    "jobs": {"status.successful": lambda o: str(o.get("status", {}).get("succeeded", 0))},
}


def field_values(resource: Resource, obj: Obj) -> dict[str, str]:
    """The values field selectors match on, extracted once per object version."""
    meta = obj["metadata"]
    out = {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", "")}
    for name, extract in FIELD_VALUES.get(resource.storage, {}).items():
        out[name] = extract(obj)
    return out


def builtin(name: str) -> Resource:
    """A built-in resource at its preferred version, by plural name."""
    return next(r for r in BUILTINS if r.name == name)
