"""The hand-written catalog: the workloads (the named broken ones among them), the filler apps
big clusters are made of, the nodes' shape, and the secrets and passwords tests look for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .common import CRASHLOOP, EVICTED, HEALTHY, IMAGEPULL, K8S_VERSION, OOM, PENDING, Obj, clone
from .registry import PRIVATE_IMAGE

BASE_NAMESPACES = ("default", "kube-system", "payments", "shop", "data", "monitoring", "ml")

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


def base_workloads() -> list[WorkloadDef]:
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


def filler(namespace: str, app: str, replicas: int, rng: random.Random) -> WorkloadDef:
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
