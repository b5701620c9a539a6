"""ServiceAccounts: ``default`` in every namespace (as the token controller makes it) and the few
the workloads and identities use, such as ``shop/viewer`` behind the namespace-scoped viewer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import parse_rfc3339

if TYPE_CHECKING:
    from . import SampleCluster

NAMED = (("shop", "viewer"), ("monitoring", "prometheus"), ("kube-system", "metrics-server"))


def make_accounts(c: SampleCluster) -> None:
    """One ``default`` per namespace, then the named accounts."""
    for (_, ns), namespace in list(c.objects["namespaces"].items()):
        created = parse_rfc3339(namespace["metadata"]["creationTimestamp"])
        _account(c, ns, "default", created)
    for ns, name in NAMED:
        _account(c, ns, name, c.now - 86400 * 100)


def _account(c: SampleCluster, ns: str, name: str, created: float) -> None:
    c.store(
        "serviceaccounts",
        {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": c.meta(name, ns, created)},
    )
