"""The controllers for writes: statuses, scaling, rollouts and pod deletion kept consistent."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from .catalog import ContainerDef, NodeDef, WorkloadDef
from .common import HEALTHY, Key, Obj, parse_rfc3339, rfc3339, template_hash
from .health import max_unavailable, pod_ready
from .networking import sync_endpoints
from .state import ClusterState


class Controllers(ClusterState):
    """The controllers for writes: statuses, scaling, rollouts and pod deletion kept consistent."""

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
        ready = sum(1 for p in pods if pod_ready(p))
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
        if desired == 0 or ready >= desired - max_unavailable(deployment):
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
        ready = sum(1 for p in pods if pod_ready(p))
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
        ready = sum(1 for p in pods if pod_ready(p))
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
                key=lambda p: (pod_ready(p), -parse_rfc3339(p["metadata"]["creationTimestamp"])),
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


def _without_hash(template: Obj) -> Obj:
    labels = template.get("metadata", {}).get("labels", {})
    if "pod-template-hash" not in labels:
        return template
    out = copy.deepcopy(template)
    del out["metadata"]["labels"]["pod-template-hash"]
    return out


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
