"""Generating the whole cluster: nodes, namespaces, the catalog's workloads plus fillers sized to
the requested pod count, then every other kind in dependency order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from . import batch
from .accounts import make_accounts
from .autoscaling import make_autoscaling
from .batch import make_batch
from .catalog import (
    BASE_NAMESPACES,
    FILLER_APPS,
    NODE_LOST_MESSAGE,
    TEAM_APPS,
    NodeDef,
    WorkloadDef,
    base_workloads,
    filler,
)
from .certmanager import make_cert_manager
from .common import HEALTHY, K8S_VERSION, Obj, rfc3339
from .cronjobs import CronJobs
from .events import Events
from .helm import make_helm
from .logs import Logs
from .networking import make_networking
from .pods import Pods
from .revisions import make_revisions
from .scale import break_workload, broken_plan, check_extra, default_breakage, make_extra
from .services import Services
from .storage import make_storage
from .workloads import Workloads


class SampleCluster(Workloads, Pods, Events, Services, CronJobs, Logs):
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
        super().__init__(pods, seed, now)
        self._generate(pods, broken)
        make_extra(self, extra or {})
        self.start_cronjobs()

    def _generate(self, pods: int, broken: int | None) -> None:
        node_count = max(4, round(pods / 100))
        self._make_nodes(node_count)
        base = base_workloads()
        fixed = sum(w.replicas for w in base if w.kind != "DaemonSet") + 1 + batch.POD_COUNT
        fixed += batch.running_pods(self.now)
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
                    workloads.append(break_workload(filler(ns, app, replicas, self.rng), profile))
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
            out.append(filler(ns, app, replicas, self.rng))
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
            out.append(break_workload(filler(namespace, app, replicas, self.rng), profile))
            budget -= replicas
            n += 1
        while budget > 0:
            app = apps[n % len(apps)] + (f"-{n // len(apps) + 1}" if n >= len(apps) else "")
            replicas = min(budget, self.rng.randint(2, 8))
            out.append(filler(namespace, app, replicas, self.rng))
            budget -= replicas
            n += 1
        return out
