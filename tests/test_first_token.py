"""What stands between a question and its first token: nothing that could have been done before.

The server readies at start what a first message would wait for (the cluster's client, contexts
and card, the tokenizer), and every later turn reuses it. Timing itself is measured in
``benchmarks/bench_relay.py``; here, the requests that are (not) made on the way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jupyter_kchat.tools import ToolResult, ToolSpec, default_registry


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


async def test_the_first_message_after_the_start_asks_the_cluster_nothing_first(
    jp_serverapp: Any, kchat_ws: Any, kchat_model: Any, kchat_cluster: Any
) -> None:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_kchat"]
    await app.turns.warm()  # what the extension's start runs in the background
    kchat_cluster.requests.clear()
    sock = await kchat_ws()
    events = await sock.turn({"message": "say hi"})
    assert of(events, "complete")[0]["message"] == "hi"
    system = kchat_model.requests[0].messages[0]["content"]
    assert "Namespaces (" in system and "Nodes: " in system, "the card was ready"
    assert list(kchat_cluster.requests) == [], "the answer waited for no cluster request"


async def test_a_new_context_in_the_kubeconfig_is_offered_at_the_next_message(
    kchat_ws: Any, kchat_model: Any, kchat_kubeconfig: str
) -> None:
    sock = await kchat_ws()
    await sock.turn({"message": "say one"})
    assert "another-context" not in str(kchat_model.requests[-1].body)
    path = Path(kchat_kubeconfig)
    config = yaml.safe_load(path.read_text())
    config["contexts"].append({**config["contexts"][0], "name": "another-context"})
    path.write_text(yaml.safe_dump(config))
    await sock.turn({"message": "say two"})
    assert "another-context" in str(kchat_model.requests[-1].body), "offered without a restart"


def test_the_tools_offered_are_built_once_and_a_tool_connected_later_is_offered() -> None:
    registry = default_registry()
    read_only = registry.openai_tools(read_only=True)
    assert registry.openai_tools(read_only=True) is read_only, "not rebuilt for every turn"
    writes = {t["function"]["name"] for t in registry.openai_tools(read_only=False)}
    assert writes > {t["function"]["name"] for t in read_only}, "changes only when allowed"
    several = registry.openai_tools(read_only=True, contexts=("a", "b"))
    assert "context" in several[0]["function"]["parameters"]["properties"]
    assert registry.openai_tools(read_only=True, contexts=("a",)) is read_only
    echo = ToolSpec("echo", "Says it back.", {"type": "object"}, lambda ctx, args: ToolResult(""))
    registry.add(echo)  # as an MCP server's tools are, once it is connected
    assert "echo" in [t["function"]["name"] for t in registry.openai_tools(read_only=True)]
    assert "echo" in str(registry.openai_tools(read_only=True, contexts=("a", "b")))
