"""kchat's Kubernetes tools: what the model may call, on the official ``kubernetes`` client.

``default_registry()`` is the catalogue every conversation is offered (write tools are hidden in
read-only mode by the registry itself). Tools are plain synchronous functions; see ``base``.
"""

from __future__ import annotations

from .base import ToolContext, ToolError, ToolFunc, ToolRegistry, ToolResult, ToolSpec
from .contexts import context_tools
from .describe import describe_tools
from .diagnose import diagnose_tools
from .events import event_tools
from .helm import helm_tools
from .kube import ApiFailure, KubeClients, KubeCluster, KubeConfigError
from .metrics import metrics_tools
from .nodes import node_tools
from .pods import pod_tools
from .redact import redact_text
from .resources import resource_tools
from .rollout import rollout_tools
from .secrets import secret_tools
from .services import service_tools
from .workloads import workload_tools

__all__ = [
    "ApiFailure",
    "KubeClients",
    "KubeCluster",
    "KubeConfigError",
    "ToolContext",
    "ToolError",
    "ToolFunc",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "all_tools",
    "default_registry",
    "redact_text",
]


ORDER = (
    "diagnose_cluster",
    "list_pods",
    "get_pod",
    "get_pod_logs",
    "list_events",
    "list_nodes",
    "list_deployments",
    "list_services",
    "list_namespaces",
    "list_secrets",
    "list_resources",
    "get_resource",
    "rollout_history",
    "top",
    "list_helm_releases",
    "list_contexts",
    "delete_pod",
    "scale_deployment",
    "restart_deployment",
)
"""The order the model sees tools in: the one-call health check first, writes last."""


def all_tools() -> list[ToolSpec]:
    """Every tool, in :data:`ORDER`."""
    specs = {
        spec.name: spec
        for spec in (
            *diagnose_tools(),
            *pod_tools(),
            *event_tools(),
            *node_tools(),
            *workload_tools(),
            *service_tools(),
            *secret_tools(),
            *resource_tools(),
            *describe_tools(),
            *rollout_tools(),
            *metrics_tools(),
            *helm_tools(),
            *context_tools(),
        )
    }
    return [specs[name] for name in ORDER]


def default_registry() -> ToolRegistry:
    """The catalogue of Kubernetes tools a conversation is offered."""
    return ToolRegistry(all_tools())
