"""kubectl's columns for cluster and configuration kinds: nodes, namespaces, events, config,
storage, and metrics-server's usage tables."""

from __future__ import annotations

from typing import Any

from kubernetes.utils.quantity import parse_quantity

from ...cluster import Obj
from .common import NAME_COLUMN, TableSpec, age, col, since

ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def _node_cells(node: Obj) -> list[Any]:
    conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", ())}
    state = "Ready" if conditions.get("Ready") == "True" else "NotReady"
    if node["spec"].get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in node["metadata"].get("labels", {})
        if k.startswith("node-role.kubernetes.io/")
    )
    info = node["status"].get("nodeInfo", {})
    ips = {a["type"]: a["address"] for a in node["status"].get("addresses", ())}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        age(node),
        info.get("kubeletVersion", ""),
        ips.get("InternalIP", "<none>"),
        ips.get("ExternalIP", "<none>"),
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _event_cells(ev: Obj) -> list[Any]:
    involved = ev.get("involvedObject", {})
    last = ev.get("lastTimestamp") or ev["metadata"].get("creationTimestamp")
    first = ev.get("firstTimestamp") or last
    return [
        since(last),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        ev.get("source", {}).get("component", ""),
        ev.get("message", ""),
        since(first),
        ev.get("count", 1),
        ev["metadata"]["name"],
    ]


def _access_modes(modes: list[str] | None) -> str:
    """helper.GetAccessModesAsString: abbreviations in a fixed order."""
    present = set(modes or ())
    return ",".join(short for mode, short in ACCESS_MODES if mode in present)


def _storage_class(obj: Obj) -> str:
    annotations = obj["metadata"].get("annotations") or {}
    return obj["spec"].get("storageClassName") or annotations.get(
        "volume.beta.kubernetes.io/storage-class", ""
    )


def _pvc_cells(pvc: Obj) -> list[Any]:
    spec, status = pvc["spec"], pvc.get("status", {})
    phase = "Terminating" if pvc["metadata"].get("deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = _access_modes(status.get("accessModes"))
        capacity = (status.get("capacity") or {}).get("storage", "")
    return [
        pvc["metadata"]["name"],
        phase,
        spec.get("volumeName", ""),
        capacity,
        modes,
        _storage_class(pvc),
        spec.get("volumeAttributesClassName") or "<unset>",
        age(pvc),
        spec.get("volumeMode") or "<unset>",
    ]


def _pv_cells(pv: Obj) -> list[Any]:
    spec, status = pv["spec"], pv.get("status", {})
    claim = spec.get("claimRef")
    phase = "Terminating" if pv["metadata"].get("deletionTimestamp") else status.get("phase", "")
    return [
        pv["metadata"]["name"],
        (spec.get("capacity") or {}).get("storage", ""),
        _access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        phase,
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
        _storage_class(pv),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        age(pv),
        spec.get("volumeMode") or "<unset>",
    ]


def _storage_class_cells(sc: Obj) -> list[Any]:
    name = sc["metadata"]["name"]
    annotations = sc["metadata"].get("annotations") or {}
    if annotations.get(DEFAULT_CLASS) == "true":
        name += " (default)"
    return [
        name,
        sc.get("provisioner", ""),
        sc.get("reclaimPolicy") or "Delete",
        sc.get("volumeBindingMode") or "Immediate",
        bool(sc.get("allowVolumeExpansion", False)),
        age(sc),
    ]


def usage_cells(metrics: Obj) -> list[Any]:
    """metrics-server's row: name, summed cpu and memory, the sampling window."""
    usages = [c.get("usage", {}) for c in metrics.get("containers", ())] or [
        metrics.get("usage", {})
    ]
    cpu = float(sum(parse_quantity(u.get("cpu", "0")) for u in usages))
    memory = float(sum(parse_quantity(u.get("memory", "0")) for u in usages))
    # Sums in base units, written in the units metrics-server reports (nanocores, KiB).
    return [
        metrics["metadata"]["name"],
        f"{round(cpu * 1e9)}n",
        f"{round(memory / 1024)}Ki",
        metrics.get("window", ""),
    ]


USAGE: TableSpec = (
    [
        NAME_COLUMN,
        {**col("cpu"), "format": "quantity"},
        {**col("memory"), "format": "quantity"},
        {**col("Window"), "format": "duration"},
    ],
    usage_cells,
)

TABLES: dict[str, TableSpec] = {
    "nodes": (
        [
            NAME_COLUMN,
            col("Status"),
            col("Roles"),
            col("Age"),
            col("Version"),
            col("Internal-IP", 1),
            col("External-IP", 1),
            col("OS-Image", 1),
            col("Kernel-Version", 1),
            col("Container-Runtime", 1),
        ],
        _node_cells,
    ),
    "namespaces": (
        [NAME_COLUMN, col("Status"), col("Age")],
        lambda n: [n["metadata"]["name"], n.get("status", {}).get("phase", ""), age(n)],
    ),
    "secrets": (
        [NAME_COLUMN, col("Type"), col("Data", kind="integer"), col("Age")],
        lambda s: [
            s["metadata"]["name"],
            s.get("type", ""),
            len(s.get("data") or {}),
            age(s),
        ],
    ),
    "configmaps": (
        [NAME_COLUMN, col("Data", kind="integer"), col("Age")],
        lambda c: [
            c["metadata"]["name"],
            len(c.get("data") or {}) + len(c.get("binaryData") or {}),
            age(c),
        ],
    ),
    "serviceaccounts": (
        [NAME_COLUMN, col("Secrets", kind="integer"), col("Age")],
        lambda s: [s["metadata"]["name"], len(s.get("secrets") or ()), age(s)],
    ),
    "events": (
        [
            col("Last Seen"),
            col("Type"),
            col("Reason"),
            col("Object"),
            col("Subobject", 1),
            col("Source", 1),
            col("Message"),
            col("First Seen", 1),
            col("Count", 1, "integer"),
            col("Name", 1),
        ],
        _event_cells,
    ),
    "persistentvolumeclaims": (
        [
            NAME_COLUMN,
            col("Status"),
            col("Volume"),
            col("Capacity"),
            col("Access Modes"),
            col("StorageClass"),
            col("VolumeAttributesClass"),
            col("Age"),
            col("VolumeMode", 1),
        ],
        _pvc_cells,
    ),
    "persistentvolumes": (
        [
            NAME_COLUMN,
            col("Capacity"),
            col("Access Modes"),
            col("Reclaim Policy"),
            col("Status"),
            col("Claim"),
            col("StorageClass"),
            col("VolumeAttributesClass"),
            col("Reason"),
            col("Age"),
            col("VolumeMode", 1),
        ],
        _pv_cells,
    ),
    "storageclasses": (
        [
            NAME_COLUMN,
            col("Provisioner"),
            col("ReclaimPolicy"),
            col("VolumeBindingMode"),
            col("AllowVolumeExpansion", kind="boolean"),
            col("Age"),
        ],
        _storage_class_cells,
    ),
}
