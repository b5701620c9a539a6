"""A realistic sample Kubernetes cluster as plain dicts in API JSON shape, deterministic by seed.

The objects are what a real API server returns (namespaces, nodes, workloads with their
ReplicaSets and Pods, services, secrets, config maps, events) so the official ``kubernetes``
client can deserialize them, and a chosen set of them is broken in the ways people ask a chat
about: CrashLoopBackOff, ImagePullBackOff, unschedulable, OOMKilled, evicted, a NotReady node.
The cluster also plays the controllers and the kubelet for the few writes the emulation
supports (scaling, rollout restarts, pod deletion) and generates container logs on demand.
Timestamps are relative to ``now``; names, uids, states and logs depend only on the seed.
"""

from __future__ import annotations

import copy
import itertools
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import orjson

from . import batch
from .accounts import make_accounts
from .autoscaling import HPA_PINNED, hpa_metric_error, make_autoscaling
from .batch import BACKOFF_LIMIT_MESSAGE, BACKUP_ERROR, make_batch
from .certmanager import CERT_FAILURE, CERT_NO_SECRET, make_cert_manager
from .common import (
    CRASHLOOP,
    DEFAULT_TOLERATIONS,
    EVICTED,
    HEALTHY,
    IMAGEPULL,
    JOB_FAILED,
    K8S_VERSION,
    NODE_LOST,
    OOM,
    OOM_CRASHLOOP,
    PENDING,
    SAFE_ALPHABET,
    Key,
    Obj,
    b64,
    clone,
    image_id,
    owner_ref,
    parse_quantity,
    parse_rfc3339,
    rfc3339,
    template_hash,
)
from .helm import HELM_PAYLOAD_MARKER, make_helm
from .metrics import node_metrics, pod_metrics
from .networking import (
    INGRESS_HOST,
    MISSING_BACKEND,
    ORPHAN_SERVICE,
    make_networking,
    sync_endpoints,
)
from .registry import PRIVATE_IMAGE, pull_error
from .revisions import make_revisions
from .scale import break_workload, broken_plan, check_extra, default_breakage, make_extra
from .storage import (
    CLAIM_LOST,
    DEFAULT_STORAGE_CLASS,
    MISSING_STORAGE_CLASS,
    PROVISIONING_FAILED,
    make_storage,
)

__all__ = [
    "BACKOFF_LIMIT_MESSAGE",
    "BACKUP_ERROR",
    "BASE_NAMESPACES",
    "BEARER_TOKEN",
    "CERT_FAILURE",
    "CERT_NO_SECRET",
    "CLAIM_LOST",
    "CONFIG_API_KEY",
    "CONFIG_DB_PASSWORD",
    "CRASHLOOP",
    "DB_PASSWORD",
    "DEFAULT_STORAGE_CLASS",
    "EVICTED",
    "HEALTHY",
    "HELM_PAYLOAD_MARKER",
    "HPA_PINNED",
    "IMAGEPULL",
    "INGRESS_HOST",
    "JOB_FAILED",
    "K8S_VERSION",
    "MISSING_BACKEND",
    "MISSING_STORAGE_CLASS",
    "NODE_LOST",
    "OOM",
    "OOM_CRASHLOOP",
    "ORPHAN_SERVICE",
    "PAYMENTS_PANIC",
    "PENDING",
    "PRIVATE_IMAGE",
    "PROVISIONING_FAILED",
    "RESOURCES",
    "TYPO_IMAGE",
    "ContainerDef",
    "Key",
    "Listener",
    "LogUnavailable",
    "NodeDef",
    "Obj",
    "SampleCluster",
    "WorkloadDef",
    "hpa_metric_error",
    "kubelet_unreachable",
    "parse_quantity",
    "parse_rfc3339",
    "pull_error",
    "rfc3339",
    "template_hash",
]

Listener = Callable[[str, Key, "Obj | None"], None]
"""Called as ``listener(resource, key, obj)`` after every write; ``obj`` is None on delete."""

BASE_NAMESPACES = ("default", "kube-system", "payments", "shop", "data", "monitoring", "ml")
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


DB_PASSWORD = "hunter2-payments-db"
CONFIG_DB_PASSWORD = "sh0p-Cfg-db-2025"
"""The database password written in plain text into ``shop/app-config``'s ``DATABASE_URL``."""
CONFIG_API_KEY = "pk_live_kchatSampleConfigKey7d1e"
"""The ``PAYMENT_API_KEY`` in ``shop/app-config``: a secret kept in a ConfigMap by mistake."""
BEARER_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYXltZW50cy1hcGkiLCJzY29wZSI6ImNoYXJnZXMi"
    "fQ.q8Xw4vJ0bZ2nH1mR7cT5yL3kP9sD6fA0eG2hI4jK1lM"
)
PAYMENTS_PANIC = (
    "panic: failed to connect to database: dial tcp 10.0.3.7:5432: connect: connection refused"
)
TYPO_IMAGE = "registry.example.com/shop/frontend:v2.3.1-typo"
EVICTION_MESSAGE = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 85432Ki."
)
NODE_LOST_MESSAGE = "Kubelet stopped posting node status."
FAKE_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
    "cm5ldGVzMB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAwMFowFTETMBEGA1UE\n"
    "AxMKa3ViZXJuZXRlczCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAMq2\n"
    "-----END CERTIFICATE-----\n"
)


LOG_OPTIONS = (
    "follow",
    "limitBytes",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "tailLines",
    "timestamps",
)
"""The log options the API server forwards to the kubelet, in the order Go encodes them."""


def kubelet_unreachable(
    node_ip: str, ns: str, pod: str, container: str, params: Mapping[str, str] | None
) -> str:
    """The API server's text when it cannot dial a node's kubelet for a pod's logs."""
    query = urlencode([(k, params[k]) for k in LOG_OPTIONS if params and params.get(k)])
    url = f"https://{node_ip}:10250/containerLogs/{ns}/{pod}/{container}"
    return (
        f'Get "{url}{"?" + query if query else ""}": dial tcp {node_ip}:10250: '
        "connect: no route to host"
    )


class LogUnavailable(Exception):
    """The kubelet cannot serve the requested logs; carries the API status code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ContainerDef:
    """One container of a workload's pod template, and what its logs look like."""

    name: str
    image: str
    port: int | None = 8080
    port_name: str = "http"
    protocol: str = "TCP"
    cpu: str | None = "100m"
    memory: str = "128Mi"
    memory_limit: str | None = "256Mi"
    extra_limits: dict[str, str] = field(default_factory=dict)
    env: list[Obj] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    probe: bool = True
    log_style: str = "http"

    def spec(self) -> Obj:
        """The container as it appears in a pod spec."""
        out: Obj = {"name": self.name, "image": self.image}
        if self.args:
            out["args"] = list(self.args)
        if self.port is not None:
            out["ports"] = [
                {"name": self.port_name, "containerPort": self.port, "protocol": self.protocol}
            ]
        if self.env:
            out["env"] = clone(self.env)
        limits = dict(self.extra_limits)
        if self.memory_limit:
            limits["memory"] = self.memory_limit
        requests = {"cpu": self.cpu} if self.cpu else {}
        resources: Obj = {"requests": {**requests, "memory": self.memory}}
        if limits:
            resources["limits"] = limits
        out["resources"] = resources
        if self.probe and self.port is not None:
            out["readinessProbe"] = {
                "httpGet": {"path": "/healthz", "port": self.port_name, "scheme": "HTTP"},
                "periodSeconds": 10,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 3,
            }
        out["terminationMessagePath"] = "/dev/termination-log"
        out["terminationMessagePolicy"] = "File"
        out["imagePullPolicy"] = "IfNotPresent"
        return out


@dataclass
class WorkloadDef:
    """A Deployment, StatefulSet or DaemonSet to generate, with how its pods behave."""

    namespace: str
    name: str
    containers: list[ContainerDef]
    replicas: int = 1
    kind: str = "Deployment"
    profile: str = HEALTHY
    service: str | None = "ClusterIP"
    age_days: float = 30.0
    revision: int = 1
    old_images: tuple[str, ...] = ()
    old_env: dict[str, str] = field(default_factory=dict)
    """Env values of the main container before the current revision changed them."""
    change_causes: tuple[str, ...] = ()
    """``kubernetes.io/change-cause`` of each revision, oldest first."""
    strategy: str = "RollingUpdate"
    init_containers: list[ContainerDef] = field(default_factory=list)
    tolerations: list[Obj] = field(default_factory=list)
    node_role: str = "worker"
    host_network: bool = False
    priority_class: str | None = None
    image_pull_secret: str | None = None
    extra_labels: dict[str, str] = field(default_factory=dict)
    last_applied: bool = False
    service_ip: str | None = None
    service_selector: dict[str, str] | None = None


@dataclass
class NodeDef:
    """A node's identity and health, used to place pods and word scheduler messages."""

    name: str
    index: int
    ip: str
    zone: str
    role: str
    ready: bool = True
    memory_pressure: bool = False
    next_ip: int = 2
    pods: int = 0

    @property
    def taints(self) -> list[Obj]:
        taints: list[Obj] = []
        if self.role == "gpu":
            taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
        if self.memory_pressure:
            taints.append({"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"})
        if not self.ready:
            taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"})
            taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"})
        return taints

    def pod_ip(self) -> str:
        """The next pod IP out of this node's /24 pod CIDR."""
        self.next_ip = self.next_ip % 253 + 1 if self.next_ip >= 254 else self.next_ip + 1
        return f"10.{244 + self.index // 256}.{self.index % 256}.{self.next_ip}"


