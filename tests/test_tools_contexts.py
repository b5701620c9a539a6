"""Kubeconfig contexts: list_contexts, the context argument every tool gets when there are several,
and results that say which context answered; through the registry and through a real chat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import ALL_CONTEXTS, KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext, ToolError, default_registry

REGISTRY = default_registry()


@pytest.fixture(scope="module")
def api() -> Iterator[KubeAPIServer]:
    server = KubeAPIServer(SampleCluster(pods=60, seed=0))
    with server.run_in_thread():
        yield server


def context_of(api: KubeAPIServer, path: Path, contexts: Any = ALL_CONTEXTS) -> ToolContext:
    clients = KubeClients(str(api.write_kubeconfig(path, contexts=contexts)), None)
    return ToolContext(cluster=clients.cluster(), clients=clients)


def run(ctx: ToolContext, tool: str, args: dict[str, Any] | None = None) -> Any:
    spec = REGISTRY.get(tool)
    assert spec is not None
    return REGISTRY.run(spec, ctx, dict(args or {}))


def test_every_tool_gets_a_context_enum_only_when_there_are_several(
    api: KubeAPIServer, tmp_path: Path
) -> None:
    several = context_of(api, tmp_path / "three.yaml")
    one = context_of(api, tmp_path / "one.yaml", contexts=["sample"])
    assert several.contexts() == ("sample", "sample-readonly", "shop-viewer")
    assert one.contexts() == ("sample",)
    for schema in REGISTRY.openai_tools(read_only=False, contexts=several.contexts()):
        assert schema["function"]["parameters"]["properties"]["context"] == {"type": "string"}
    # The choices are named once, in the system message, rather than in every schema.
    note = REGISTRY.prompt_note(read_only=False, contexts=several.contexts())
    assert note.endswith("context: one of sample, sample-readonly, shop-viewer; default sample.")
    assert "context" not in REGISTRY.prompt_note(read_only=False, contexts=one.contexts())
    for schema in REGISTRY.openai_tools(read_only=False, contexts=one.contexts()):
        assert "context" not in schema["function"]["parameters"]["properties"]
    spec = REGISTRY.get("list_pods")
    assert spec is not None and "context" not in spec.parameters["properties"]
    context = REGISTRY.parameters(spec, several.contexts())["properties"]["context"]
    assert context["enum"] == ["sample", "sample-readonly", "shop-viewer"]
    assert context["default"] == "sample"
    validator = jsonschema.Draft202012Validator(REGISTRY.parameters(spec, several.contexts()))
    assert validator.is_valid({"context": "shop-viewer"})
    assert not validator.is_valid({"context": "prod"})


def test_results_say_which_context_answered(api: KubeAPIServer, tmp_path: Path) -> None:
    ctx = context_of(api, tmp_path / "kc.yaml")
    default = run(ctx, "list_pods", {"namespace": "shop"})
    viewer = run(ctx, "list_pods", {"context": "shop-viewer"})
    assert default.text.splitlines()[0] == "Context: sample"
    assert viewer.text.splitlines()[0] == "Context: shop-viewer"
    assert "in namespace shop (the default" in viewer.text.splitlines()[1]
    with pytest.raises(ToolError) as forbidden:
        run(ctx, "list_pods", {"context": "shop-viewer", "namespace": "payments"})
    assert str(forbidden.value).startswith("in context shop-viewer: ")
    assert 'User "system:serviceaccount:shop:viewer"' in str(forbidden.value)
    claims = run(ctx, "list_resources", {"kind": "pvc", "context": "shop-viewer"})
    assert "uploads" in claims.text and "in namespace shop" in claims.text
    everywhere = run(
        ctx, "list_resources", {"kind": "pvc", "context": "shop-viewer", "all_namespaces": True}
    )
    lines = everywhere.text.splitlines()
    assert lines[0] == "Context: shop-viewer"
    assert "in the namespaces this user can read (shop)" in lines[1], "falls back as diagnose does"
    assert everywhere.text.count("403 Forbidden") == 1 and "uploads" in everywhere.text
    helm = run(ctx, "list_helm_releases", {"context": "shop-viewer"})
    assert "not readable with these credentials (403" in helm.text
    assert [(r["namespace"], r["name"], r["chart"]) for r in helm.data] == [
        ("shop", "shop", "shop")
    ]
    single = context_of(api, tmp_path / "one.yaml", contexts=["sample"])
    assert not run(single, "list_pods", {}).text.startswith("Context:")


def test_a_wrong_context_is_an_error_naming_the_valid_ones(
    api: KubeAPIServer, tmp_path: Path
) -> None:
    ctx = context_of(api, tmp_path / "kc.yaml")
    with pytest.raises(ToolError) as caught:
        run(ctx, "list_nodes", {"context": "prod"})
    assert "no kubeconfig context 'prod'" in str(caught.value)
    assert "sample, sample-readonly, shop-viewer" in str(caught.value)


def test_list_contexts_names_server_namespace_and_the_current_one(
    api: KubeAPIServer, tmp_path: Path
) -> None:
    ctx = context_of(api, tmp_path / "kc.yaml")
    result = run(ctx, "list_contexts")
    rows = {row["name"]: row for row in result.data}
    assert set(rows) == {"sample", "sample-readonly", "shop-viewer"}
    assert rows["sample"]["current"] and not rows["shop-viewer"]["current"]
    assert rows["shop-viewer"]["namespace"] == "shop"
    assert all(row["server"] == api.url for row in rows.values())
    assert "*        sample " in result.text
    assert api.admin_token not in result.text + orjson.dumps(result.data).decode()


# ---------------------------------------------------------------------- a real chat


@pytest.fixture
def kchat_kubeconfig(kchat_cluster: KubeAPIServer, tmp_path: Path) -> str:
    return str(kchat_cluster.write_kubeconfig(tmp_path / "kubeconfig.yaml", contexts=ALL_CONTEXTS))


async def test_the_model_is_offered_contexts_and_sees_which_one_answered(
    kchat_ws: Any, kchat_model: Any
) -> None:
    sock = await kchat_ws()
    events = await sock.turn(
        {
            "message": 'call tool list_pods with {"context": "shop-viewer"}',
            "conversation_id": None,
        }
    )
    end = next(e for e in events if e["type"] == "tool_call_end")["data"]
    assert end["status"] == "completed"
    assert end["result"].startswith("Context: shop-viewer\n")
    request = kchat_model.requests[0].body
    assert all("context" in t["function"]["parameters"]["properties"] for t in request["tools"])
    system = request["messages"][0]
    assert system["role"] == "system"
    assert f"context: one of {', '.join(ALL_CONTEXTS)}; default sample." in system["content"]
    wrong = await sock.turn(
        {"message": 'call tool list_pods with {"context": "prod"}', "conversation_id": None}
    )
    end = next(e for e in wrong if e["type"] == "tool_call_end")["data"]
    assert end["status"] == "error"
    assert "'prod' is not one of ['sample', 'sample-readonly', 'shop-viewer']" in end["result"]
