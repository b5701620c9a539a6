"""Storage: the StorageClass, the PersistentVolumes and the claims, one Pending and one Lost.

Shapes and texts are those of the v1.30 PV controller and the local-path provisioner: a claim
naming a class that does not exist stays Pending with ``ProvisioningFailed``, a bound claim
whose volume was deleted goes Lost with ``ClaimLost`` (and loses its status capacity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import Obj, parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from . import SampleCluster

DEFAULT_STORAGE_CLASS = "standard"
PROVISIONER = "rancher.io/local-path"
MISSING_STORAGE_CLASS = "fast-ssd"
PROVISIONING_FAILED = f'storageclass.storage.k8s.io "{MISSING_STORAGE_CLASS}" not found'
CLAIM_LOST = "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
PV_CONTROLLER = "persistentvolume-controller"


def make_storage(c: SampleCluster) -> None:
    """The default StorageClass, the StatefulSets' bound claims, a Pending and a Lost claim."""
    created = c.now - 86400 * 180
    c.store(
        "storageclasses",
        {
            "kind": "StorageClass",
            "apiVersion": "storage.k8s.io/v1",
            "metadata": c.meta(
                DEFAULT_STORAGE_CLASS,
                None,
                created,
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    )
    for (ns, name), sts in list(c.objects["statefulsets"].items()):
        for template in sts["spec"].get("volumeClaimTemplates", ()):
            for ordinal in range(sts["spec"]["replicas"]):
                claim_name = f"{template['metadata']['name']}-{name}-{ordinal}"
                pod = c.objects["pods"].get((ns, f"{name}-{ordinal}"))
                node = pod["spec"].get("nodeName") if pod else None
                bound_claim(
                    c,
                    ns,
                    claim_name,
                    template["spec"]["resources"]["requests"]["storage"],
                    c.now - 86400 * min(200.0, _age_days(c, sts)),
                    node,
                    dict(sts["spec"]["selector"]["matchLabels"]),
                )
                if pod is not None:
                    volumes = pod["spec"].setdefault("volumes", [])
                    volumes.append(
                        {
                            "name": template["metadata"]["name"],
                            "persistentVolumeClaim": {"claimName": claim_name},
                        }
                    )
    pending = claim(c, "ml", "datasets-cache", "200Gi", MISSING_STORAGE_CLASS, c.now - 172800, {})
    pending["status"] = {"phase": "Pending"}
    c.event(
        pending,
        "ProvisioningFailed",
        PROVISIONING_FAILED,
        "Warning",
        PV_CONTROLLER,
        c.now - 86400 * 2,
        c.now - c.rng.uniform(2, 14),
        count=c.rng.randint(9000, 11000),
    )
    lost_at = c.now - 3600 * 5
    lost = claim(
        c,
        "shop",
        "uploads",
        "20Gi",
        DEFAULT_STORAGE_CLASS,
        c.now - 86400 * 60,
        _bound_annotations(None),
    )
    lost["spec"]["volumeName"] = f"pvc-{lost['metadata']['uid']}"
    lost["status"] = {"phase": "Lost"}
    c.event(lost, "ClaimLost", CLAIM_LOST, "Warning", PV_CONTROLLER, lost_at, lost_at)


def bound_claim(
    c: SampleCluster,
    ns: str,
    name: str,
    size: str,
    created: float,
    node: str | None,
    labels: dict[str, str] | None = None,
) -> Obj:
    """A ReadWriteOnce claim the provisioner satisfied, with its PersistentVolume (pinned to
    ``node`` when the claim waited for its first consumer)."""
    pvc = claim(c, ns, name, size, DEFAULT_STORAGE_CLASS, created, _bound_annotations(node), labels)
    volume = f"pvc-{pvc['metadata']['uid']}"
    pvc["spec"]["volumeName"] = volume
    access = list(pvc["spec"]["accessModes"])
    pvc["status"] = {"phase": "Bound", "accessModes": access, "capacity": {"storage": size}}
    pv_spec: Obj = {
        "capacity": {"storage": size},
        "hostPath": {
            "path": f"/opt/local-path-provisioner/{volume}_{ns}_{name}",
            "type": "DirectoryOrCreate",
        },
        "accessModes": access,
        "claimRef": {
            "kind": "PersistentVolumeClaim",
            "namespace": ns,
            "name": name,
            "uid": pvc["metadata"]["uid"],
            "apiVersion": "v1",
            "resourceVersion": pvc["metadata"]["resourceVersion"],
        },
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": DEFAULT_STORAGE_CLASS,
        "volumeMode": "Filesystem",
    }
    if node:
        pv_spec["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                        ]
                    }
                ]
            }
        }
    meta = c.meta(
        volume,
        None,
        created + 3,
        annotations={
            "local.path.provisioner/selected-node": node or "",
            "pv.kubernetes.io/provisioned-by": PROVISIONER,
        },
    )
    meta["finalizers"] = ["kubernetes.io/pv-protection"]
    c.store(
        "persistentvolumes",
        {
            "kind": "PersistentVolume",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": pv_spec,
            "status": {"phase": "Bound", "lastPhaseTransitionTime": rfc3339(created + 4)},
        },
    )
    return pvc


def _age_days(c: SampleCluster, obj: Obj) -> float:
    return (c.now - parse_rfc3339(obj["metadata"]["creationTimestamp"])) / 86400


def _bound_annotations(node: str | None) -> dict[str, str]:
    out = {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
        "volume.kubernetes.io/storage-provisioner": PROVISIONER,
    }
    if node:
        out["volume.kubernetes.io/selected-node"] = node
    return dict(sorted(out.items()))


def claim(
    c: SampleCluster,
    ns: str,
    name: str,
    size: str,
    storage_class: str,
    created: float,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> Obj:
    """A claim for ``size`` of ``storage_class``, stored with an empty status to fill in."""
    meta = c.meta(name, ns, created, labels, annotations or None)
    meta["finalizers"] = ["kubernetes.io/pvc-protection"]
    return c.store(
        "persistentvolumeclaims",
        {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
                "storageClassName": storage_class,
                "volumeMode": "Filesystem",
            },
            "status": {},
        },
    )
