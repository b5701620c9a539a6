"""msgspec Structs for the Kubernetes objects tools read, holding only the fields tools use.

Decoding into these skips everything else in the JSON (managed fields, annotations, pod specs'
probes and volumes...), which is what makes a 10,000-pod list cheap. Field names follow the API
(``rename="camel"``); every field has a default because the API omits empty values.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import Raw, Struct, field


class OwnerRef(Struct, rename="camel", gc=False):
    kind: str = ""
    name: str = ""
    controller: bool | None = None


class Meta(Struct, rename="camel", gc=False):
    """The metadata every listed object needs (no labels or annotations: they can be large)."""

    name: str = ""
    namespace: str = ""
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    owner_references: list[OwnerRef] = []


class LabeledMeta(Meta, rename="camel", gc=False):
    labels: dict[str, str] | None = None


# ---------------------------------------------------------------------- pods


class StateWaiting(Struct, gc=False):
    reason: str = ""
    message: str = ""


class StateRunning(Struct, gc=False):
    """Present when the container runs (its start time is not needed by list tools)."""


class StateTerminated(Struct, rename="camel", gc=False):
    reason: str = ""
    message: str = ""
    exit_code: int = 0
    signal: int = 0
    finished_at: str = ""


class ContainerState(Struct, gc=False):
    waiting: StateWaiting | None = None
    running: StateRunning | None = None
    terminated: StateTerminated | None = None


class ContainerStatus(Struct, rename="camel", gc=False):
    name: str = ""
    ready: bool = False
    restart_count: int = 0
    image: str = ""
    started: bool | None = None
    state: ContainerState = field(default_factory=ContainerState)
    last_state: ContainerState = field(default_factory=ContainerState)


class Condition(Struct, rename="camel", gc=False):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""


class PodStatus(Struct, rename="camel", gc=False):
    phase: str = ""
    reason: str = ""
    message: str = ""
    conditions: list[Condition] = []
    container_statuses: list[ContainerStatus] = []
    init_container_statuses: list[ContainerStatus] = []


class Resources(Struct, gc=False):
    limits: dict[str, str] | None = None
    requests: dict[str, str] | None = None


class ContainerSpec(Struct, gc=False):
    name: str = ""
    image: str = ""
    resources: Resources | None = None


class ClaimRef(Struct, rename="camel", gc=False):
    claim_name: str = ""


class PodVolume(Struct, rename="camel", gc=False):
    """A pod volume; only a PersistentVolumeClaim reference matters (diagnose's PVC impact)."""

    persistent_volume_claim: ClaimRef | None = None


class PodSpec(Struct, rename="camel", gc=False):
    node_name: str = ""
    containers: list[ContainerSpec] = []
    init_containers: list[ContainerSpec] = []
    volumes: list[PodVolume] = []


class Pod(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: PodSpec = field(default_factory=PodSpec)
    status: PodStatus = field(default_factory=PodStatus)


class PodPlacementSpec(Struct, rename="camel", gc=False):
    node_name: str = ""


class PodPlacementStatus(Struct, gc=False):
    phase: str = ""


class PodPlacement(Struct, gc=False):
    """Just enough of a pod to count pods per node."""

    spec: PodPlacementSpec = field(default_factory=PodPlacementSpec)
    status: PodPlacementStatus = field(default_factory=PodPlacementStatus)


# ---------------------------------------------------------------------- nodes


class Taint(Struct, gc=False):
    key: str = ""
    value: str = ""
    effect: str = ""


class NodeSpec(Struct, gc=False):
    unschedulable: bool = False
    taints: list[Taint] = []


class NodeInfo(Struct, rename="camel", gc=False):
    kubelet_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    architecture: str = ""


class NodeAddress(Struct, gc=False):
    type: str = ""
    address: str = ""


class NodeStatus(Struct, rename="camel", gc=False):
    conditions: list[Condition] = []
    capacity: dict[str, str] = {}
    allocatable: dict[str, str] = {}
    node_info: NodeInfo = field(default_factory=NodeInfo)
    addresses: list[NodeAddress] = []


class Node(Struct, gc=False):
    metadata: LabeledMeta = field(default_factory=LabeledMeta)
    spec: NodeSpec = field(default_factory=NodeSpec)
    status: NodeStatus = field(default_factory=NodeStatus)


# ---------------------------------------------------------------------- workloads


class TemplateMeta(Struct, gc=False):
    annotations: dict[str, str] | None = None


class Template(Struct, gc=False):
    metadata: TemplateMeta = field(default_factory=TemplateMeta)
    spec: PodSpec = field(default_factory=PodSpec)


class LabelSelector(Struct, rename="camel", gc=False):
    match_labels: dict[str, str] | None = None


class WorkloadSpec(Struct, gc=False):
    replicas: int | None = None
    paused: bool = False
    selector: LabelSelector = field(default_factory=LabelSelector)
    template: Template = field(default_factory=Template)


class WorkloadStatus(Struct, rename="camel", gc=False):
    """Deployment, StatefulSet and DaemonSet status fields in one Struct (each uses some)."""

    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    current_replicas: int = 0
    desired_number_scheduled: int = 0
    current_number_scheduled: int = 0
    number_ready: int = 0
    number_available: int = 0
    number_unavailable: int = 0
    number_misscheduled: int = 0
    updated_number_scheduled: int = 0
    observed_generation: int = 0
    conditions: list[Condition] = []


class WorkloadMeta(Meta, rename="camel", gc=False):
    generation: int = 0


class Workload(Struct, gc=False):
    metadata: WorkloadMeta = field(default_factory=WorkloadMeta)
    spec: WorkloadSpec = field(default_factory=WorkloadSpec)
    status: WorkloadStatus = field(default_factory=WorkloadStatus)


class Scale(Struct, gc=False):
    spec: dict[str, int] = {}
    status: dict[str, object] = {}


# ---------------------------------------------------------------------- events


class InvolvedObject(Struct, rename="camel", gc=False):
    kind: str = ""
    name: str = ""
    namespace: str = ""
    field_path: str = ""


class EventSource(Struct, gc=False):
    component: str = ""
    host: str = ""


class EventSeries(Struct, rename="camel", gc=False):
    count: int = 0
    last_observed_time: datetime | None = None


class Event(Struct, rename="camel", gc=False):
    metadata: Meta = field(default_factory=Meta)
    involved_object: InvolvedObject = field(default_factory=InvolvedObject)
    reason: str = ""
    message: str = ""
    type: str = ""
    count: int | None = None
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    event_time: datetime | None = None
    series: EventSeries | None = None
    source: EventSource = field(default_factory=EventSource)
    reporting_component: str = ""

    def when(self) -> datetime | None:
        """When it last happened: the series, lastTimestamp, eventTime or creation time."""
        if self.series is not None and self.series.last_observed_time is not None:
            return self.series.last_observed_time
        return self.last_timestamp or self.event_time or self.metadata.creation_timestamp

    def times(self) -> int:
        if self.series is not None and self.series.count:
            return self.series.count
        return self.count or 1


# ---------------------------------------------------------------------- services, namespaces


class ServicePort(Struct, rename="camel", gc=False):
    name: str = ""
    port: int = 0
    protocol: str = "TCP"
    target_port: int | str | None = None
    node_port: int | None = None


class ServiceSpec(Struct, rename="camel", gc=False):
    type: str = "ClusterIP"
    cluster_ip: str = field(default="", name="clusterIP")
    external_ips: list[str] = field(default_factory=list, name="externalIPs")
    external_name: str = ""
    ports: list[ServicePort] = []
    selector: dict[str, str] | None = None


class LoadBalancerIngress(Struct, gc=False):
    ip: str = ""
    hostname: str = ""


class LoadBalancerStatus(Struct, gc=False):
    ingress: list[LoadBalancerIngress] = []


class ServiceStatus(Struct, rename="camel", gc=False):
    load_balancer: LoadBalancerStatus = field(default_factory=LoadBalancerStatus)


class Service(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    spec: ServiceSpec = field(default_factory=ServiceSpec)
    status: ServiceStatus = field(default_factory=ServiceStatus)


class EndpointSubset(Struct, rename="camel", gc=False):
    addresses: list[dict[str, object]] = []
    not_ready_addresses: list[dict[str, object]] = []


class Endpoints(Struct, gc=False):
    metadata: Meta = field(default_factory=Meta)
    subsets: list[EndpointSubset] | None = None

    def ready(self) -> int:
        """Addresses that receive traffic (of pods that are Ready)."""
        return sum(len(subset.addresses) for subset in self.subsets or [])

    def waiting(self) -> list[str]:
        """Names of the pods behind not-ready addresses (their IP when no pod is named)."""
        names = []
        for subset in self.subsets or []:
            for address in subset.not_ready_addresses:
                ref = address.get("targetRef")
                name = ref.get("name") if isinstance(ref, dict) else None
                names.append(str(name or address.get("ip", "?")))
        return names


class NamespaceStatus(Struct, gc=False):
    phase: str = ""


class Namespace(Struct, gc=False):
    metadata: LabeledMeta = field(default_factory=LabeledMeta)
    status: NamespaceStatus = field(default_factory=NamespaceStatus)


# ---------------------------------------------------------------------- secrets


class SecretItem(Struct, gc=False):
    """A secret as read from the API: ``data`` values stay undecoded raw JSON slices.

    Callers take the key names and drop the item at once; values are never turned into str.
    """

    metadata: Meta = field(default_factory=Meta)
    type: str = ""
    data: dict[str, Raw] | None = None
