"""A realistic sample Kubernetes cluster as plain dicts in API JSON shape, deterministic by seed.

The objects are what a real API server returns (namespaces, nodes, workloads with their
ReplicaSets and Pods, services, secrets, config maps, events, storage, batch, networking,
autoscaling, cert-manager custom resources, Helm releases) so the official ``kubernetes``
client can deserialize them, and a chosen set of them is broken in the ways people ask a chat
about: CrashLoopBackOff, ImagePullBackOff, unschedulable, OOMKilled, evicted, a NotReady node,
a Pending and a Lost claim, a failed backup Job, an Ingress to a missing Service, HPAs that
cannot scale, a failed Certificate, a failed Helm upgrade. The cluster also plays the
controllers and the kubelet for the few writes the emulation supports (scaling, rollout
restarts, pod deletion) and generates container logs and metrics on demand. Timestamps are
relative to ``now``; names, uids, states and logs depend only on the seed.

Layout: ``catalog`` (hand-written definitions), ``generate`` (:class:`SampleCluster`), the
generating parts ``workloads``, ``pods``, ``events``, ``services`` and one module per newer
kind (``storage``, ``batch``, ``networking``, ``autoscaling``, ``certmanager``, ``helm``,
``revisions``, ``accounts``), ``controllers`` (writes), ``logs``/``logtext``, ``metrics``,
``registry`` (pull errors), ``scale`` (the knobs), ``state`` and ``common`` (shared basics).
"""

from __future__ import annotations

from .autoscaling import HPA_PINNED, hpa_metric_error
from .batch import BACKOFF_LIMIT_MESSAGE, BACKUP_ERROR
from .catalog import (
    BASE_NAMESPACES,
    BEARER_TOKEN,
    CONFIG_API_KEY,
    CONFIG_DB_PASSWORD,
    DB_PASSWORD,
    PAYMENTS_PANIC,
    TYPO_IMAGE,
    ContainerDef,
    NodeDef,
    WorkloadDef,
)
from .certmanager import CERT_FAILURE, CERT_NO_SECRET
from .common import (
    CRASHLOOP,
    EVICTED,
    HEALTHY,
    IMAGEPULL,
    JOB_FAILED,
    K8S_VERSION,
    NODE_LOST,
    OOM,
    OOM_CRASHLOOP,
    PENDING,
    Key,
    Obj,
    parse_quantity,
    parse_rfc3339,
    rfc3339,
    template_hash,
)
from .generate import SampleCluster
from .helm import HELM_PAYLOAD_MARKER
from .logs import LogUnavailable, kubelet_unreachable
from .networking import INGRESS_HOST, MISSING_BACKEND, ORPHAN_SERVICE
from .registry import PRIVATE_IMAGE, pull_error
from .state import RESOURCES, Listener
from .storage import CLAIM_LOST, DEFAULT_STORAGE_CLASS, MISSING_STORAGE_CLASS, PROVISIONING_FAILED

__all__ = [
    "BACKOFF_LIMIT_MESSAGE",
    "BACKUP_ERROR",
    "BASE_NAMESPACES",
    "BEARER_TOKEN",
    "CERT_FAILURE",
    "CERT_NO_SECRET",
    "CLAIM_LOST",
    "CONFIG_API_KEY",
    "CONFIG_DB_PASSWORD",
    "CRASHLOOP",
    "DB_PASSWORD",
    "DEFAULT_STORAGE_CLASS",
    "EVICTED",
    "HEALTHY",
    "HELM_PAYLOAD_MARKER",
    "HPA_PINNED",
    "IMAGEPULL",
    "INGRESS_HOST",
    "JOB_FAILED",
    "K8S_VERSION",
    "MISSING_BACKEND",
    "MISSING_STORAGE_CLASS",
    "NODE_LOST",
    "OOM",
    "OOM_CRASHLOOP",
    "ORPHAN_SERVICE",
    "PAYMENTS_PANIC",
    "PENDING",
    "PRIVATE_IMAGE",
    "PROVISIONING_FAILED",
    "RESOURCES",
    "TYPO_IMAGE",
    "ContainerDef",
    "Key",
    "Listener",
    "LogUnavailable",
    "NodeDef",
    "Obj",
    "SampleCluster",
    "WorkloadDef",
    "hpa_metric_error",
    "kubelet_unreachable",
    "parse_quantity",
    "parse_rfc3339",
    "pull_error",
    "rfc3339",
    "template_hash",
]