def _env(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def _secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _base_workloads() -> list[WorkloadDef]:
    """The hand-written core of the cluster, including every named broken workload."""
    reg = "registry.example.com"
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    everywhere = {"operator": "Exists"}
    return [
        WorkloadDef(
            "kube-system",
            "coredns",
            [
                ContainerDef(
                    "coredns",
                    "registry.k8s.io/coredns/coredns:v1.11.1",
                    port=53,
                    port_name="dns",
                    protocol="UDP",
                    memory="70Mi",
                    memory_limit="170Mi",
                    args=["-conf", "/etc/coredns/Corefile"],
                    probe=False,
                    log_style="dns",
                ),
            ],
            replicas=2,
            service="ClusterIP",
            service_ip="10.0.0.10",
            age_days=180,
            priority_class="system-cluster-critical",
            tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"}],
            extra_labels={"k8s-app": "kube-dns"},
        ),
        WorkloadDef(
            "kube-system",
            "metrics-server",
            [
                ContainerDef(
                    "metrics-server",
                    "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
                    port=10250,
                    port_name="https",
                    memory="200Mi",
                    memory_limit=None,
                    probe=False,
                    log_style="klog",
                ),
            ],
            age_days=180,
            priority_class="system-cluster-critical",
        ),
        WorkloadDef(
            "kube-system",
            "kube-proxy",
            [
                ContainerDef(
                    "kube-proxy",
                    f"registry.k8s.io/kube-proxy:{K8S_VERSION}",
                    port=None,
                    memory="50Mi",
                    memory_limit=None,
                    log_style="klog",
                ),
            ],
            kind="DaemonSet",
            service=None,
            age_days=180,
            host_network=True,
            tolerations=[everywhere],
            priority_class="system-node-critical",
        ),
        WorkloadDef(
            "default",
            "web",
            [
                ContainerDef("nginx", "nginx:1.25.5", port=80, memory="64Mi", log_style="nginx"),
            ],
            replicas=2,
            age_days=60,
        ),
        WorkloadDef(
            "payments",
            "payments-api",
            [
                ContainerDef(
                    "api",
                    f"{reg}/payments/api:1.9.0",
                    cpu=None,
                    memory="256Mi",
                    memory_limit="512Mi",
                    env=[
                        _env(
                            "DATABASE_URL",
                            "postgres://payments:S3cr3tP4ss@postgres.data:5432/payments",
                        ),
                        _env("DATABASE_PASSWORD", DB_PASSWORD),
                        _secret_env("STRIPE_API_KEY", "payments-stripe", "api-key"),
                        _env("LOG_LEVEL", "debug"),
                    ],
                    log_style="payments",
                ),
            ],
            replicas=3,
            profile=CRASHLOOP,
            age_days=45,
            revision=3,
            old_images=(f"{reg}/payments/api:1.8.1", f"{reg}/payments/api:1.8.2"),
            last_applied=True,
        ),
        WorkloadDef(
            "payments",
            "payments-webhooks",
            [
                ContainerDef("webhooks", f"{reg}/payments/webhooks:2.0.4", log_style="http"),
            ],
            replicas=2,
            age_days=45,
        ),
        WorkloadDef(
            "shop",
            "frontend",
            [
                ContainerDef("frontend", TYPO_IMAGE, memory="128Mi", log_style="http"),
            ],
            replicas=2,
            profile=IMAGEPULL,
            service="LoadBalancer",
            age_days=90,
            revision=7,
            old_images=(f"{reg}/shop/frontend:v2.3.0",),
            strategy="Recreate",
            image_pull_secret="regcred",
        ),
        WorkloadDef(
            "default",
            "docs",
            [ContainerDef("docs", f"{reg}/default/docs:1.12.0", memory="64Mi", log_style="http")],
            replicas=1,
            age_days=70,
        ),
        WorkloadDef(
            "payments",
            "payments-exporter",
            [ContainerDef("exporter", PRIVATE_IMAGE, port=9100, port_name="metrics")],
            replicas=1,
            profile=IMAGEPULL,
            service=None,
            age_days=6,
        ),
        WorkloadDef(
            "shop",
            "cart",
            [
                ContainerDef("cart", f"{reg}/shop/cart:1.4.2", log_style="http"),
            ],
            replicas=2,
            age_days=90,
        ),
        WorkloadDef(
            "shop",
            "checkout",
            [
                ContainerDef(
                    "checkout",
                    f"{reg}/shop/checkout:v1.5.1",
                    env=[_env("PAYMENT_TIMEOUT_MS", "5000")],
                    log_style="http",
                ),
                ContainerDef(
                    "log-shipper",
                    "fluent/fluent-bit:3.0.7",
                    port=2020,
                    port_name="metrics",
                    memory="32Mi",
                    memory_limit="64Mi",
                    probe=False,
                    log_style="fluentbit",
                ),
            ],
            replicas=4,
            age_days=90,
            revision=3,
            old_images=(f"{reg}/shop/checkout:v1.4.0", f"{reg}/shop/checkout:v1.5.0"),
            old_env={"PAYMENT_TIMEOUT_MS": "30000"},
            change_causes=(
                "kubectl apply --filename=deploy/checkout.yaml --record=true",
                f"kubectl set image deployment/checkout checkout={reg}/shop/checkout:v1.5.0"
                " --record=true",
                "kubectl apply --filename=deploy/checkout.yaml --record=true",
            ),
        ),
        WorkloadDef(
            "data",
            "postgres",
            [
                ContainerDef(
                    "postgres",
                    "postgres:16.3",
                    port=5432,
                    port_name="tcp-postgres",
                    cpu="500m",
                    memory="1Gi",
                    memory_limit="2Gi",
                    probe=False,
                    env=[
                        _secret_env(
                            "POSTGRES_PASSWORD", "postgres-credentials", "postgres-password"
                        )
                    ],
                    log_style="postgres",
                ),
                ContainerDef(
                    "metrics",
                    "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
                    port=9187,
                    port_name="metrics",
                    memory="32Mi",
                    memory_limit="64Mi",
                    probe=False,
                    log_style="klog",
                ),
            ],
            kind="StatefulSet",
            replicas=1,
            age_days=200,
            service_ip="10.0.3.7",
            service_selector={"app": "postgresql"},
            init_containers=[
                ContainerDef(
                    "init-permissions",
                    "busybox:1.36",
                    port=None,
                    memory="16Mi",
                    memory_limit=None,
                    args=["sh", "-c", "chown -R 999:999 /var/lib/postgresql"],
                )
            ],
        ),
        WorkloadDef(
            "data",
            "etl-worker",
            [
                ContainerDef(
                    "etl-worker",
                    f"{reg}/data/etl-worker:3.2.0",
                    port=None,
                    cpu="2",
                    memory="48Gi",
                    memory_limit="48Gi",
                    log_style="worker",
                ),
            ],
            replicas=2,
            profile=PENDING,
            service=None,
            age_days=12,
            revision=2,
            old_images=(f"{reg}/data/etl-worker:3.1.9",),
        ),
        WorkloadDef(
            "monitoring",
            "node-exporter",
            [
                ContainerDef(
                    "node-exporter",
                    "quay.io/prometheus/node-exporter:v1.8.1",
                    port=9100,
                    port_name="metrics",
                    memory="30Mi",
                    memory_limit="60Mi",
                    probe=False,
                    log_style="promlog",
                ),
            ],
            kind="DaemonSet",
            service="ClusterIP",
            age_days=150,
            host_network=True,
            tolerations=[everywhere],
        ),
        WorkloadDef(
            "monitoring",
            "prometheus",
            [
                ContainerDef(
                    "prometheus",
                    "quay.io/prometheus/prometheus:v2.53.0",
                    port=9090,
                    port_name="web",
                    cpu="500m",
                    memory="1Gi",
                    memory_limit="4Gi",
                    log_style="promlog",
                ),
                ContainerDef(
                    "config-reloader",
                    "quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0",
                    port=8080,
                    port_name="reloader-web",
                    memory="25Mi",
                    memory_limit="50Mi",
                    probe=False,
                    log_style="promlog",
                ),
            ],
            replicas=1,
            profile=EVICTED,
            age_days=150,
        ),
        WorkloadDef(
            "monitoring",
            "grafana",
            [
                ContainerDef(
                    "grafana",
                    "grafana/grafana:11.1.0",
                    port=3000,
                    env=[
                        _secret_env("GF_SECURITY_ADMIN_PASSWORD", "grafana-admin", "admin-password")
                    ],
                    log_style="klog",
                ),
            ],
            age_days=150,
        ),
        WorkloadDef(
            "monitoring",
            "kube-state-metrics",
            [
                ContainerDef(
                    "kube-state-metrics",
                    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0",
                    port=8080,
                    memory="64Mi",
                    log_style="klog",
                ),
            ],
            age_days=150,
        ),
        WorkloadDef(
            "ml",
            "trainer",
            [
                ContainerDef(
                    "trainer",
                    f"{reg}/ml/trainer:0.14.2",
                    port=None,
                    cpu="4",
                    memory="12Gi",
                    memory_limit="16Gi",
                    extra_limits={"nvidia.com/gpu": "1"},
                    env=[_env("BATCH_SIZE", "256"), _env("EPOCHS", "40")],
                    log_style="trainer",
                ),
            ],
            replicas=2,
            profile=OOM,
            service=None,
            age_days=3,
            node_role="gpu",
            tolerations=[gpu_toleration],
        ),
        WorkloadDef(
            "ml",
            "model-server",
            [
                ContainerDef(
                    "model-server",
                    f"{reg}/ml/model-server:2.1.0",
                    cpu="1",
                    memory="2Gi",
                    memory_limit="4Gi",
                    log_style="http",
                ),
            ],
            replicas=2,
            age_days=20,
        ),
    ]


FILLER_APPS: dict[str, tuple[str, ...]] = {
    "default": ("hello", "status-page"),
    "shop": ("catalog", "search", "recommendations", "inventory", "reviews", "shipping"),
    "payments": ("ledger", "fraud-check", "invoices", "refunds"),
    "data": ("kafka-connect", "airflow-web", "airflow-scheduler", "dbt-runner"),
    "monitoring": ("loki", "tempo", "blackbox-exporter"),
    "ml": ("feature-store", "notebook-gateway", "embeddings"),
}
TEAM_APPS = (
    "api",
    "web",
    "worker",
    "cache",
    "scheduler",
    "gateway",
    "auth",
    "notifier",
    "indexer",
    "reporter",
    "sync",
    "uploader",
    "billing",
    "search",
    "admin",
    "exporter",
)
WORKER_STYLES = ("worker", "scheduler", "indexer", "reporter", "sync", "uploader", "notifier")


def _filler(namespace: str, app: str, replicas: int, rng: random.Random) -> WorkloadDef:
    """A healthy, ordinary deployment that makes up the bulk of a big cluster."""
    style = "worker" if any(w in app for w in WORKER_STYLES) else "http"
    version = f"{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    image = f"registry.example.com/{namespace}/{app}:{version}"
    container = ContainerDef(
        app if len(app) < 20 else "app",
        image,
        port=None if style == "worker" else 8080,
        cpu=rng.choice(("50m", "100m", "250m", "500m")),
        memory=rng.choice(("64Mi", "128Mi", "256Mi", "512Mi")),
        memory_limit=rng.choice(("256Mi", "512Mi", "1Gi")),
        log_style=style,
    )
    return WorkloadDef(
        namespace,
        app,
        [container],
        replicas=replicas,
        service=None if style == "worker" else "ClusterIP",
        age_days=rng.uniform(2, 120),
        revision=rng.randint(1, 6),
    )


class SampleCluster:
    """The sample cluster's objects, keyed by resource and (namespace, name).

    ``objects[resource][key]`` holds each object in the exact JSON shape the API serves
    (``kind`` and ``apiVersion`` first). Mutate it only through the write methods, which keep
    ReplicaSets, Pods, statuses and events consistent and tell the listeners.
    """

    def __init__(
        self,
        pods: int = 60,
        seed: int = 0,
        now: datetime | None = None,
        broken: int | None = None,
        extra: Mapping[str, int] | None = None,
    ) -> None:
        """Generate about ``pods`` pods; ``broken`` and ``extra`` are the scale knobs (see
        :mod:`.scale`): about that many broken pods, and that many filler objects per kind."""
        check_extra(extra or {})
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
        self._generate(pods, broken)
        make_extra(self, extra or {})

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
        return {key for key, pod in self.objects["pods"].items() if not _pod_is_healthy(pod)}

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(resource, key, obj_or_None)`` after every write."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ generation

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choices(SAFE_ALPHABET, k=length))

    def ago(self, seconds: float) -> str:
        return rfc3339(self.now - seconds)

    def meta(
        self,
        name: str,
        namespace: str | None,
        created: float,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
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
        meta = obj["metadata"]
        self.objects[resource][(meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def _generate(self, pods: int, broken: int | None) -> None:
        node_count = max(4, round(pods / 100))
        self._make_nodes(node_count)
        base = _base_workloads()
        fixed = sum(w.replicas for w in base if w.kind != "DaemonSet") + 1 + batch.POD_COUNT
        fixed += node_count * sum(1 for w in base if w.kind == "DaemonSet")
        remaining = max(0, pods - fixed)
        teams = max(0, round((pods - 600) / 400)) if pods >= 1000 else 0
        namespaces = list(BASE_NAMESPACES) + [f"team-{i:02d}" for i in range(teams)]
        for ns in namespaces:
            self._make_namespace(ns, 400 if ns in BASE_NAMESPACES else self.rng.uniform(10, 300))
        team_names = [f"team-{i:02d}" for i in range(teams)]
        if broken is None:
            plan = {ns: default_breakage(i) for i, ns in enumerate(team_names)}
        else:
            fixed_broken = sum(w.replicas for w in base if w.profile != HEALTHY)
            plan = broken_plan(
                max(0, broken - fixed_broken - batch.FAILED_PODS), team_names or list(FILLER_APPS)
            )
        workloads = list(base)
        base_budget = remaining if teams == 0 else min(remaining, 400)
        if not teams:
            for ns, breakage in plan.items():
                for j, (profile, replicas) in enumerate(breakage):
                    app = f"{TEAM_APPS[j % len(TEAM_APPS)]}-canary{j // len(TEAM_APPS) or ''}"
                    workloads.append(break_workload(_filler(ns, app, replicas, self.rng), profile))
                    base_budget -= replicas
        workloads += self._fillers(max(0, base_budget))
        team_budget = remaining - (remaining if teams == 0 else min(remaining, 400))
        for index, ns in enumerate(team_names):
            share = team_budget // teams + (1 if index < team_budget % teams else 0)
            workloads += self._team(ns, share, plan.get(ns, []))
        for workload in workloads:
            self._make_workload(workload)
        self._make_services_secrets_configs(namespaces)
        self._make_cluster_events()
        make_storage(self)
        make_batch(self)
        make_networking(self)
        make_autoscaling(self)
        make_cert_manager(self)
        make_helm(self)
        make_revisions(self)
        make_accounts(self)

    def _make_nodes(self, count: int) -> None:
        gpu = max(1, count // 25)
        zones = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
        for i in range(1, count + 1):
            role = "gpu" if i > count - gpu else "worker"
            node = NodeDef(
                f"node-{i}",
                i,
                f"172.20.{i // 250}.{i % 250 + 4}",
                zones[(i - 1) % 3],
                role,
                ready=i != 3,
                memory_pressure=i == 2,
            )
            self.nodes.append(node)
            self.store("nodes", self._node_object(node))

    def _node_object(self, node: NodeDef) -> Obj:
        created = self.now - 86400 * self.rng.uniform(20, 200)
        gpu = node.role == "gpu"
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": node.name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": "g5.12xlarge" if gpu else "m6i.2xlarge",
            f"node-role.kubernetes.io/{node.role}": "",
            "role": node.role,
            "topology.kubernetes.io/region": "eu-west-1",
            "topology.kubernetes.io/zone": node.zone,
        }
        capacity = {
            "cpu": "48" if gpu else "8",
            "ephemeral-storage": "104845292Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": "195706336Ki" if gpu else "32869748Ki",
            "pods": "110",
        }
        allocatable = dict(
            capacity,
            cpu="47810m" if gpu else "7910m",
            memory="194512352Ki" if gpu else "31675764Ki",
            **{"ephemeral-storage": "96625420948"},
        )
        if gpu:
            capacity["nvidia.com/gpu"] = allocatable["nvidia.com/gpu"] = "4"
        beat = self.now - (840 if not node.ready else self.rng.uniform(5, 40))
        since = rfc3339(created + 60)

        def cond(kind: str, status: str, reason: str, message: str, changed: str = since) -> Obj:
            return {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": rfc3339(beat),
                "lastTransitionTime": changed,
                "reason": reason,
                "message": message,
            }

        lost = self.ago(780)
        if node.ready:
            pressure = [
                cond(
                    "MemoryPressure",
                    "True",
                    "KubeletHasInsufficientMemory",
                    "kubelet has insufficient memory available",
                    self.ago(1500),
                )
                if node.memory_pressure
                else cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ]
        else:
            pressure = [
                cond(kind, "Unknown", "NodeStatusUnknown", NODE_LOST_MESSAGE, lost)
                for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
            ]
        network = {
            "type": "NetworkUnavailable",
            "status": "False",
            "lastHeartbeatTime": since,
            "lastTransitionTime": since,
            "reason": "CalicoIsUp",
            "message": "Calico is running on this node",
        }
        spec: Obj = {
            "podCIDR": f"10.{244 + node.index // 256}.{node.index % 256}.0/24",
            "podCIDRs": [f"10.{244 + node.index // 256}.{node.index % 256}.0/24"],
            "providerID": f"aws:///{node.zone}/i-0{self.rng.getrandbits(64):016x}",
        }
        taints = node.taints
        for taint in taints:
            if taint["key"].startswith("node.kubernetes.io/"):
                taint["timeAdded"] = lost if not node.ready else self.ago(1500)
        if taints:
            spec["taints"] = taints
        return {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": self.meta(
                node.name,
                None,
                created,
                labels,
                {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            ),
            "spec": spec,
            "status": {
                "capacity": capacity,
                "allocatable": allocatable,
                "conditions": [network, *pressure],
                "addresses": [
                    {"type": "InternalIP", "address": node.ip},
                    {"type": "Hostname", "address": node.name},
                    {
                        "type": "InternalDNS",
                        "address": f"ip-{node.ip.replace('.', '-')}.eu-west-1.compute.internal",
                    },
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": f"{self.rng.getrandbits(128):032x}",
                    "systemUUID": self.uid(),
                    "bootID": self.uid(),
                    "kernelVersion": "5.15.0-1064-aws",
                    "osImage": "Ubuntu 22.04.4 LTS",
                    "containerRuntimeVersion": "containerd://1.7.20",
                    "kubeletVersion": K8S_VERSION,
                    "kubeProxyVersion": K8S_VERSION,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }

    def _make_namespace(self, name: str, age_days: float) -> None:
        self.store(
            "namespaces",
            {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": self.meta(
                    name, None, self.now - 86400 * age_days, {"kubernetes.io/metadata.name": name}
                ),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )

    def _fillers(self, budget: int) -> list[WorkloadDef]:
        """Healthy deployments in the base namespaces, adding up to ``budget`` pods."""
        out: list[WorkloadDef] = []
        namespaces = list(FILLER_APPS)
        used = dict.fromkeys(namespaces, 0)
        turn = 0
        while budget > 0:
            ns = namespaces[turn % len(namespaces)]
            apps = FILLER_APPS[ns]
            n = used[ns]
            app = apps[n % len(apps)] + (f"-{n // len(apps) + 1}" if n >= len(apps) else "")
            used[ns] += 1
            replicas = min(budget, self.rng.randint(1, 4))
            out.append(_filler(ns, app, replicas, self.rng))
            budget -= replicas
            turn += 1
        return out

    def _team(
        self, namespace: str, budget: int, broken: list[tuple[str, int]]
    ) -> list[WorkloadDef]:
        """One team namespace: healthy apps plus the ``broken`` (profile, replicas) ones,
        about ``budget`` pods in all."""
        out: list[WorkloadDef] = []
        apps = list(TEAM_APPS)
        self.rng.shuffle(apps)
        n = 0
        for profile, replicas in broken:
            if budget < replicas:
                break
            app = apps[n % len(apps)] + (f"-{n // len(apps) + 1}" if n >= len(apps) else "")
            out.append(break_workload(_filler(namespace, app, replicas, self.rng), profile))
            budget -= replicas
            n += 1
        while budget > 0:
            app = apps[n % len(apps)] + (f"-{n // len(apps) + 1}" if n >= len(apps) else "")
            replicas = min(budget, self.rng.randint(2, 8))
            out.append(_filler(namespace, app, replicas, self.rng))
            budget -= replicas
            n += 1
        return out

    # ------------------------------------------------------------------ workloads

    def _template(
        self, wl: WorkloadDef, image_override: str | None = None, old: bool = False
    ) -> Obj:
        labels = {"app": wl.name, **wl.extra_labels}
        containers = [c.spec() for c in wl.containers]
        if image_override:
            containers[0]["image"] = image_override
        if old:
            for env in containers[0].get("env", ()):
                if env["name"] in wl.old_env:
                    env["value"] = wl.old_env[env["name"]]
        spec: Obj = {"containers": containers}
        if wl.init_containers:
            spec["initContainers"] = [c.spec() for c in wl.init_containers]
        spec.update(
            {
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirstWithHostNet" if wl.host_network else "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            }
        )
        if wl.host_network:
            spec["hostNetwork"] = True
        if wl.node_role == "gpu":
            spec["nodeSelector"] = {"role": "gpu"}
        if wl.tolerations:
            spec["tolerations"] = clone(wl.tolerations)
        if wl.priority_class:
            spec["priorityClassName"] = wl.priority_class
        if wl.image_pull_secret:
            spec["imagePullSecrets"] = [{"name": wl.image_pull_secret}]
        return {"metadata": {"labels": labels}, "spec": spec}

    def _make_workload(self, wl: WorkloadDef) -> None:
        created = self.now - 86400 * wl.age_days
        self._workloads[(wl.kind, wl.namespace, wl.name)] = wl
        template = self._template(wl)
        labels = {"app": wl.name, **wl.extra_labels}
        if wl.kind == "Deployment":
            self._make_deployment(wl, template, labels, created)
        elif wl.kind == "StatefulSet":
            self._make_statefulset(wl, template, labels, created)
        else:
            self._make_daemonset(wl, template, labels, created)

    def _make_deployment(
        self, wl: WorkloadDef, template: Obj, labels: dict[str, str], created: float
    ) -> None:
        annotations = {"deployment.kubernetes.io/revision": str(wl.revision)}
        if wl.change_causes:
            annotations["kubernetes.io/change-cause"] = wl.change_causes[-1]
        if wl.last_applied:
            annotations["kubectl.kubernetes.io/last-applied-configuration"] = _last_applied(
                wl, template
            )
        strategy: Obj = {"type": wl.strategy}
        if wl.strategy == "RollingUpdate":
            strategy["rollingUpdate"] = {"maxUnavailable": "25%", "maxSurge": "25%"}
        deployment: Obj = {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": self.meta(wl.name, wl.namespace, created, dict(labels), annotations),
            "spec": {
                "replicas": wl.replicas,
                "selector": {"matchLabels": {"app": wl.name}},
                "template": template,
                "strategy": strategy,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": {},
        }
        deployment["metadata"]["generation"] = wl.revision
        self.store("deployments", deployment)
        rollout = self.now - 86400 * min(wl.age_days, self.rng.uniform(0.2, 10))
        if wl.profile in (CRASHLOOP, OOM):
            rollout = self.now - self.rng.uniform(3.3, 3.8) * 3600
        causes = dict(enumerate(wl.change_causes, start=1))
        sets = [
            self._make_replicaset(
                deployment,
                self._template(wl, image, old=True),
                revision,
                created + (rollout - created) * (n + 1) / (len(wl.old_images) + 1),
                0,
                causes.get(revision),
            )
            for n, (revision, image) in enumerate(
                zip(
                    range(wl.revision - len(wl.old_images), wl.revision), wl.old_images, strict=True
                )
            )
        ]
        rs = self._make_replicaset(
            deployment, template, wl.revision, rollout, wl.replicas, causes.get(wl.revision)
        )
        sets.append(rs)
        pods = self._make_pods(wl, rs, wl.replicas, rollout)
        if wl.profile == EVICTED:
            self._evict(pods[0])
            pods += self._make_pods(wl, rs, 1, self.now - 1380, profile=HEALTHY)
        for replicaset in sets:
            self._refresh_replicaset(replicaset)
        self._refresh_deployment(deployment, sets)
        self.event(
            deployment,
            "ScalingReplicaSet",
            f"Scaled up replica set {rs['metadata']['name']} to {wl.replicas}",
            "Normal",
            "deployment-controller",
            rollout,
            rollout,
        )

    def _make_replicaset(
        self,
        deployment: Obj,
        template: Obj,
        revision: int,
        created: float,
        replicas: int,
        change_cause: str | None = None,
    ) -> Obj:
        meta = deployment["metadata"]
        pod_hash = template_hash(template)
        template = clone(template)
        template["metadata"]["labels"]["pod-template-hash"] = pod_hash
        labels = dict(template["metadata"]["labels"])
        rs: Obj = {
            "kind": "ReplicaSet",
            "apiVersion": "apps/v1",
            "metadata": self.meta(
                f"{meta['name']}-{pod_hash}",
                meta["namespace"],
                created,
                labels,
                {
                    "deployment.kubernetes.io/desired-replicas": str(
                        deployment["spec"]["replicas"]
                    ),
                    "deployment.kubernetes.io/max-replicas": str(
                        deployment["spec"]["replicas"] + 1
                    ),
                    "deployment.kubernetes.io/revision": str(revision),
                    **({"kubernetes.io/change-cause": change_cause} if change_cause else {}),
                },
            ),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": meta["name"], "pod-template-hash": pod_hash}},
                "template": template,
            },
            "status": {"replicas": 0},
        }
        rs["metadata"]["generation"] = 1
        rs["metadata"]["ownerReferences"] = [owner_ref(deployment)]
        return self.store("replicasets", rs)

    def _make_statefulset(
        self, wl: WorkloadDef, template: Obj, labels: dict[str, str], created: float
    ) -> None:
        revision = f"{wl.name}-{template_hash(template)}"
        sts: Obj = {
            "kind": "StatefulSet",
            "apiVersion": "apps/v1",
            "metadata": self.meta(wl.name, wl.namespace, created, dict(labels)),
            "spec": {
                "replicas": wl.replicas,
                "selector": {"matchLabels": {"app": wl.name}},
                "template": template,
                "serviceName": f"{wl.name}-headless",
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
                "volumeClaimTemplates": [
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "50Gi"}},
                            "storageClassName": DEFAULT_STORAGE_CLASS,
                            "volumeMode": "Filesystem",
                        },
                    }
                ],
            },
            "status": {"replicas": 0, "currentRevision": revision, "updateRevision": revision},
        }
        sts["metadata"]["generation"] = 1
        self.store("statefulsets", sts)
        started = self.now - 86400 * min(wl.age_days, 9.5)
        for ordinal in range(wl.replicas):
            self._make_pods(
                wl,
                sts,
                1,
                started,
                name=f"{wl.name}-{ordinal}",
                extra_labels={
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": f"{wl.name}-{ordinal}",
                },
            )
        self._refresh_statefulset(sts)

    def _make_daemonset(
        self, wl: WorkloadDef, template: Obj, labels: dict[str, str], created: float
    ) -> None:
        revision = template_hash(template)
        ds: Obj = {
            "kind": "DaemonSet",
            "apiVersion": "apps/v1",
            "metadata": self.meta(
                wl.name,
                wl.namespace,
                created,
                dict(labels),
                {"deprecated.daemonset.template.generation": "1"},
            ),
            "spec": {
                "selector": {"matchLabels": {"app": wl.name}},
                "template": template,
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
                },
                "revisionHistoryLimit": 10,
            },
            "status": {},
        }
        ds["metadata"]["generation"] = 1
        self.store("daemonsets", ds)
        for node in self.nodes:
            started = self.now - 86400 * self.rng.uniform(1, min(wl.age_days, 20))
            self._make_pods(
                wl,
                ds,
                1,
                started,
                node=node,
                extra_labels={"controller-revision-hash": revision, "pod-template-generation": "1"},
            )
        self._refresh_daemonset(ds)

    # ------------------------------------------------------------------ pods

    def _place(self, wl: WorkloadDef, profile: str, fresh: bool) -> NodeDef | None:
        if profile == PENDING:
            return None
        pool = self._pools.get(wl.node_role)
        if pool is None:
            role = "gpu" if wl.node_role == "gpu" else "worker"
            pool = self._pools[wl.node_role] = [n for n in self.nodes if n.role == role and n.ready]
        if fresh:
            nodes = self.objects["nodes"]
            pool = [n for n in pool if not nodes[("", n.name)]["spec"].get("unschedulable")]
        if not pool:
            return None
        if profile == HEALTHY == wl.profile and wl.kind == "Deployment" and not fresh:
            lost = self._pools.get("lost")
            if lost is None:
                lost = self._pools["lost"] = [n for n in self.nodes if not n.ready]
            if lost and self.rng.random() < min(1 / len(self.nodes), 0.05):
                return lost[0]
        return min(self.rng.sample(pool, min(2, len(pool))), key=lambda n: n.pods)

    def _make_pods(
        self,
        wl: WorkloadDef,
        owner: Obj,
        count: int,
        started: float,
        *,
        profile: str | None = None,
        name: str | None = None,
        node: NodeDef | None = None,
        extra_labels: dict[str, str] | None = None,
        fresh: bool = False,
    ) -> list[Obj]:
        template = owner["spec"]["template"]
        ns = wl.namespace
        owners = [owner_ref(owner)]
        out = []
        profile = profile or self._profile_for(wl, template)
        for i in range(count):
            pod_profile = profile
            if profile == OOM and i % 2 == 1:
                pod_profile = OOM_CRASHLOOP
            target = node or self._place(wl, pod_profile, fresh)
            if target is None:
                pod_profile = PENDING
            elif not target.ready:
                pod_profile = NODE_LOST
            pod_name = name or f"{owner['metadata']['name']}-{self.suffix()}"
            labels = dict(template["metadata"]["labels"])
            if extra_labels:
                labels.update(extra_labels)
            created = started + (i * 2 if fresh else self.rng.uniform(0, 30))
            meta = self.meta(pod_name, ns, created, labels)
            if owner["kind"] != "StatefulSet":
                meta["generateName"] = f"{owner['metadata']['name']}-"
            meta["ownerReferences"] = owners
            spec = copy.copy(template["spec"])
            tolerations = list(spec.get("tolerations", ())) + list(DEFAULT_TOLERATIONS)
            spec["tolerations"] = tolerations
            sa = "default"
            spec["serviceAccountName"] = sa
            spec["serviceAccount"] = sa
            if target is not None:
                spec["nodeName"] = target.name
                target.pods += 1
            spec["priority"] = (
                2000001000
                if wl.priority_class == "system-node-critical"
                else (2000000000 if wl.priority_class else 0)
            )
            spec["enableServiceLinks"] = True
            spec["preemptionPolicy"] = "PreemptLowerPriority"
            pod: Obj = {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec}
            pod["status"] = self._pod_status(pod, target, pod_profile, created, fresh)
            key = (ns, pod_name)
            self.store("pods", pod)
            self._pod_workload[key] = wl
            self._pod_profile[key] = pod_profile
            self._owned.setdefault((ns, owner["kind"], owner["metadata"]["name"]), []).append(
                pod_name
            )
            self._pod_events(pod, pod_profile, target, fresh)
            out.append(pod)
        return out

    def _profile_for(self, wl: WorkloadDef, template: Obj) -> str:
        """How a workload's pods behave given its current template (writes can fix some)."""
        containers = template["spec"]["containers"]
        if wl.profile == IMAGEPULL:
            broken = {c.image for c in wl.containers}
            return IMAGEPULL if any(c["image"] in broken for c in containers) else HEALTHY
        if wl.profile == PENDING:
            return HEALTHY if self._fits(containers, wl.node_role) else PENDING
        if wl.profile == EVICTED:
            return HEALTHY
        return wl.profile

    def _fits(self, containers: list[Obj], role: str) -> bool:
        """Whether the containers' requests fit on some ready node of ``role``."""
        cpu, memory = _requests(containers)
        for node in self.nodes:
            if node.role != role or not node.ready:
                continue
            alloc = self.objects["nodes"][("", node.name)]["status"]["allocatable"]
            if cpu <= parse_quantity(alloc["cpu"]) and memory <= parse_quantity(alloc["memory"]):
                return True
        return False

    def _pod_status(
        self,
        pod: Obj,
        node: NodeDef | None,
        profile: str,
        created: float,
        fresh: bool,
    ) -> Obj:
        """A pod's status as the kubelet (or, when unplaced, the scheduler) reports it."""
        spec = pod["spec"]
        qos = _qos(spec["containers"])
        if node is None:
            return {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": rfc3339(created),
                        "reason": "Unschedulable",
                        "message": self.unschedulable_message(spec),
                    }
                ],
                "qosClass": qos,
            }
        started = created + self.rng.uniform(2, 8)
        host_ip = node.ip
        pod_ip = host_ip if spec.get("hostNetwork") else node.pod_ip()
        statuses = []
        for c in spec["containers"]:
            statuses.append(self._container_status(c, pod, profile, started, fresh))
        ready = all(s["ready"] for s in statuses)
        unready = [s["name"] for s in statuses if not s["ready"]]
        since = rfc3339(started + 5)

        def cond(kind: str, ok: bool, when: str = since) -> Obj:
            c: Obj = {
                "type": kind,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": when,
            }
            if not ok and kind in ("Ready", "ContainersReady"):
                c["reason"] = "ContainersNotReady"
                c["message"] = f"containers with unready status: [{' '.join(unready)}]"
            return c

        conditions = [
            cond("PodReadyToStartContainers", True),
            cond("Initialized", True, rfc3339(started)),
            cond("Ready", ready),
            cond("ContainersReady", ready),
            cond("PodScheduled", True, rfc3339(created)),
        ]
        status: Obj = {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": rfc3339(started),
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                {
                    "name": c["name"],
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": rfc3339(started),
                            "finishedAt": rfc3339(started + 1),
                            "containerID": self.container_id(),
                        }
                    },
                    "lastState": {},
                    "ready": True,
                    "restartCount": 0,
                    "image": c["image"],
                    "imageID": image_id(c["image"]),
                    "containerID": self.container_id(),
                    "started": False,
                }
                for c in spec["initContainers"]
            ]
        status["containerStatuses"] = statuses
        status["qosClass"] = qos
        if profile == IMAGEPULL:
            status["phase"] = "Pending"
        elif profile == NODE_LOST:
            for c in conditions:
                if c["type"] == "Ready":
                    c["status"] = "False"
                    c["lastTransitionTime"] = self.ago(770)
        elif profile == EVICTED:
            status.update(phase="Failed", reason="Evicted", message=EVICTION_MESSAGE)
            status.pop("podIP")
            status.pop("podIPs")
            for c in conditions:
                if c["type"] in ("Ready", "ContainersReady"):
                    c.update(status="False", reason="PodFailed", lastTransitionTime=self.ago(1400))
                    c.pop("message", None)
            conditions.insert(
                0,
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.ago(1400),
                    "reason": "TerminationByKubelet",
                    "message": EVICTION_MESSAGE,
                },
            )
        return status

    def container_id(self) -> str:
        """A fresh containerd container ID."""
        return f"containerd://{self.rng.getrandbits(256):064x}"

    def _container_status(self, c: Obj, pod: Obj, profile: str, started: float, fresh: bool) -> Obj:
        """One container's status for a pod behaving as ``profile``."""
        name = c["name"]
        image = c["image"]
        pod_name = pod["metadata"]["name"]
        pod_ref = f"{pod_name}_{pod['metadata']['namespace']}({pod['metadata']['uid']})"
        main = c is pod["spec"]["containers"][0]
        st: Obj = {
            "name": name,
            "state": {},
            "lastState": {},
            "ready": True,
            "restartCount": 0,
            "image": image,
            "imageID": image_id(image),
            "containerID": self.container_id(),
            "started": True,
        }
        rng = self.rng
        if profile == IMAGEPULL and main:
            st.update(ready=False, started=False, imageID="")
            st.pop("containerID")
            st["state"] = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            }
            return st
        if profile == EVICTED:
            st.update(ready=False, started=False)
            st["state"] = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "ContainerStatusUnknown",
                    "message": "The container could not be located when the pod was terminated",
                    "startedAt": None,
                    "finishedAt": None,
                }
            }
            st["state"]["terminated"]["startedAt"] = rfc3339(started)
            st["state"]["terminated"]["finishedAt"] = self.ago(1400)
            return st
        if profile == CRASHLOOP and main:
            restarts = 1 if fresh else rng.randint(41, 48)
            last_start = self.now - (12 if fresh else rng.uniform(60, 290))
            st.update(ready=False, started=False, restartCount=restarts)
            backoff = "10s" if fresh else "5m0s"
            st["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {backoff} restarting failed "
                    f"container={name} pod={pod_ref}",
                }
            }
            st["lastState"] = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": rfc3339(last_start),
                    "finishedAt": rfc3339(last_start + 2),
                    "containerID": st["containerID"],
                }
            }
            return st
        if profile in (OOM, OOM_CRASHLOOP) and main:
            crash = profile == OOM_CRASHLOOP
            restarts = 1 if fresh else (rng.randint(6, 9) if crash else rng.randint(3, 5))
            last_start = self.now - (60 if fresh else rng.uniform(1500, 2400))
            ended = self.now - (30 if fresh else (rng.uniform(30, 150) if crash else 1200))
            st["restartCount"] = restarts
            st["lastState"] = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled",
                    "startedAt": rfc3339(last_start),
                    "finishedAt": rfc3339(ended),
                    "containerID": self.container_id(),
                }
            }
            if crash:
                st.update(ready=False, started=False)
                st["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 2m40s restarting failed "
                        f"container={name} pod={pod_ref}",
                    }
                }
            else:
                st["state"] = {"running": {"startedAt": rfc3339(ended + 1)}}
            return st
        restarts = 0 if fresh or rng.random() < 0.85 else rng.randint(1, 2)
        st["restartCount"] = restarts
        running_since = started + 3
        if restarts:
            running_since = max(started + 60, self.now - rng.uniform(3600, 86400 * 3))
            st["lastState"] = {
                "terminated": {
                    "exitCode": 137 if rng.random() < 0.3 else 2,
                    "reason": "Error",
                    "startedAt": rfc3339(started + 3),
                    "finishedAt": rfc3339(running_since - 1),
                    "containerID": self.container_id(),
                }
            }
        st["state"] = {"running": {"startedAt": rfc3339(running_since)}}
        return st

    def unschedulable_message(self, spec: Obj) -> str:
        """The scheduler's FitError text for a pod that fits on no node, honestly computed."""
        tolerated = {
            t.get("key") for t in spec.get("tolerations", ()) if t.get("effect") != "NoExecute"
        }
        if any(
            t.get("operator") == "Exists" and not t.get("key") for t in spec.get("tolerations", ())
        ):
            return f"0/{len(self.nodes)} nodes are available: preemption: not eligible."
        want_cpu, want_mem = _requests(spec["containers"])
        selector = spec.get("nodeSelector", {})
        reasons: dict[str, int] = {}
        preempt: dict[str, int] = {}
        helpless = "Preemption is not helpful for scheduling"
        for node in self.nodes:
            obj = self.objects["nodes"][("", node.name)]
            labels = obj["metadata"]["labels"]
            blocked = None
            if any(labels.get(k) != v for k, v in selector.items()):
                blocked = "node(s) didn't match Pod's node affinity/selector"
            elif obj["spec"].get("unschedulable"):
                blocked = "node(s) were unschedulable"
            if blocked:
                reasons[blocked] = reasons.get(blocked, 0) + 1
                preempt[helpless] = preempt.get(helpless, 0) + 1
                continue
            taint = next(
                (
                    t
                    for t in node.taints
                    if t["effect"] == "NoSchedule" and t["key"] not in tolerated
                ),
                None,
            )
            if taint is not None:
                reason = (
                    f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
                )
                reasons[reason] = reasons.get(reason, 0) + 1
                preempt[helpless] = preempt.get(helpless, 0) + 1
                continue
            alloc = obj["status"]["allocatable"]
            short = []
            if want_cpu > parse_quantity(alloc["cpu"]):
                short.append("Insufficient cpu")
            if want_mem > parse_quantity(alloc["memory"]):
                short.append("Insufficient memory")
            for reason in short or ["Insufficient memory"]:
                reasons[reason] = reasons.get(reason, 0) + 1
            key = "No preemption victims found for incoming pod"
            preempt[key] = preempt.get(key, 0) + 1
        n = len(self.nodes)
        fit = ", ".join(sorted(f"{v} {k}" for k, v in reasons.items()))
        post = ", ".join(sorted(f"{v} {k}" for k, v in preempt.items()))
        return f"0/{n} nodes are available: {fit}. preemption: 0/{n} nodes are available: {post}."

    def _evict(self, pod: Obj) -> None:
        """Turn a running pod into the Failed/Evicted one the kubelet leaves behind."""
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        memory_node = next(n for n in self.nodes if n.memory_pressure)
        pod["spec"]["nodeName"] = memory_node.name
        pod["status"] = self._pod_status(
            pod,
            memory_node,
            EVICTED,
            parse_rfc3339(pod["metadata"]["creationTimestamp"]),
            False,
        )
        self._pod_profile[key] = EVICTED
        when = self.now - 1400
        self.event(
            pod,
            "Evicted",
            EVICTION_MESSAGE + " Container prometheus was using "
            "2451836Ki, request is 1Gi, has larger consumption of memory.",
            "Warning",
            "kubelet",
            when,
            when,
            host=memory_node.name,
        )
        self.event(
            pod,
            "Killing",
            "Stopping container prometheus",
            "Normal",
            "kubelet",
            when,
            when,
            host=memory_node.name,
            field_path="spec.containers{prometheus}",
        )

    # ------------------------------------------------------------------ events

    def event(
        self,
        obj: Obj,
        reason: str,
        message: str,
        kind: str,
        component: str,
        first: float,
        last: float,
        *,
        count: int = 1,
        host: str | None = None,
        field_path: str | None = None,
    ) -> Obj:
        meta = obj["metadata"]
        involved: Obj = {
            "kind": obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": obj["apiVersion"],
            "resourceVersion": meta["resourceVersion"],
        }
        if "namespace" in meta:
            involved["namespace"] = meta["namespace"]
        if field_path:
            involved["fieldPath"] = field_path
        source: Obj = {"component": component}
        if host:
            source["host"] = host
        ns = meta.get("namespace", "default")
        event = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": self.meta(f"{meta['name']}.{self.rng.getrandbits(64):016x}", ns, first),
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": rfc3339(first),
            "lastTimestamp": rfc3339(last),
            "count": count,
            "type": kind,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        return self.store("events", event)

    def _pod_events(self, pod: Obj, profile: str, node: NodeDef | None, fresh: bool) -> None:
        """The events the scheduler and kubelet would have recorded for this pod."""
        status = pod["status"]
        created = parse_rfc3339(pod["metadata"]["creationTimestamp"])
        young = fresh or self.now - created < 3600 * 4
        main = pod["spec"]["containers"][0]
        path = f"spec.containers{{{main['name']}}}"
        host = node.name if node else None
        name = pod["metadata"]["name"]
        ns = pod["metadata"]["namespace"]
        if profile == PENDING:
            count = 1 if fresh else self.rng.randint(30, 90)
            self.event(
                pod,
                "FailedScheduling",
                status["conditions"][0]["message"],
                "Warning",
                "default-scheduler",
                created,
                self.now - self.rng.uniform(5, 120),
                count=count,
            )
            return
        if young or profile != HEALTHY:
            self.event(
                pod,
                "Scheduled",
                f"Successfully assigned {ns}/{name} to {host}",
                "Normal",
                "default-scheduler",
                created,
                created,
            )
        if profile == IMAGEPULL:
            image = main["image"]
            first, last = created + 2, self.now - self.rng.uniform(10, 90)
            n = 1 if fresh else self.rng.randint(20, 40)
            error = pull_error(image)
            for reason, message, kind, count in (
                ("Pulling", f'Pulling image "{image}"', "Normal", n),
                ("Failed", error, "Warning", n),
                ("Failed", "Error: ErrImagePull", "Warning", n),
                ("BackOff", f'Back-off pulling image "{image}"', "Normal", n * 20),
                ("Failed", "Error: ImagePullBackOff", "Warning", n * 20),
            ):
                self.event(
                    pod,
                    reason,
                    message,
                    kind,
                    "kubelet",
                    first,
                    last,
                    count=count,
                    host=host,
                    field_path=path,
                )
            return
        statuses = status.get("containerStatuses", [])
        restarts = statuses[0]["restartCount"] if statuses else 0
        if profile in (CRASHLOOP, OOM, OOM_CRASHLOOP) or young:
            first = parse_rfc3339(status["startTime"])
            last = self.now - self.rng.uniform(60, 300) if restarts else first
            for reason, message in (
                ("Pulled", f'Container image "{main["image"]}" already present on machine'),
                ("Created", f"Created container {main['name']}"),
                ("Started", f"Started container {main['name']}"),
            ):
                self.event(
                    pod,
                    reason,
                    message,
                    "Normal",
                    "kubelet",
                    first,
                    last,
                    count=restarts + 1,
                    host=host,
                    field_path=path,
                )
        if profile in (CRASHLOOP, OOM_CRASHLOOP):
            message = (
                f"Back-off restarting failed container {main['name']} in pod "
                f"{name}_{ns}({pod['metadata']['uid']})"
            )
            self.event(
                pod,
                "BackOff",
                message,
                "Warning",
                "kubelet",
                parse_rfc3339(status["startTime"]) + 30,
                self.now - self.rng.uniform(5, 60),
                count=1 if fresh else restarts * 5 + 3,
                host=host,
                field_path=path,
            )
        if profile in (OOM, OOM_CRASHLOOP) and node is not None:
            node_obj = self.objects["nodes"][("", node.name)]
            term = statuses[0]["lastState"]["terminated"]
            when = parse_rfc3339(term["finishedAt"])
            pid = self.rng.randint(2000, 60000)
            limit_kb = int(parse_quantity(main["resources"]["limits"]["memory"]) / 1024)
            self.event(
                node_obj,
                "OOMKilling",
                f"Memory cgroup out of memory: Killed process {pid} (python) total-vm:"
                f"{limit_kb + 1843220}kB, anon-rss:{limit_kb - 2048}kB, file-rss:0kB, "
                f"shmem-rss:0kB, UID:1000 pgtables:{self.rng.randint(20000, 40000)}kB "
                f"oom_score_adj:985",
                "Warning",
                "kernel-monitor",
                when,
                when,
                host=node.name,
            )
        if profile == NODE_LOST:
            when = self.now - 770
            self.event(
                pod, "NodeNotReady", "Node is not ready", "Warning", "node-controller", when, when
            )

    def _make_cluster_events(self) -> None:
        for node in self.nodes:
            obj = self.objects["nodes"][("", node.name)]
            if not node.ready:
                when = self.now - 780
                self.event(
                    obj,
                    "NodeNotReady",
                    f"Node {node.name} status is now: NodeNotReady",
                    "Normal",
                    "node-controller",
                    when,
                    when,
                )
            if node.memory_pressure:
                when = self.now - 1500
                self.event(
                    obj,
                    "NodeHasInsufficientMemory",
                    f"Node {node.name} status is now: NodeHasInsufficientMemory",
                    "Normal",
                    "kubelet",
                    when,
                    when,
                    host=node.name,
                )
                self.event(
                    obj,
                    "EvictionThresholdMet",
                    "Attempting to reclaim memory",
                    "Warning",
                    "kubelet",
                    when + 60,
                    self.now - 240,
                    count=4,
                    host=node.name,
                )

    # ------------------------------------------------------------------ services etc.

    def _cluster_ip(self, fixed: str | None = None) -> str:
        if fixed:
            self._service_ips.add(fixed)
            return fixed
        while True:
            ip = f"10.0.{self.rng.randint(1, 250)}.{self.rng.randint(2, 254)}"
            if ip not in self._service_ips:
                self._service_ips.add(ip)
                return ip

    def make_service(
        self,
        ns: str,
        name: str,
        kind: str,
        ports: list[Obj],
        selector: dict[str, str] | None,
        created: float,
        ip: str | None = None,
    ) -> Obj:
        headless = kind == "Headless"
        cluster_ip = "None" if headless else self._cluster_ip(ip)
        spec: Obj = {
            "ports": ports,
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "type": "ClusterIP" if headless else kind,
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        }
        if selector:
            spec["selector"] = selector
        status: Obj = {"loadBalancer": {}}
        if kind == "LoadBalancer":
            spec["externalTrafficPolicy"] = "Cluster"
            spec["allocateLoadBalancerNodePorts"] = True
            for port in ports:
                port["nodePort"] = self.rng.randint(30000, 32767)
            status = {
                "loadBalancer": {
                    "ingress": [{"ip": f"203.0.113.{self.rng.randint(2, 250)}", "ipMode": "VIP"}]
                }
            }
        return self.store(
            "services",
            {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": self.meta(name, ns, created, {"app": name}),
                "spec": spec,
                "status": status,
            },
        )

    def _secret(
        self,
        ns: str,
        name: str,
        kind: str,
        data: dict[str, str],
        created: float,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.store(
            "secrets",
            {
                "kind": "Secret",
                "apiVersion": "v1",
                "metadata": self.meta(name, ns, created, labels),
                "data": {k: b64(v) for k, v in data.items()},
                "type": kind,
            },
        )

    def _config_map(self, ns: str, name: str, data: dict[str, str], created: float) -> None:
        self.store(
            "configmaps",
            {
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": self.meta(name, ns, created),
                "data": data,
            },
        )

    def _make_services_secrets_configs(self, namespaces: list[str]) -> None:
        t0 = self.now - 86400 * 180
        self.make_service(
            "default",
            "kubernetes",
            "ClusterIP",
            [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            None,
            t0,
            "10.0.0.1",
        )
        for (kind, ns, name), wl in self._workloads.items():
            if wl.service is None:
                continue
            created = self.now - 86400 * wl.age_days
            selector = wl.service_selector or {"app": name}
            ports = []
            for c in wl.containers:
                if c.port is not None:
                    ports.append(
                        {
                            "name": c.port_name,
                            "port": 80 if c.port == 8080 else c.port,
                            "protocol": c.protocol,
                            "targetPort": c.port_name,
                        }
                    )
            if name == "coredns":
                ports = [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                ]
            svc_name = "kube-dns" if name == "coredns" else name
            self.make_service(ns, svc_name, wl.service, ports, selector, created, wl.service_ip)
            if kind == "StatefulSet":
                self.make_service(
                    ns, f"{name}-headless", "Headless", copy.deepcopy(ports), {"app": name}, created
                )
        self._secret(
            "payments",
            "payments-db",
            "Opaque",
            {
                "username": "payments",
                "password": DB_PASSWORD,
                "host": "postgres.data",
                "port": "5432",
            },
            self.now - 86400 * 45,
        )
        self._secret(
            "payments",
            "payments-stripe",
            "Opaque",
            {"api-key": "sk_live_51HxKchatSampleNotARealKey0000aBcDeFgHiJkLmNoP"},
            self.now - 86400 * 45,
        )
        self._secret(
            "payments",
            "payments-api-tls",
            "kubernetes.io/tls",
            {
                "tls.crt": FAKE_CA.replace("MIIC", "MIID"),
                "tls.key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                "-----END PRIVATE KEY-----\n",
            },
            self.now - 86400 * 30,
        )
        auth = b64("shop-ci:gh0st-Regcred-2024")
        docker = orjson.dumps(
            {
                "auths": {
                    "registry.example.com": {
                        "username": "shop-ci",
                        "password": "gh0st-Regcred-2024",
                        "auth": auth,
                    }
                }
            }
        ).decode()
        self._secret(
            "shop",
            "regcred",
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": docker},
            self.now - 86400 * 90,
        )
        self._secret(
            "data",
            "postgres-credentials",
            "Opaque",
            {"postgres-password": "pg-Sup3rUser-2024", "replication-password": "repl-9f8e7d"},
            self.now - 86400 * 200,
        )
        self._secret(
            "monitoring",
            "grafana-admin",
            "Opaque",
            {"admin-user": "admin", "admin-password": "grafana-Adm1n!"},
            self.now - 86400 * 150,
        )
        self._secret(
            "ml",
            "hf-token",
            "Opaque",
            {"token": "hf_kchatSampleTokenNotReal12345"},
            self.now - 86400 * 20,
        )
        self._config_map(
            "payments",
            "payments-api-config",
            {
                "config.yaml": "listen: :8080\ndatabase:\n  host: postgres.data\n  port: 5432\n"
                "  pool: 20\nstripe:\n  timeout: 10s\n"
            },
            self.now - 86400 * 45,
        )
        self._config_map(
            "shop",
            "app-config",
            {
                "LOG_LEVEL": "info",
                "FEATURE_FLAGS": "checkout-v2,new-cart",
                "DATABASE_URL": f"postgres://shop:{CONFIG_DB_PASSWORD}@postgres.data.svc:5432/shop",
                "PAYMENT_API_KEY": CONFIG_API_KEY,
            },
            self.now - 86400 * 60,
        )
        self._config_map(
            "kube-system",
            "coredns",
            {
                "Corefile": ".:53 {\n    errors\n    health\n    kubernetes cluster.local "
                "in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough "
                "in-addr.arpa ip6.arpa\n    }\n    prometheus :9153\n    forward . "
                "/etc/resolv.conf\n    cache 30\n    loop\n    reload\n}\n"
            },
            t0,
        )
        self._config_map(
            "monitoring",
            "prometheus-config",
            {
                "prometheus.yml": "global:\n  scrape_interval: 30s\nscrape_configs:\n"
                "  - job_name: node-exporter\n    kubernetes_sd_configs:\n"
                "      - role: node\n"
            },
            self.now - 86400 * 150,
        )
        for ns in namespaces:
            created = parse_rfc3339(
                self.objects["namespaces"][("", ns)]["metadata"]["creationTimestamp"]
            )
            self._config_map(ns, "kube-root-ca.crt", {"ca.crt": FAKE_CA}, created)
            if ns.startswith("team-"):
                self._secret(
                    ns,
                    f"{ns}-app-secrets",
                    "Opaque",
                    {
                        "api-key": f"{ns}-{self.rng.getrandbits(64):016x}",
                        "db-password": f"pw-{self.rng.getrandbits(48):012x}",
                    },
                    created,
                )

    # ------------------------------------------------------------------ statuses

    def _pods_of(self, namespace: str, kind: str, name: str) -> list[Obj]:
        pods = self.objects["pods"]
        return [
            pods[(namespace, p)]
            for p in self._owned.get((namespace, kind, name), ())
            if (namespace, p) in pods
        ]

    def _refresh_replicaset(self, rs: Obj) -> Obj:
        meta = rs["metadata"]
        pods = [
            p
            for p in self._pods_of(meta["namespace"], "ReplicaSet", meta["name"])
            if p["status"]["phase"] not in ("Failed", "Succeeded")
        ]
        ready = sum(1 for p in pods if _pod_ready(p))
        status: Obj = {"replicas": len(pods)}
        if pods:
            status["fullyLabeledReplicas"] = len(pods)
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        status["observedGeneration"] = meta.get("generation", 1)
        rs["status"] = status
        return rs

    def _replicasets_of(self, deployment: Obj) -> list[Obj]:
        ns = deployment["metadata"]["namespace"]
        uid = deployment["metadata"]["uid"]
        return [
            rs
            for (rs_ns, _), rs in self.objects["replicasets"].items()
            if rs_ns == ns
            and any(o["uid"] == uid for o in rs["metadata"].get("ownerReferences", ()))
        ]

    def _refresh_deployment(self, deployment: Obj, replicasets: list[Obj] | None = None) -> Obj:
        meta = deployment["metadata"]
        spec = deployment["spec"]
        desired = spec["replicas"]
        sets = replicasets if replicasets is not None else self._replicasets_of(deployment)
        current_hash = template_hash(_without_hash(spec["template"]))
        total = ready = updated = 0
        current_name = f"{meta['name']}-{current_hash}"
        for rs in sets:
            st = rs["status"]
            total += st.get("replicas", 0)
            ready += st.get("readyReplicas", 0)
            if rs["metadata"]["name"] == current_name:
                updated = st.get("replicas", 0)
        now = rfc3339(self.clock())
        old = {c["type"]: c for c in deployment.get("status", {}).get("conditions", ())}
        if desired == 0 or ready >= desired - _max_unavailable(deployment):
            available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        workload = self._workloads.get(("Deployment", meta["namespace"], meta["name"]))
        stuck = (
            workload is not None
            and ready < desired
            and self._profile_for(workload, spec["template"]) != HEALTHY
        )
        if stuck:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{current_name}" has timed out progressing.',
            )
        else:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{current_name}" has successfully progressed.',
            )
        conditions = []
        for kind, (status, reason, message) in (
            ("Available", available),
            ("Progressing", progressing),
        ):
            prev = old.get(kind)
            changed = prev is None or prev["status"] != status or prev["reason"] != reason
            since = (
                self.ago(self.rng.uniform(600, 3000))
                if prev is None
                else (now if changed else prev["lastTransitionTime"])
            )
            conditions.append(
                {
                    "type": kind,
                    "status": status,
                    "lastUpdateTime": since if not changed or prev is None else now,
                    "lastTransitionTime": since,
                    "reason": reason,
                    "message": message,
                }
            )
        status_obj: Obj = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
        }
        if ready:
            status_obj["readyReplicas"] = ready
            status_obj["availableReplicas"] = ready
        if desired - ready > 0:
            status_obj["unavailableReplicas"] = desired - ready
        status_obj["conditions"] = conditions
        deployment["status"] = status_obj
        return deployment

    def _refresh_statefulset(self, sts: Obj) -> Obj:
        meta = sts["metadata"]
        pods = self._pods_of(meta["namespace"], "StatefulSet", meta["name"])
        ready = sum(1 for p in pods if _pod_ready(p))
        status = sts["status"]
        status.update(
            observedGeneration=meta["generation"],
            replicas=len(pods),
            currentReplicas=len(pods),
            updatedReplicas=len(pods),
            collisionCount=0,
        )
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        return sts

    def _refresh_daemonset(self, ds: Obj) -> Obj:
        meta = ds["metadata"]
        pods = self._pods_of(meta["namespace"], "DaemonSet", meta["name"])
        ready = sum(1 for p in pods if _pod_ready(p))
        status: Obj = {
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "desiredNumberScheduled": len(self.nodes),
            "numberReady": ready,
            "observedGeneration": meta["generation"],
            "updatedNumberScheduled": len(pods),
            "numberAvailable": ready,
        }
        if len(self.nodes) - ready:
            status["numberUnavailable"] = len(self.nodes) - ready
        ds["status"] = status
        return ds

    # ------------------------------------------------------------------ writes

    def commit(self, resource: str, obj: Obj) -> Obj:
        """Store a new or changed object with a fresh resourceVersion and tell the listeners."""
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.store(resource, obj)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        for listener in self._listeners:
            listener(resource, key, obj)
        if resource == "pods":
            sync_endpoints(self, obj)
        return obj

    def remove(self, resource: str, key: Key) -> Obj | None:
        obj = self.objects[resource].pop(key, None)
        if obj is not None:
            self.revision += 1
            for listener in self._listeners:
                listener(resource, key, None)
            if resource == "pods":
                sync_endpoints(self, obj)
        return obj

    def _emit(
        self,
        obj: Obj,
        reason: str,
        message: str,
        kind: str = "Normal",
        component: str = "deployment-controller",
        **extra: Any,
    ) -> None:
        now = self.clock()
        event = self.event(obj, reason, message, kind, component, now, now, **extra)
        event["metadata"]["creationTimestamp"] = rfc3339(now)
        self.commit("events", event)

    def replace_object(self, resource: str, obj: Obj) -> Obj:
        """Store a changed object no controller reacts to (labels, annotations, data, cordon)."""
        return self.commit(resource, obj)

    def replace_deployment(self, namespace: str, name: str, new: Obj) -> Obj:
        """Store a Deployment's new desired state and play the controllers to converge on it.

        A changed pod template rolls out a new ReplicaSet (reusing one whose template hash
        matches, as the real controller does) and replaces the pods; a changed replica count
        scales the current ReplicaSet. New pods behave as the template allows: a fixed image
        pulls, a smaller memory request schedules, but a restart does not fix a crashing app.
        """
        old = self.objects["deployments"][(namespace, name)]
        wl = self._workloads.get(("Deployment", namespace, name)) or _workload_from(new)
        self._workloads[("Deployment", namespace, name)] = wl
        template_changed = new["spec"]["template"] != old["spec"]["template"]
        if template_changed or new["spec"] != old["spec"]:
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        desired = new["spec"]["replicas"]
        target_hash = template_hash(_without_hash(new["spec"]["template"]))
        sets = self._replicasets_of(old)
        current = next(
            (rs for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == target_hash),
            None,
        )
        if current is None:
            revision = 1 + max(
                (
                    int(
                        rs["metadata"]
                        .get("annotations", {})
                        .get("deployment.kubernetes.io/revision", "0")
                    )
                    for rs in sets
                ),
                default=0,
            )
            cause = new["metadata"].get("annotations", {}).get("kubernetes.io/change-cause")
            current = self._make_replicaset(
                new, new["spec"]["template"], revision, self.clock(), 0, cause
            )
            sets.append(current)
        elif template_changed:
            revision = 1 + max(
                int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                for rs in sets
            )
            current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
        if template_changed:
            new["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = (
                current["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            )
        for rs in sets:
            if rs is current:
                continue
            self._scale_replicaset(new, rs, wl, 0)
        self._scale_replicaset(new, current, wl, desired)
        for rs in sets:
            rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(
                desired
            )
            self.commit("replicasets", self._refresh_replicaset(rs))
        self._refresh_deployment(new, sets)
        return self.commit("deployments", new)

    def _scale_replicaset(self, deployment: Obj, rs: Obj, wl: WorkloadDef, replicas: int) -> None:
        meta = rs["metadata"]
        ns = meta["namespace"]
        pods = [
            p
            for p in self._pods_of(ns, "ReplicaSet", meta["name"])
            if p["status"]["phase"] not in ("Failed", "Succeeded")
        ]
        before = rs["spec"]["replicas"]
        rs["spec"]["replicas"] = replicas
        if before != replicas:
            meta["generation"] = meta.get("generation", 1) + 1
            verb = "up" if replicas > before else "down"
            self._emit(
                deployment,
                "ScalingReplicaSet",
                f"Scaled {verb} replica set {meta['name']} to {replicas} from {before}",
            )
        if len(pods) > replicas:
            doomed = sorted(
                pods,
                key=lambda p: (_pod_ready(p), -parse_rfc3339(p["metadata"]["creationTimestamp"])),
            )
            for pod in doomed[: len(pods) - replicas]:
                self._drop_pod(pod)
                self._emit(
                    rs,
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )
        elif len(pods) < replicas:
            self._spawn(wl, rs, replicas - len(pods))

    def _spawn(
        self,
        wl: WorkloadDef,
        owner: Obj,
        count: int,
        *,
        name: str | None = None,
        node: NodeDef | None = None,
        extra_labels: dict[str, str] | None = None,
    ) -> None:
        """Create ``count`` fresh pods for ``owner`` and commit them with their events."""
        mark = len(self.objects["events"])
        pods = self._make_pods(
            wl,
            owner,
            count,
            self.clock(),
            name=name,
            node=node,
            extra_labels=extra_labels,
            fresh=True,
        )
        for event in list(itertools.islice(self.objects["events"].values(), mark, None)):
            self.commit("events", event)
        for pod in pods:
            self.commit("pods", pod)
            if owner["kind"] == "ReplicaSet":
                self._emit(
                    owner,
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )

    def _drop_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        owner = (meta.get("ownerReferences") or [{}])[0]
        owned = self._owned.get((meta["namespace"], owner.get("kind", ""), owner.get("name", "")))
        if owned and meta["name"] in owned:
            owned.remove(meta["name"])
        self._pod_profile.pop(key, None)
        self._pod_workload.pop(key, None)
        self.fixed_logs.pop(key, None)
        self._log_cache = {k: v for k, v in self._log_cache.items() if k[:2] != key}
        node = next((n for n in self.nodes if n.name == pod["spec"].get("nodeName")), None)
        if node is not None:
            node.pods -= 1
        self.remove("pods", key)

    def delete_pod(self, namespace: str, name: str) -> Obj:
        """Delete a pod as a graceful delete would end; its controller replaces it at once.

        Returns the pod as it was, with ``deletionTimestamp`` set, like the API's response.
        """
        pod = self.objects["pods"][(namespace, name)]
        gone = copy.deepcopy(pod)
        now = self.clock()
        gone["metadata"]["deletionTimestamp"] = rfc3339(now + 30)
        gone["metadata"]["deletionGracePeriodSeconds"] = 30
        wl = self._pod_workload.get((namespace, name))
        owner_ref = (pod["metadata"].get("ownerReferences") or [None])[0]
        node_name = pod["spec"].get("nodeName")
        self._emit(
            pod,
            "Killing",
            f"Stopping container {pod['spec']['containers'][0]['name']}",
            component="kubelet",
            host=node_name,
            field_path=f"spec.containers{{{pod['spec']['containers'][0]['name']}}}",
        )
        self._drop_pod(pod)
        if wl is None or owner_ref is None:
            return gone
        resource = {
            "ReplicaSet": "replicasets",
            "StatefulSet": "statefulsets",
            "DaemonSet": "daemonsets",
        }[owner_ref["kind"]]
        owner = self.objects[resource].get((namespace, owner_ref["name"]))
        if owner is None:
            return gone
        labels = pod["metadata"].get("labels", {})
        if owner_ref["kind"] == "ReplicaSet":
            active = [
                p
                for p in self._pods_of(namespace, "ReplicaSet", owner_ref["name"])
                if p["status"]["phase"] not in ("Failed", "Succeeded")
            ]
            if len(active) < owner["spec"]["replicas"]:
                self._spawn(wl, owner, owner["spec"]["replicas"] - len(active))
            self.commit("replicasets", self._refresh_replicaset(owner))
            parent_ref = owner["metadata"]["ownerReferences"][0]
            parent = self.objects["deployments"].get((namespace, parent_ref["name"]))
            if parent is not None:
                self.commit("deployments", self._refresh_deployment(parent))
        elif owner_ref["kind"] == "StatefulSet":
            extra = {k: v for k, v in labels.items() if k != "app"}
            self._spawn(wl, owner, 1, name=name, extra_labels=extra)
            self.commit("statefulsets", self._refresh_statefulset(owner))
        else:
            node = next((n for n in self.nodes if n.name == node_name), None)
            extra = {k: v for k, v in labels.items() if k != "app"}
            self._spawn(wl, owner, 1, node=node, extra_labels=extra)
            self.commit("daemonsets", self._refresh_daemonset(owner))
        return gone

    # ------------------------------------------------------------------ logs

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        previous: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> list[tuple[float, str]]:
        """The lines the kubelet would return as (timestamp, text), oldest first.

        Raises :class:`LogUnavailable` where the real kubelet refuses (a container that never
        started, no previous instance) and, with the API server's 500, where the kubelet cannot
        be reached (a NotReady node); ``params`` are the request's log options, which that
        error's kubelet URL shows. A pod that is not scheduled has no logs at all.
        """
        pod = self.objects["pods"][(namespace, name)]
        node = next((n for n in self.nodes if n.name == pod["spec"].get("nodeName")), None)
        if node is not None and not node.ready:
            raise LogUnavailable(
                500, kubelet_unreachable(node.ip, namespace, name, container, params)
            )
        key = (namespace, name, container, previous)
        cached = self._log_cache.get(key)
        if cached is not None:
            return cached
        if not pod["spec"].get("nodeName"):
            return []
        statuses = pod["status"].get("containerStatuses", []) + pod["status"].get(
            "initContainerStatuses", []
        )
        status = next((s for s in statuses if s["name"] == container), None)
        if status is None:
            raise LogUnavailable(
                400,
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating',
            )
        waiting = status["state"].get("waiting")
        terminated = status["state"].get("terminated")
        if terminated and terminated.get("reason") == "ContainerStatusUnknown":
            raise LogUnavailable(
                400, f"unable to retrieve container logs for {status['containerID']}"
            )
        if previous and not status["lastState"].get("terminated"):
            raise LogUnavailable(
                400, f'previous terminated container "{container}" in pod "{name}" not found'
            )
        if not previous and waiting and not status["lastState"].get("terminated"):
            detail = (
                "trying and failing to pull image"
                if "Image" in waiting["reason"]
                else waiting["reason"]
            )
            raise LogUnavailable(
                400, f'container "{container}" in pod "{name}" is waiting to start: {detail}'
            )
        lines = self.fixed_logs.get((namespace, name)) or _generate_log(self, pod, status, previous)
        if len(self._log_cache) > 512:
            self._log_cache.clear()
        self._log_cache[key] = lines
        return lines

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


# ---------------------------------------------------------------------- helpers


def _without_hash(template: Obj) -> Obj:
    labels = template.get("metadata", {}).get("labels", {})
    if "pod-template-hash" not in labels:
        return template
    out = copy.deepcopy(template)
    del out["metadata"]["labels"]["pod-template-hash"]
    return out


def _requests(containers: list[Obj]) -> tuple[float, float]:
    """Total (cpu cores, memory bytes) the containers request."""
    cpu = memory = 0.0
    for c in containers:
        requests = c.get("resources", {}).get("requests", {})
        cpu += parse_quantity(requests.get("cpu", "0"))
        memory += parse_quantity(requests.get("memory", "0"))
    return cpu, memory


def _qos(containers: list[Obj]) -> str:
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


def _max_unavailable(deployment: Obj) -> int:
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    value = strategy.get("rollingUpdate", {}).get("maxUnavailable", "25%")
    replicas = deployment["spec"]["replicas"]
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * int(value[:-1]) / 100)
    return int(value)


def _pod_ready(pod: Obj) -> bool:
    for c in pod["status"].get("conditions", ()):
        if c["type"] == "Ready":
            return bool(c["status"] == "True")
    return False


def _pod_is_healthy(pod: Obj) -> bool:
    status = pod["status"]
    if status.get("phase") not in ("Running", "Succeeded"):
        return False
    if status["phase"] == "Succeeded":
        return True
    if not _pod_ready(pod):
        return False
    for cs in status.get("containerStatuses", ()):
        if not cs["state"].get("running") or cs["restartCount"] >= 3:
            return False
        if cs.get("lastState", {}).get("terminated", {}).get("reason") == "OOMKilled":
            return False
    return True


def _workload_from(deployment: Obj) -> WorkloadDef:
    """A minimal workload definition for a Deployment the generator did not create."""
    meta = deployment["metadata"]
    return WorkloadDef(
        meta["namespace"],
        meta["name"],
        [
            ContainerDef(c["name"], c["image"])
            for c in deployment["spec"]["template"]["spec"]["containers"]
        ],
    )


def _last_applied(wl: WorkloadDef, template: Obj) -> str:
    """The ``kubectl apply`` annotation: the manifest as applied, secrets and all."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {},
            "labels": {"app": wl.name},
            "name": wl.name,
            "namespace": wl.namespace,
        },
        "spec": {
            "replicas": wl.replicas,
            "selector": {"matchLabels": {"app": wl.name}},
            "template": {
                "metadata": {"labels": {"app": wl.name}},
                "spec": {
                    "containers": [
                        {
                            k: v
                            for k, v in c.items()
                            if k in ("name", "image", "env", "ports", "resources")
                        }
                        for c in template["spec"]["containers"]
                    ]
                },
            },
        },
    }
    return orjson.dumps(manifest).decode() + "\n"


# ---------------------------------------------------------------------- log text


def _generate_log(
    cluster: SampleCluster, pod: Obj, status: Obj, previous: bool
) -> list[tuple[float, str]]:
    """Log lines for one container instance, in the style of the app it runs."""
    meta = pod["metadata"]
    name = status["name"]
    rng = random.Random(f"{cluster.seed}/{meta['namespace']}/{meta['name']}/{name}/{previous}")
    profile = cluster.profile_of_pod(meta["namespace"], meta["name"])
    wl = cluster.workload_of_pod(meta["namespace"], meta["name"])
    style = "http"
    if wl is not None:
        style = next(
            (c.log_style for c in wl.containers + wl.init_containers if c.name == name), "http"
        )
    term = status["lastState"].get("terminated") if previous else None
    running = status["state"].get("running")
    if term:
        start, end = parse_rfc3339(term["startedAt"]), parse_rfc3339(term["finishedAt"])
        if status["state"].get("waiting"):
            # The current instance is the last one that died; --previous is the one before it.
            start, end = start - 300, end - 300
    elif status["state"].get("terminated"):
        t = status["state"]["terminated"]
        start, end = parse_rfc3339(t["startedAt"]), parse_rfc3339(t["finishedAt"])
    elif running:
        start, end = parse_rfc3339(running["startedAt"]), cluster.now
    else:
        last = status["lastState"]["terminated"]
        start, end = parse_rfc3339(last["startedAt"]), parse_rfc3339(last["finishedAt"])
    is_main = name == pod["spec"]["containers"][0]["name"]
    if style == "payments":
        return _payments_log(rng, start, end)
    if style == "trainer" or (profile in (OOM, OOM_CRASHLOOP) and is_main):
        killed = term is not None or bool(status["state"].get("waiting"))
        return _trainer_log(rng, start, end, killed)
    if is_main and profile == CRASHLOOP:
        return _crash_log(rng, start, end, meta["name"])
    if (
        status["state"].get("terminated")
        and status["state"]["terminated"].get("reason") == "Completed"
    ):
        return [(start, "changing ownership of /var/lib/postgresql"), (start + 0.4, "done")]
    span = min(end - start, 6 * 3600)
    count = rng.randint(200, 400)
    first = end - span
    times = sorted(first + rng.random() * span for _ in range(count))
    make = _LINE_MAKERS.get(style, _http_line)
    lines = [(first, _banner(style, meta["name"], name))]
    lines += [(t, make(rng, t)) for t in times]
    if term is not None:
        lines.append((end, "received signal terminated, shutting down"))
    return lines


def _iso_ms(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _level(rng: random.Random) -> str:
    r = rng.random()
    return "ERROR" if r < 0.04 else "WARN" if r < 0.14 else "INFO"


PATHS = (
    "/api/v1/items",
    "/api/v1/orders",
    "/api/v1/users/me",
    "/healthz",
    "/metrics",
    "/api/v1/search",
    "/api/v1/cart",
    "/readyz",
)
UPSTREAMS = ("cart.shop", "postgres.data", "redis.data", "auth.default", "search.shop")


def _http_line(rng: random.Random, t: float) -> str:
    level = _level(rng)
    path = rng.choice(PATHS)
    if level == "ERROR":
        return (
            f"{_iso_ms(t)} ERROR request failed method=POST path={path} status=500 "
            f'error="upstream {rng.choice(UPSTREAMS)}: context deadline exceeded"'
        )
    if level == "WARN":
        took = rng.randint(900, 4000)
        return (
            f"{_iso_ms(t)} WARN  slow request method=GET path={path} status=200 duration={took}ms"
        )
    method = rng.choice(("GET", "GET", "GET", "POST", "PUT"))
    took = rng.randint(1, 120)
    return (
        f"{_iso_ms(t)} INFO  http request method={method} path={path} status=200 duration={took}ms"
    )


def _worker_line(rng: random.Random, t: float) -> str:
    level = _level(rng)
    job = f"{rng.getrandbits(32):08x}"
    if level == "ERROR":
        attempt = rng.randint(1, 3)
        return f'{_iso_ms(t)} ERROR job failed id={job} attempt={attempt} error="lock timeout"'
    if level == "WARN":
        return (
            f"{_iso_ms(t)} WARN  job retried id={job} queue=default backoff={rng.randint(1, 30)}s"
        )
    return f"{_iso_ms(t)} INFO  job done id={job} queue=default duration={rng.randint(5, 9000)}ms"


def _nginx_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
    status = rng.choice((200, 200, 200, 200, 304, 404, 499, 502))
    path = rng.choice(("/", "/index.html", "/static/app.js", "/favicon.ico", "/healthz"))
    agent = rng.choice(("kube-probe/1.30", "Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0"))
    return (
        f'10.244.{rng.randint(0, 9)}.{rng.randint(2, 250)} - - [{stamp}] "GET {path} HTTP/1.1" '
        f'{status} {rng.randint(0, 40000)} "-" "{agent}"'
    )


def _dns_line(rng: random.Random, t: float) -> str:
    host = rng.choice(
        (
            "cart.shop",
            "postgres.data",
            "payments-api.payments",
            "api.github.com",
            "grafana.monitoring",
        )
    )
    code = "NXDOMAIN" if rng.random() < 0.1 else "NOERROR"
    return (
        f"[INFO] 10.244.{rng.randint(0, 9)}.{rng.randint(2, 250)}:{rng.randint(30000, 60000)} - "
        f'{rng.randint(1, 65535)} "A IN {host}.svc.cluster.local. udp 58 false 512" {code} '
        f"qr,aa,rd 110 0.000{rng.randint(100, 999)}s"
    )


def _klog_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%m%d %H:%M:%S", time.gmtime(t)) + f".{rng.randint(0, 999999):06d}"
    level = _level(rng)
    letter = level[0]
    msg = {
        "INFO": rng.choice(
            (
                '"Successfully synced" key="kube-system/coredns"',
                '"Updating rules" ipv4=true',
                '"Scraped metrics" nodes=4',
            )
        ),
        "WARN": '"Failed to scrape node, timeout to access kubelet" node="node-3"',
        "ERROR": '"Unhandled Error" err="dial tcp 172.20.0.7:10250: connect: no route to host"',
    }[level]
    return f"{letter}{stamp}       1 controller.go:{rng.randint(100, 400)}] {msg}"


def _promlog_line(rng: random.Random, t: float) -> str:
    level = _level(rng).lower().replace("warn", "warn")
    msg = {
        "info": rng.choice(
            (
                '"Completed loading of configuration file"',
                '"Head GC completed" duration=41.2ms',
                '"WAL checkpoint complete"',
            )
        ),
        "warn": '"Error on ingesting out-of-order samples" num_dropped=3',
        "error": '"Scrape failed" err="context deadline exceeded" target=http://172.20.0.7:9100/metrics',
    }[level]
    return f"ts={_iso_ms(t)} caller=main.go:{rng.randint(500, 1500)} level={level} msg={msg}"


def _postgres_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{rng.randint(0, 999):03d} UTC"
    level = _level(rng)
    msg = {
        "INFO": rng.choice(
            (
                "LOG:  checkpoint starting: time",
                "LOG:  checkpoint complete: wrote 312 buffers (1.9%)",
                'LOG:  automatic vacuum of table "shop.public.orders"',
            )
        ),
        "WARN": "WARNING:  there is no transaction in progress",
        "ERROR": 'ERROR:  duplicate key value violates unique constraint "orders_pkey"',
    }[level]
    return f"{stamp} [{rng.randint(60, 9000)}] {msg}"


def _fluentbit_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))
    level = _level(rng)
    msg = {
        "INFO": "[ info] [output:forward:forward.0] flushed 128 records",
        "WARN": "[ warn] [engine] failed to flush chunk, retry in 8 seconds",
        "ERROR": "[error] [output:forward:forward.0] no upstream connections available",
    }[level]
    return f"[{stamp}] {msg}"


_LINE_MAKERS: dict[str, Callable[[random.Random, float], str]] = {
    "http": _http_line,
    "worker": _worker_line,
    "nginx": _nginx_line,
    "dns": _dns_line,
    "klog": _klog_line,
    "promlog": _promlog_line,
    "postgres": _postgres_line,
    "fluentbit": _fluentbit_line,
}


def _banner(style: str, pod: str, container: str) -> str:
    return {
        "nginx": "/docker-entrypoint.sh: Configuration complete; ready for start up",
        "dns": ".:53\n[INFO] plugin/reload: Running configuration SHA512 = 591cf328",
        "postgres": "LOG:  database system is ready to accept connections",
    }.get(style, f"starting {container} pod={pod}")


def _payments_log(rng: random.Random, start: float, end: float) -> list[tuple[float, str]]:
    """payments-api's start-up: leaks a password and a bearer token, then panics."""
    t = start
    out: list[tuple[float, str]] = []

    def add(text: str, step: float = 0.01) -> None:
        nonlocal t
        t = min(t + step, end)
        out.append((t, text))

    add(f"{_iso_ms(t)} INFO  starting payments-api version=1.9.0 commit=4f2a9c1 go=go1.22.5")
    add(f"{_iso_ms(t)} INFO  loading config from /etc/payments/config.yaml")
    add(
        f"{_iso_ms(t)} DEBUG env DATABASE_URL=postgres://payments:S3cr3tP4ss@postgres.data:5432/payments"
    )
    add(
        f"{_iso_ms(t)} INFO  connecting to database host=postgres.data port=5432 "
        "user=payments db=payments"
    )
    add(f"{_iso_ms(t)} DEBUG connecting with password={DB_PASSWORD}")
    add(f"{_iso_ms(t)} DEBUG stripe client configured: Authorization: Bearer {BEARER_TOKEN}")
    for attempt in range(1, 6):
        add(
            f"{_iso_ms(t)} WARN  database not reachable, retrying in {attempt}s "
            f'(attempt {attempt}/5) error="dial tcp 10.0.3.7:5432: connect: connection refused"',
            step=attempt * 0.2,
        )
    add(f"{_iso_ms(t)} ERROR giving up on database after 5 attempts")
    add(PAYMENTS_PANIC)
    del rng
    return out


def _crash_log(rng: random.Random, start: float, end: float, pod: str) -> list[tuple[float, str]]:
    reason = rng.choice(
        (
            (
                "panic: runtime error: invalid memory address or nil pointer dereference",
                "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x9f3c2e]",
            ),
            ('Error: required environment variable "API_KEY" is not set', ""),
            ("Error: open /etc/app/config.yaml: no such file or directory", ""),
        )
    )
    out = [
        (start, f"{_iso_ms(start)} INFO  starting pod={pod}"),
        (start + 0.3, f"{_iso_ms(start + 0.3)} INFO  loading configuration"),
    ]
    out.append((end, reason[0]))
    if reason[1]:
        out.append((end, reason[1]))
    return out


def _trainer_log(
    rng: random.Random, start: float, end: float, killed: bool
) -> list[tuple[float, str]]:
    """Training progress with growing memory; an OOM-killed run just stops mid-epoch."""
    out = [
        (start, f"{_iso_ms(start)} INFO  loading dataset shards=128 batch_size=256"),
        (
            start + 4,
            f"{_iso_ms(start + 4)} INFO  resuming from checkpoint s3://ml-checkpoints/trainer/step-1200",
        ),
    ]
    steps = rng.randint(150, 300)
    loss = 2.3
    span = max(end - start - 10, 10)
    for i in range(steps):
        t = start + 10 + span * i / steps
        loss *= 0.995
        mem = 9.0 + 6.8 * i / steps
        level = "WARN " if mem > 15.0 else "INFO "
        out.append(
            (
                t,
                (
                    f"{_iso_ms(t)} {level} epoch={1 + i // 60} step={1200 + i * 10} "
                    f"loss={loss:.4f} lr=3.0e-04 rss={mem:.1f}GiB"
                ),
            )
        )
    if not killed:
        out.append((end, f"{_iso_ms(end)} INFO  checkpoint saved step={1200 + steps * 10}"))
    return out
