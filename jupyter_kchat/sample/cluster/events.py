"""Events as the scheduler, kubelet and controllers record them (core/v1, aggregated counts)."""

from __future__ import annotations

from .catalog import NodeDef
from .common import (
    CRASHLOOP,
    HEALTHY,
    IMAGEPULL,
    NODE_LOST,
    OOM,
    OOM_CRASHLOOP,
    PENDING,
    Obj,
    parse_quantity,
    parse_rfc3339,
    rfc3339,
)
from .registry import pull_error
from .state import ClusterState


class Events(ClusterState):
    """Events as the scheduler, kubelet and controllers record them (core/v1, aggregated counts)."""

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
