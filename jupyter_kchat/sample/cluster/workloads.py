"""Generating workloads: Deployments with their ReplicaSet history, StatefulSets, DaemonSets."""

from __future__ import annotations

import orjson

from .catalog import WorkloadDef
from .common import CRASHLOOP, EVICTED, HEALTHY, OOM, Obj, clone, owner_ref, template_hash
from .state import ClusterState
from .storage import DEFAULT_STORAGE_CLASS


class Workloads(ClusterState):
    """Generating workloads: Deployments with their ReplicaSet history, StatefulSets, DaemonSets."""

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
