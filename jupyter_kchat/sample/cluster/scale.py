"""The scale knobs for tests and benchmarks: how many pods are broken, and filler objects by kind.

``broken=N`` makes about N pods broken in total (the hand-written broken workloads included),
in workloads of 5 to 10 pods cycling through crash loops, pull errors, unschedulable and OOM,
spread over the team namespaces (or the base ones in a small cluster). ``extra={kind: N}`` adds
N filler objects of a kind, every 50th unhealthy where the kind has health (2%). Healthy pods
that land on the NotReady node are not counted: that is the node's problem, not theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .certmanager import certificate
from .common import CRASHLOOP, IMAGEPULL, OOM, PENDING, b64
from .storage import MISSING_STORAGE_CLASS, PROVISIONING_FAILED, PV_CONTROLLER, bound_claim, claim

if TYPE_CHECKING:
    from . import SampleCluster, WorkloadDef

PROFILES = (CRASHLOOP, IMAGEPULL, PENDING, CRASHLOOP, IMAGEPULL, OOM)
UNHEALTHY_EVERY = 50
"""One filler object in this many is unhealthy (where the kind has health)."""


def default_breakage(index: int) -> list[tuple[str, int]]:
    """The broken workloads of team namespace ``index`` when ``broken`` is not given."""
    out = [(CRASHLOOP, 3)]
    if index % 2 == 0:
        out.append((PENDING, 2))
    if index % 3 == 0:
        out.append((IMAGEPULL, 2))
    if index % 4 == 1:
        out.append((OOM, 2))
    return out


def broken_plan(total: int, namespaces: list[str]) -> dict[str, list[tuple[str, int]]]:
    """``total`` broken pods as (profile, replicas) workloads of 5-10 pods, round robin."""
    plan: dict[str, list[tuple[str, int]]] = {ns: [] for ns in namespaces}
    k = 0
    while total > 0 and namespaces:
        size = min(total, 5 + k % 6)
        plan[namespaces[k % len(namespaces)]].append((PROFILES[k % len(PROFILES)], size))
        total -= size
        k += 1
    return plan


def break_workload(workload: WorkloadDef, profile: str) -> WorkloadDef:
    """Make a healthy filler misbehave as ``profile`` says (and as its pods will show)."""
    workload.profile = profile
    container = workload.containers[0]
    if profile == PENDING:
        container.cpu, container.memory, container.memory_limit = "12", "4Gi", "8Gi"
    elif profile == IMAGEPULL:
        container.image = container.image.rsplit(":", 1)[0] + ":latest-rc"
    elif profile == OOM:
        container.memory, container.memory_limit = "128Mi", "128Mi"
    return workload


def _configmap(c: SampleCluster, ns: str, i: int, created: float) -> None:
    c.store(
        "configmaps",
        {
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": c.meta(f"filler-config-{i:05d}", ns, created, {"app": f"filler-{i % 97}"}),
            "data": {"LOG_LEVEL": ("info", "debug", "warn")[i % 3], "REPLICA": str(i)},
        },
    )


def _secret(c: SampleCluster, ns: str, i: int, created: float) -> None:
    c.store(
        "secrets",
        {
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": c.meta(f"filler-secret-{i:05d}", ns, created),
            "data": {"token": b64(f"filler-{c.rng.getrandbits(64):016x}")},
            "type": "Opaque",
        },
    )


def _certificate(c: SampleCluster, ns: str, i: int, created: float) -> None:
    certificate(c, ns, f"filler-cert-{i:05d}", created, healthy=_healthy(i))


def _claim(c: SampleCluster, ns: str, i: int, created: float) -> None:
    name = f"filler-data-{i:05d}"
    if _healthy(i):
        bound_claim(c, ns, name, "1Gi", created, None)
        return
    pvc = claim(c, ns, name, "1Gi", MISSING_STORAGE_CLASS, created)
    pvc["status"] = {"phase": "Pending"}
    c.event(
        pvc,
        "ProvisioningFailed",
        PROVISIONING_FAILED,
        "Warning",
        PV_CONTROLLER,
        created,
        c.now - 10,
        count=40,
    )


def _healthy(i: int) -> bool:
    return i % UNHEALTHY_EVERY != UNHEALTHY_EVERY - 1


FILLERS: dict[str, Callable[[SampleCluster, str, int, float], None]] = {
    "configmaps": _configmap,
    "secrets": _secret,
    "certificates.cert-manager.io": _certificate,
    "persistentvolumeclaims": _claim,
}
"""The kinds ``extra=`` can add, and how to make the i-th filler object of each."""


def check_extra(extra: Mapping[str, int]) -> None:
    """Refuse an ``extra`` that names a kind without fillers, or a negative count."""
    for kind, count in extra.items():
        if kind not in FILLERS:
            raise ValueError(
                f"extra: no filler objects for {kind!r}; choose from {sorted(FILLERS)}"
            )
        if count < 0:
            raise ValueError(f"extra: {kind} count must be >= 0, not {count}")


def make_extra(c: SampleCluster, extra: Mapping[str, int]) -> None:
    """Add ``extra[kind]`` filler objects of each kind, spread over every namespace."""
    namespaces = sorted(ns for _, ns in c.objects["namespaces"])
    for kind, count in extra.items():
        make = FILLERS[kind]
        for i in range(count):
            make(c, namespaces[i % len(namespaces)], i, c.now - 3600 * (1 + i % 2000))
