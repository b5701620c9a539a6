"""The cluster card: bounded, cached, and silent about what the credentials may not read."""

from __future__ import annotations

from typing import Any

import orjson

from jupyter_kchat.tools.base import ToolContext
from jupyter_kchat.tools.card import MAX_NAMESPACES, cluster_card
from jupyter_kchat.tools.errors import ToolError


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

    def get_raw(self, path: str, query: dict[str, Any], **kwargs: Any) -> bytes:
        self.requests.append((path, query))
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


def test_what_may_not_be_read_is_left_out_and_the_card_is_cached():
    cluster = ListingCluster(namespaces=3, nodes=2, forbid="namespaces")
    text = card(cluster)
    assert "Namespaces" not in text and "Nodes: 2." in text
    assert card(cluster) == text and len(cluster.requests) == 2, "cached for a while"
