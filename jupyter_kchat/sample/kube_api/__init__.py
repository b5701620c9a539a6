"""A Kubernetes API server emulation over real HTTP, serving a :class:`SampleCluster`.

The official ``kubernetes`` client (and kubectl-style raw requests) talk to it exactly as to
a real API server: discovery (including the aggregated apidiscovery v2 documents), every kind
of the sample cluster at its real group and version, custom resources derived from their
CustomResourceDefinition objects, ``metrics.k8s.io``, lists with label/field selectors and
limit/continue paging, single GETs, pod logs, deployment PATCH/PUT and the scale subresource,
pod DELETE, watches, ``as=Table`` (kubectl's columns, or a CRD's printer columns) and
``as=PartialObjectMetadataList`` content negotiation, bearer-token auth with an admin, a
read-only user and a one-namespace viewer, and real ``Status`` errors. Fault switches make it
forbid, fail or stall chosen requests so tests can cover what real clusters do to clients.

Speed matters because benchmarks list 10,000 pods through it: every object is serialized once
(orjson) and list bodies are assembled by joining bytes, with the unfiltered lists cached.

Where it knowingly differs from a real API server: only JSON is served (an Accept header
naming only YAML or protobuf gets 406); server-side apply answers 415; POST and DELETE other
than pod deletion answer 405; spec changes are emulated for Deployments (and Node cordons) only,
other resources accept metadata/data changes and answer 422 to spec changes; ``/version`` and
the health endpoints are open to anonymous users; a continue token reads the current state,
not a snapshot; watches start "now" unless resourceVersion is unset or "0"; a CRD is served
unless its ``Established`` condition is "False" (a missing status counts as established).

Modules, one responsibility each: ``resources`` (the catalog), ``discovery``, ``routing``,
``auth``, ``selectors``, ``storage``, ``reads``, ``printers`` (Table columns), ``derived``
(metrics and version conversion), ``logs``, ``patches``, ``writes``, ``faults``,
``kubeconfig``, ``handler`` (HTTP) and ``server`` (the :class:`KubeAPIServer`).
"""

from __future__ import annotations

from .auth import ADMIN_USER, NAMESPACE_VIEWER, READ_VERBS, READONLY_USER, VIEWER_NAMESPACE
from .errors import ApiError
from .faults import Fault, Faults
from .kubeconfig import ALL_CONTEXTS, VIEWER_CONTEXT
from .printers import human_duration
from .resources import Resource
from .routing import Seen
from .server import KubeAPIServer

__all__ = [
    "ADMIN_USER",
    "ALL_CONTEXTS",
    "NAMESPACE_VIEWER",
    "READONLY_USER",
    "READ_VERBS",
    "VIEWER_CONTEXT",
    "VIEWER_NAMESPACE",
    "ApiError",
    "Fault",
    "Faults",
    "KubeAPIServer",
    "Resource",
    "Seen",
    "human_duration",
]
