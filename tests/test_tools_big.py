"""The tools on a 10,000-pod sample cluster: results stay within the budget, and nothing that
needs attention is dropped to make room for healthy items."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext, ToolResult, default_registry

BUDGET = 12_000


class Big:
    def __init__(self, cluster: SampleCluster, clients: KubeClients) -> None:
        self.cluster = cluster
        self.clients = clients

    def call(
        self, tool: str, args: dict[str, Any] | None = None, budget: int = BUDGET
    ) -> ToolResult:
        spec = default_registry().get(tool)
        assert spec is not None
        ctx = ToolContext(cluster=self.clients.cluster(), budget=budget, timeout=60)
        return spec.func(ctx, dict(args or {}))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    cluster = SampleCluster(pods=10_000, seed=0)
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path_factory.mktemp("big") / "kubeconfig.yaml")
        clients = KubeClients(str(kubeconfig), None)
        try:
            yield Big(cluster, clients)
        finally:
            clients.close()


def test_list_pods_on_10000_pods_names_every_unhealthy_pod_within_budget(big: Big) -> None:
    result = big.call("list_pods", {"all_namespaces": True})
    assert len(result.text) <= BUDGET
    assert result.truncated
    assert result.data is not None and len(result.data) == 10_000
    unhealthy = big.cluster.unhealthy_pod_keys()
    assert len(unhealthy) > 200
    missing = [f"{ns}/{name}" for ns, name in unhealthy if f"{ns}/{name}" not in result.text]
    assert missing == []
    text = result.text
    assert text.startswith("10000 pods in all namespaces: ")
    assert "By namespace (31): " in text and "team-00 " in text
    assert "Running " in text.splitlines()[0]
    assert "a sample of " in text and "healthy pods" in text
    assert text.splitlines()[-1].startswith("(Narrow down: list_pods with namespace=")


def test_a_tight_budget_groups_unhealthy_pods_and_says_so(big: Big) -> None:
    result = big.call("list_pods", {"all_namespaces": True}, budget=3000)
    assert len(result.text) <= 3000 and result.truncated
    text = result.text
    assert "pods needing attention, by reason (" in text
    assert "CrashLoopBackOff (" in text and "NotReady (" in text
    assert "are counted above but not named; narrow down to see them." in text
    assert "(Narrow down:" in text


def test_diagnose_on_10000_pods_keeps_every_finding(big: Big) -> None:
    result = big.call("diagnose_cluster")
    text = result.text
    assert len(text) <= BUDGET and result.truncated
    for subject in (
        "payments/payments-api",
        "shop/frontend",
        "data/etl-worker",
        "ml/trainer",
        "monitoring/prometheus",
        "node-3",
        "node-2",
    ):
        assert subject in text, subject
    rows = result.data or []
    assert len(rows) > 50
    for row in rows[:-1]:
        assert row["object"] in text, row["object"]
    assert re.search(r"Impact: \d+ pods on it not ready", text)


def test_other_lists_on_a_big_cluster_stay_within_budget(big: Big) -> None:
    for tool, args in (
        ("list_events", {"all_namespaces": True}),
        ("list_events", {"all_namespaces": True, "warnings_only": True}),
        ("list_deployments", {"all_namespaces": True}),
        ("list_nodes", {}),
        ("list_services", {"all_namespaces": True}),
        ("list_secrets", {"all_namespaces": True}),
    ):
        result = big.call(tool, args)
        assert len(result.text) <= BUDGET, tool
        assert result.data, tool
        if result.truncated:
            assert "Narrow down:" in result.text, tool
    deployments = big.call("list_deployments", {"all_namespaces": True})
    assert "payments/payments-api (Deployment): 0/3 ready; 3 CrashLoopBackOff" in deployments.text
    nodes = big.call("list_nodes", {}, budget=3000)
    assert len(nodes.text) <= 3000 and nodes.truncated
    assert "node-3" in nodes.text and "node-2" in nodes.text


BROKEN_PROFILES = ("crashloop", "imagepull", "pending", "oom", "oom-crashloop", "evicted")
"""Pod profiles broken by themselves (not by the node they run on)."""


def test_diagnose_on_10000_pods_names_every_broken_workload_with_its_cause(big: Big) -> None:
    cluster = big.cluster
    broken = set()
    for namespace, name in cluster.unhealthy_pod_keys():
        if cluster.profile_of_pod(namespace, name) in BROKEN_PROFILES:
            workload = cluster.workload_of_pod(namespace, name)
            broken.add(f"{namespace}/{workload.name if workload else name}")
    assert len(broken) > 30
    result = big.call("diagnose_cluster")
    assert len(result.text) <= BUDGET
    assert sorted(key for key in broken if key not in result.text) == []
    rows = {row["object"]: row for row in result.data or []}
    assert all(key in rows for key in broken)
    assert "Log of payments-api-" in result.text
    for key in ("data/backup-nightly", "ml/datasets-cache", "shop/shop", "shop/checkout"):
        assert key in result.text, key
