"""The tools' view of a sample cluster served over real HTTP: shared by the tool tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext, ToolResult, default_registry


def call_tool(ctx: ToolContext, tool: str, args: dict[str, Any] | None = None) -> ToolResult:
    """Run one tool of the catalogue as the engine would."""
    spec = default_registry().get(tool)
    assert spec is not None, tool
    return spec.func(ctx, dict(args or {}))


@dataclass
class Env:
    """A running sample cluster and the tools' view of it."""

    cluster: SampleCluster
    api: KubeAPIServer
    kubeconfig: Path
    clients: KubeClients

    def ctx(self, context: str | None = None, **kwargs: Any) -> ToolContext:
        return ToolContext(cluster=self.clients.cluster(context), **kwargs)

    def call(self, tool: str, args: dict[str, Any] | None = None, **kwargs: Any) -> ToolResult:
        return call_tool(self.ctx(**kwargs), tool, args)

    def pods_of(self, namespace: str, prefix: str) -> list[str]:
        return sorted(
            name
            for (ns, name) in self.cluster.objects["pods"]
            if ns == namespace and name.startswith(prefix)
        )


def serve(tmp_path: Path) -> Iterator[Env]:
    """A 60-pod sample cluster on loopback HTTP, and clients on it through a kubeconfig."""
    cluster = SampleCluster(pods=60, seed=0)
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        clients = KubeClients(str(kubeconfig), None)
        try:
            yield Env(cluster, api, kubeconfig, clients)
        finally:
            clients.close()
