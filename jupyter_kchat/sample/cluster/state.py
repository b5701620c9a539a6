"""The cluster's state and the helpers every part uses to add to it (names, uids, metadata,
the clock), and the read side: lookups, unhealthy pods, metrics, listeners.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .common import HEALTHY, SAFE_ALPHABET, Key, Obj, rfc3339
from .health import pod_is_healthy
from .metrics import node_metrics, pod_metrics

if TYPE_CHECKING:
    from .catalog import NodeDef, WorkloadDef


Listener = Callable[[str, Key, "Obj | None"], None]
"""Called as ``listener(resource, key, obj)`` after every write; ``obj`` is None on delete."""

RESOURCES = (
    "namespaces",
    "nodes",
    "pods",
    "services",
    "secrets",
    "configmaps",
    "events",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "persistentvolumeclaims",
    "persistentvolumes",
    "endpoints",
    "serviceaccounts",
    "controllerrevisions",
    "jobs",
    "cronjobs",
    "ingresses",
    "ingressclasses",
    "networkpolicies",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "storageclasses",
    "endpointslices",
    "customresourcedefinitions",
    "certificates.cert-manager.io",
    "issuers.cert-manager.io",
    "clusterissuers.cert-manager.io",
)
"""The keys of :attr:`SampleCluster.objects`: built-ins by plural, custom resources plural.group."""


class ClusterState:
    """What every part of :class:`SampleCluster` works on: the objects, the seed's random
    source, the clock and the generator's bookkeeping, with the helpers that add objects."""

    def __init__(
        self,
        pods: int = 60,
        seed: int = 0,
        now: datetime | None = None,
    ) -> None:
        """Empty state on the cluster's clock; :class:`SampleCluster` generates the objects."""
        started = now or datetime.now(timezone.utc).replace(microsecond=0)
        self.seed = seed
        self.now = started.timestamp()
        self.requested_pods = pods
        self._mono = time.monotonic()
        self.rng = random.Random(seed)
        self.revision = 1000
        self.objects: dict[str, dict[Key, Obj]] = {r: {} for r in RESOURCES}
        self._listeners: list[Listener] = []
        self._workloads: dict[tuple[str, str, str], WorkloadDef] = {}
        self._pod_workload: dict[Key, WorkloadDef] = {}
        self._pod_profile: dict[Key, str] = {}
        self._owned: dict[tuple[str, str, str], list[str]] = {}
        self._service_ips: set[str] = set()
        self._log_cache: dict[tuple[str, str, str, bool], list[tuple[float, str]]] = {}
        self.nodes: list[NodeDef] = []
        self._pools: dict[str, list[NodeDef]] = {}
        """Ready nodes by role (and "lost": the NotReady ones); readiness never changes."""
        self.endpoint_slices: dict[Key, str] = {}
        """Each Service's EndpointSlice name (the controller keeps one per Service)."""
        self.fixed_logs: dict[Key, list[tuple[float, str]]] = {}
        """Logs written once at generation (finished Job pods), by pod."""

    # ------------------------------------------------------------------ reading

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """One object, or None."""
        return self.objects[resource].get((namespace, name))

    @property
    def pod_count(self) -> int:
        """How many pods exist now (writes can change it)."""
        return len(self.objects["pods"])

    def clock(self) -> float:
        """Now, on the cluster's clock (``now`` plus the time since it was generated)."""
        return self.now + (time.monotonic() - self._mono)

    def unhealthy_pod_keys(self) -> set[Key]:
        """Pods a person would want to hear about: not ready, not running, or restarting a lot.

        That is: phase Pending/Failed/Unknown, a Ready condition that is not True, a container
        waiting or terminated, 3+ restarts, or a last termination by the OOM killer.
        """
        return {key for key, pod in self.objects["pods"].items() if not pod_is_healthy(pod)}

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(resource, key, obj_or_None)`` after every write."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ generation

    def uid(self) -> str:
        """A fresh object uid from the seed."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        """A generated-name suffix (``generateName``) from the seed."""
        return "".join(self.rng.choices(SAFE_ALPHABET, k=length))

    def ago(self, seconds: float) -> str:
        """The timestamp ``seconds`` before ``now``."""
        return rfc3339(self.now - seconds)

    def meta(
        self,
        name: str,
        namespace: str | None,
        created: float,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        """New object metadata: name, namespace, uid, the next resourceVersion, labels."""
        meta: Obj = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta["uid"] = self.uid()
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        meta["creationTimestamp"] = rfc3339(created)
        if labels:
            meta["labels"] = labels
        if annotations:
            meta["annotations"] = annotations
        return meta

    def store(self, resource: str, obj: Obj) -> Obj:
        """Put a generated object in place (no listeners: use ``commit`` for writes)."""
        meta = obj["metadata"]
        self.objects[resource][(meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def pod_metrics(self, namespace: str | None = None) -> list[Obj]:
        """PodMetrics as metrics-server reports them now (``metrics.k8s.io/v1beta1``)."""
        return pod_metrics(self, namespace)

    def node_metrics(self) -> list[Obj]:
        """NodeMetrics as metrics-server reports them now, for the nodes it can reach."""
        return node_metrics(self)

    def workload_of_pod(self, namespace: str, name: str) -> WorkloadDef | None:
        """The generator's definition behind a pod, which decides its log style."""
        return self._pod_workload.get((namespace, name))

    def profile_of_pod(self, namespace: str, name: str) -> str:
        """How a pod misbehaves ("healthy", "crashloop", "imagepull", "pending", ...)."""
        return self._pod_profile.get((namespace, name), HEALTHY)
