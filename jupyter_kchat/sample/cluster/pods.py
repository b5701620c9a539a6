"""Generating pods: placement, the scheduler's and kubelet's statuses, evictions."""

from __future__ import annotations

import copy

from .catalog import EVICTION_MESSAGE, NodeDef, WorkloadDef
from .common import (
    CRASHLOOP,
    DEFAULT_TOLERATIONS,
    EVICTED,
    HEALTHY,
    IMAGEPULL,
    NODE_LOST,
    OOM,
    OOM_CRASHLOOP,
    PENDING,
    Obj,
    image_id,
    owner_ref,
    parse_quantity,
    parse_rfc3339,
    rfc3339,
)
from .health import qos_class, requested
from .state import ClusterState


class Pods(ClusterState):
    """Generating pods: placement, the scheduler's and kubelet's statuses, evictions."""

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
        cpu, memory = requested(containers)
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
        qos = qos_class(spec["containers"])
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
        want_cpu, want_mem = requested(spec["containers"])
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
