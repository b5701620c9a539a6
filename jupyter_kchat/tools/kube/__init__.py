"""Kubernetes client configuration and the fast read path every tool uses.

``clients`` turns kchat's settings (kubeconfig path, context, in-cluster) into one
:class:`KubeCluster` per context; ``cluster`` reads raw JSON through the official client and
decodes it with ``msgspec``; ``failures`` turns every error into a :class:`ToolError` whose
message tells the model (and the user) what happened and what to do next; ``paths`` builds REST
paths; ``gcpause`` keeps the garbage collector out of big decodes.
"""

from .clients import CONFIG_ERRORS, KubeClients
from .cluster import PAGE_SIZE, KubeCluster, Listed
from .failures import ApiFailure, KubeConfigError
from .gcpause import gc_paused, paused_gc
from .paths import api_path

__all__ = [
    "CONFIG_ERRORS",
    "PAGE_SIZE",
    "ApiFailure",
    "KubeClients",
    "KubeCluster",
    "KubeConfigError",
    "Listed",
    "api_path",
    "gc_paused",
    "paused_gc",
]
