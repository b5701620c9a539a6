"""The tools' view of a sample cluster served over real HTTP: shared by the tool tests."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from jupyter_kchat.sample.cluster import (
    BEARER_TOKEN,
    CONFIG_API_KEY,
    CONFIG_DB_PASSWORD,
    DB_PASSWORD,
    SampleCluster,
)
from jupyter_kchat.sample.cluster.helm import HELM_PAYLOAD_MARKER
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


URL_PASSWORD = "S3cr3tP4ss"
"""The password inside a connection URL in the sample cluster's workloads."""


def secret_values(cluster: SampleCluster) -> set[str]:
    """Every credential in the cluster's secrets (decoded and as stored), and the known leaks.

    Non-credential entries (a user name, a host, a port) are left out: they legitimately
    appear elsewhere (as a namespace or service name).
    """
    values: set[str] = {
        DB_PASSWORD,
        URL_PASSWORD,
        BEARER_TOKEN,
        CONFIG_DB_PASSWORD,
        CONFIG_API_KEY,
        HELM_PAYLOAD_MARKER,
    }
    for secret in cluster.objects["secrets"].values():
        for key, encoded in (secret.get("data") or {}).items():
            if key in ("username", "host", "port", "admin-user", "tls.crt"):
                continue
            decoded = base64.b64decode(encoded).decode()
            values.update({encoded, decoded})
            if key == ".dockerconfigjson":
                for auth in orjson.loads(decoded)["auths"].values():
                    values.update({auth["password"], auth["auth"]})
            if key == "tls.key":
                values.update(line for line in decoded.splitlines() if "-----" not in line)
    return values
