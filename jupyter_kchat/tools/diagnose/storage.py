"""PersistentVolumeClaims: Pending (no such StorageClass, no default class, no matching
volume, provisioning failing) and Lost (the volume is gone), with the pods that mount them."""

from __future__ import annotations

from ..health import PodView
from ..shape import plural
from .evidence import EventIndex
from .issue import Issue, pod_names
from .kinds import PersistentVolumeClaim, StorageClass

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def _users(pods: list[PodView]) -> dict[tuple[str, str], list[PodView]]:
    """Pods by the (namespace, claim) they mount."""
    out: dict[tuple[str, str], list[PodView]] = {}
    for view in pods:
        for volume in view.pod.spec.volumes:
            ref = volume.persistent_volume_claim
            if ref is not None and ref.claim_name:
                out.setdefault((view.namespace, ref.claim_name), []).append(view)
    return out


def _pending_cause(
    claim: PersistentVolumeClaim, classes: list[StorageClass] | None
) -> tuple[str, str]:
    """(cause, next step) for a Pending claim; ``classes`` None when they cannot be read."""
    ns, name = claim.metadata.namespace, claim.metadata.name
    wanted = claim.spec.storage_class_name
    names = sorted(c.metadata.name for c in classes) if classes is not None else []
    default = [
        c.metadata.name
        for c in classes or []
        if (c.metadata.annotations or {}).get(DEFAULT_CLASS) == "true"
    ]
    recreate = (
        f"storageClassName cannot be changed on an existing claim: recreate it "
        f"(kubectl get pvc -n {ns} {name} -o yaml, edit, delete and apply)"
    )
    if wanted and classes is not None and wanted not in names:
        return (
            f"StorageClass {wanted} does not exist (the cluster has: {', '.join(names) or 'none'})",
            f"create StorageClass {wanted}, or use an existing one; {recreate}.",
        )
    if wanted is None and classes is not None and not default:
        return (
            "it names no StorageClass and the cluster has no default class",
            f"set storageClassName to one of {', '.join(names) or 'the classes you create'}; "
            f"{recreate}.",
        )
    if wanted == "" and not claim.spec.volume_name:
        return (
            'storageClassName "" asks for a pre-provisioned PersistentVolume and none matches',
            "create a PersistentVolume matching its size and access modes, or give it a class.",
        )
    return (
        f"no volume bound yet (class {wanted or (default[0] if default else '?')})",
        f"list_events namespace={ns} involved_object={name} shows the provisioner's answer.",
    )


def claim_issues(
    claims: list[PersistentVolumeClaim],
    classes: list[StorageClass] | None,
    pods: list[PodView],
    events: EventIndex,
) -> list[Issue]:
    """A finding per Pending or Lost claim."""
    users = _users(pods)
    issues: list[Issue] = []
    for claim in claims:
        phase = claim.status.phase
        if phase not in ("Pending", "Lost"):
            continue
        ns, name = claim.metadata.namespace, claim.metadata.name
        mounted = users.get((ns, name), [])
        if phase == "Lost":
            volume = claim.spec.volume_name or "?"
            cause = f"its PersistentVolume {volume} no longer exists; the data on it is lost"
            hint = (
                f"restore the data from a backup into a new claim and point the workload at it; "
                f"delete the Lost claim {ns}/{name} when done (kubectl delete pvc -n {ns} {name})."
            )
            category, severity = "Volume lost", 1
        else:
            cause, hint = _pending_cause(claim, classes)
            category, severity = "Volume pending", 3
        evidence = [f"   Evidence: {cause}", *events.lines(ns, "PersistentVolumeClaim", name)]
        if mounted:
            evidence.append(
                f"   Impact: {plural(len(mounted), 'pod')} mount it: {pod_names(mounted, 4)}"
            )
        issues.append(
            Issue(
                category=category,
                severity=severity,
                key=f"{ns}/{name}",
                header=f"{category}: PersistentVolumeClaim {ns}/{name} is {phase}",
                evidence=evidence,
                next=hint,
                brief=f"(PVC) {phase}: {cause}",
                impact=max(1, len(mounted)),
                subjects={f"{ns}/{name}"},
            )
        )
    return issues
