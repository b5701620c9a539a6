"""msgspec Structs for the kinds only diagnose_cluster reads (Jobs, claims, Ingresses, HPAs,
PDBs, custom resources' conditions), holding only the fields its analyzers judge by."""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct, field

from ..models import Condition, Meta


class Named(Struct, gc=False):
    """Only the identity of an object (StorageClass, IngressClass: existence is what counts)."""

    metadata: Meta = field(default_factory=Meta)


class ClaimSpec(Struct, rename="camel", gc=False):
    storage_class_name: str | None = None
    volume_name: str = ""


class ClaimStatus(Struct, gc=False):
    phase: str = ""


class PersistentVolumeClaim(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: ClaimSpec = field(default_factory=ClaimSpec)
    status: ClaimStatus = field(default_factory=ClaimStatus)


class ClassMeta(Meta, rename="camel", gc=False):
    annotations: dict[str, str] | None = None


class StorageClass(Struct, gc=False):
    metadata: ClassMeta = field(default_factory=ClassMeta)
    provisioner: str = ""


class JobSpec(Struct, rename="camel", gc=False):
    backoff_limit: int | None = None
    completions: int | None = None
    suspend: bool | None = None


class JobStatus(Struct, rename="camel", gc=False):
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    conditions: list[Condition] = []
    start_time: datetime | None = None
    completion_time: datetime | None = None


class Job(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: JobSpec = field(default_factory=JobSpec)
    status: JobStatus = field(default_factory=JobStatus)


class CronJobSpec(Struct, rename="camel", gc=False):
    schedule: str = ""
    suspend: bool | None = None
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None


class CronJobStatus(Struct, rename="camel", gc=False):
    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None


class CronJob(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: CronJobSpec = field(default_factory=CronJobSpec)
    status: CronJobStatus = field(default_factory=CronJobStatus)


class BackendService(Struct, gc=False):
    name: str = ""
    port: dict[str, object] = {}


class IngressBackend(Struct, gc=False):
    service: BackendService | None = None
    resource: dict[str, object] | None = None


class IngressPath(Struct, gc=False):
    path: str = ""
    backend: IngressBackend = field(default_factory=IngressBackend)


class IngressHTTP(Struct, gc=False):
    paths: list[IngressPath] = []


class IngressRule(Struct, gc=False):
    host: str = ""
    http: IngressHTTP | None = None


class IngressSpec(Struct, rename="camel", gc=False):
    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    rules: list[IngressRule] = []


class Ingress(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: IngressSpec = field(default_factory=IngressSpec)


class ScaleTarget(Struct, gc=False):
    kind: str = ""
    name: str = ""


class AutoscalerSpec(Struct, rename="camel", gc=False):
    scale_target_ref: ScaleTarget = field(default_factory=ScaleTarget)
    min_replicas: int | None = None
    max_replicas: int = 0


class AutoscalerStatus(Struct, rename="camel", gc=False):
    current_replicas: int = 0
    desired_replicas: int = 0
    conditions: list[Condition] = []


class Autoscaler(Struct, gc=False):
    """A HorizontalPodAutoscaler as autoscaling/v2 serves it."""

    metadata: Meta = field(default_factory=Meta)
    spec: AutoscalerSpec = field(default_factory=AutoscalerSpec)
    status: AutoscalerStatus = field(default_factory=AutoscalerStatus)


class BudgetSpec(Struct, rename="camel", gc=False):
    min_available: int | str | None = None
    max_unavailable: int | str | None = None


class BudgetStatus(Struct, rename="camel", gc=False):
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0


class DisruptionBudget(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: BudgetSpec = field(default_factory=BudgetSpec)
    status: BudgetStatus = field(default_factory=BudgetStatus)


class ConditionsStatus(Struct, gc=False):
    conditions: list[Condition] | None = None


class Conditioned(Struct, gc=False):
    """Any object with ``status.conditions`` (custom resources): enough to judge Ready/Available."""

    metadata: Meta = field(default_factory=Meta)
    status: ConditionsStatus | None = None
