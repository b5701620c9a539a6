"""The cluster card: bounded, silent about what the credentials may not read, and never a wait
for a turn once a cluster has one."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import yaml

from jupyter_kchat.tools.base import ToolContext
from jupyter_kchat.tools.card import MAX_CARDS, MAX_NAMESPACES, ClusterCards, cluster_card
from jupyter_kchat.tools.errors import ToolError
from jupyter_kchat.tools.kube import KubeClients


class ListingCluster:
    """Answers the card's two list requests as an API server does (``limit``, remaining count)."""

    def __init__(self, namespaces: int, nodes: int, *, forbid: str = "") -> None:
        self.context = f"ctx-{namespaces}-{nodes}-{forbid}"
        self.server = "https://127.0.0.1:6443"
        self.default_namespace = "team-a"
        self.names = [f"team-{i:03d}" for i in range(namespaces)]
        self.nodes = nodes
        self.forbid = forbid
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.answering = threading.Event()
        """Cleared: the cluster is slow, every request waits until it is set again."""
        self.answering.set()

    def get_raw(self, path: str, query: dict[str, Any], **kwargs: Any) -> bytes:
        self.requests.append((path, query))
        assert self.answering.wait(30), "the test never let the cluster answer"
        resource = path.rsplit("/", 1)[-1]
        if resource == self.forbid:
            raise ToolError(f'forbidden (403): cannot list resource "{resource}"')
        items = self.names if resource == "namespaces" else [f"n{i}" for i in range(self.nodes)]
        page = items[: query["limit"]]
        meta = {"remainingItemCount": len(items) - len(page)} if len(items) > len(page) else {}
        return orjson.dumps({"items": [{"metadata": {"name": n}} for n in page],
                             "metadata": meta})


def card(cluster: ListingCluster) -> str:
    return cluster_card(ToolContext(cluster=cluster))  # type: ignore[arg-type]


def test_the_card_names_namespaces_the_default_one_and_counts_nodes():
    text = card(ListingCluster(namespaces=3, nodes=12))
    assert "Namespaces (3): team-000, team-001, team-002." in text
    assert "default namespace (used when none is named): team-a" in text
    assert "Nodes: 12." in text


def test_many_namespaces_are_counted_not_listed_and_nodes_cost_one_item():
    cluster = ListingCluster(namespaces=900, nodes=5000)
    text = card(cluster)
    assert "Namespaces (900): team-000" in text and f"and {900 - MAX_NAMESPACES} more" in text
    assert "team-100" not in text and "Nodes: 5000." in text
    assert ("/api/v1/nodes", {"limit": 1}) in cluster.requests
    assert len(text) < 1000


def test_what_may_not_be_read_is_left_out():
    text = card(ListingCluster(namespaces=3, nodes=2, forbid="namespaces"))
    assert "Namespaces" not in text and "Nodes: 2." in text


async def test_a_turn_gets_the_last_card_at_once_and_a_stale_one_is_read_in_the_background():
    cluster = ListingCluster(namespaces=3, nodes=2)
    ctx = ToolContext(cluster=cluster)  # type: ignore[arg-type]
    cards = ClusterCards()
    first = await cards.card(ctx)
    assert "Namespaces (3)" in first and len(cluster.requests) == 2
    assert await cards.card(ctx) == first and len(cluster.requests) == 2, "fresh: not read again"

    cards.ttl = 0.0
    cluster.names.append("team-new")
    cluster.answering.clear()
    assert await cards.card(ctx) == first, "a slow cluster does not hold up the turn"
    cluster.answering.set()
    assert "team-new" in await cards.prefetch(ctx), "the one read meanwhile"
    assert "Namespaces (4)" in await cards.card(ctx)


async def test_a_slow_cluster_gets_no_card_this_turn_but_the_next_turn_has_it():
    cluster = ListingCluster(namespaces=3, nodes=2)
    cluster.answering.clear()
    ctx = ToolContext(cluster=cluster)  # type: ignore[arg-type]
    cards = ClusterCards()
    assert await cards.card(ctx, wait=0.05) == ""
    cluster.answering.set()
    await cards.prefetch(ctx)
    assert "Namespaces (3)" in await cards.card(ctx)
    assert len(cluster.requests) == 2, "the first read went on and was kept"


async def test_cards_for_ever_new_namespaces_stay_bounded():
    cluster = ListingCluster(namespaces=3, nodes=2)
    cards = ClusterCards()
    for i in range(MAX_CARDS + 20):
        ctx = ToolContext(cluster=cluster, namespace=f"ns-{i}")  # type: ignore[arg-type]
        assert f"(used when none is named): ns-{i}." in await cards.card(ctx)
    assert len(cards._cards) == MAX_CARDS


async def test_a_failing_card_is_no_card_and_is_tried_again(caplog):
    cluster = ListingCluster(namespaces=3, nodes=2)
    cluster.get_raw = lambda *args, **kwargs: 1 / 0  # type: ignore[method-assign]
    ctx = ToolContext(cluster=cluster)  # type: ignore[arg-type]
    cards = ClusterCards()
    assert await cards.card(ctx) == ""
    assert "cannot read the cluster card" in caplog.text
    del cluster.get_raw
    assert "Nodes: 2." in await cards.card(ctx)


def kubeconfig(path: Path, contexts: list[str]) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
    }))


class CountingClients(KubeClients):
    """The real kubeconfig reader, counting how often it parses the file."""

    parsed = 0

    def contexts(self) -> list[str]:
        self.parsed += 1
        return super().contexts()


def test_context_names_are_parsed_once_and_again_when_the_kubeconfig_changes(tmp_path):
    path = tmp_path / "kubeconfig"
    kubeconfig(path, ["dev", "prod"])
    clients = CountingClients(kubeconfig=str(path))
    cards = ClusterCards()

    def names() -> tuple[str, ...]:
        return cards.contexts(ToolContext(cluster=clients.cluster(), clients=clients))

    assert names() == ("dev", "prod")
    assert names() == ("dev", "prod") and clients.parsed == 1, "every turn asks; one parse"
    kubeconfig(path, ["dev", "prod", "staging-with-a-longer-name"])
    assert names() == ("dev", "prod", "staging-with-a-longer-name")
    assert clients.parsed == 2
    clients.close()
