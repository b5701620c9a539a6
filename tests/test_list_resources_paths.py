"""list_resources through the paths that make it fast, against the emulation over real HTTP.

The emulation keeps each Table row as printed bytes while its age cells read the same, so ages
must still move on with the cluster's clock; the tool decodes statuses as just the fields its
health rules read, so a custom resource whose status has other shapes must still be judged.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext
from jupyter_kchat.tools.resources import list_resources

CERTS = "certificates.cert-manager.io"


def _serve(cluster: SampleCluster, tmp_path: Path) -> Iterator[ToolContext]:
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        clients = KubeClients(str(api.write_kubeconfig(tmp_path / "kubeconfig.yaml")), None)
        try:
            yield ToolContext(cluster=clients.cluster(), budget=12_000, timeout=30)
        finally:
            clients.close()


@pytest.fixture
def cluster() -> SampleCluster:
    return SampleCluster(pods=60, seed=0)


@pytest.fixture
def ctx(cluster: SampleCluster, tmp_path: Path) -> Iterator[ToolContext]:
    yield from _serve(cluster, tmp_path)


def _ages(ctx: ToolContext) -> dict[str, str]:
    rows = list_resources(ctx, {"kind": "configmaps", "namespace": "shop"}).data or []
    return {row["name"]: row["age"] for row in rows}


def test_ages_move_on_with_the_clock_between_two_listings(
    cluster: SampleCluster, ctx: ToolContext
) -> None:
    before = _ages(ctx)
    assert before == _ages(ctx), "the same listing a moment later reads the same"
    cluster.now += 3 * 86_400
    after = _ages(ctx)
    assert after.keys() == before.keys()
    assert all(after[name] != age for name, age in before.items()), (before, after)
    cluster.now -= 3 * 86_400
    assert _ages(ctx) == before, "a clock set back is printed anew, not from the later rows"


def _odd_certificate(cluster: SampleCluster) -> None:
    """shop/shop-tls copied as ``odd-tls``, its status also holding a ``message`` list (a
    custom controller's own field) next to the Ready=False condition."""
    odd = copy.deepcopy(cluster.objects[CERTS][("shop", "shop-tls")])
    odd["metadata"]["name"] = "odd-tls"
    odd["metadata"]["uid"] = "00000000-0000-4000-8000-0000000000dd"
    odd["status"]["message"] = ["issued by", "a custom controller"]
    cluster.store(CERTS, odd)


def test_a_status_of_another_shape_is_still_judged(cluster: SampleCluster, tmp_path: Path) -> None:
    _odd_certificate(cluster)
    for ctx in _serve(cluster, tmp_path):
        result = list_resources(ctx, {"kind": "certificates", "all_namespaces": True})
        rows = result.data or []
        bad = {row["name"]: row["reason"] for row in rows if row["reason"]}
        assert bad.keys() == {"shop-tls", "odd-tls"}, bad
        assert bad["odd-tls"] == bad["shop-tls"] == "Failed"
        assert [row["name"] for row in rows[:2]] == sorted(bad)
        assert "odd-tls" in result.text and "shop-tls" in result.text
        healthy = {row["name"]: row["ready"] for row in rows if not row["reason"]}
        assert healthy == {"payments-tls": "True"}
