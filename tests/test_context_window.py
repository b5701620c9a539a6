"""A small context window end to end: a real Jupyter server, ``/ws/chat``, the real ``openai``
client against the demo model server enforcing its window with llama.cpp's and OpenAI's own
errors, and the real ``kubernetes`` client against the 300-pod sample cluster."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
import pytest
from traitlets.config import Config

from jupyter_kchat.config import DEFAULT_SYSTEM_PROMPT
from jupyter_kchat.context import compact_tools
from jupyter_kchat.kernel import KernelChat, result_from_events
from jupyter_kchat.sample.model_faults import Fault, Quirks
from jupyter_kchat.sample.offline import OfflineServices
from jupyter_kchat.tokens import TokenCounter
from jupyter_kchat.tools import ToolRegistry, default_registry
from jupyter_kchat.tools.runner import argument_problem


@pytest.fixture
def kchat_cluster_size() -> int:
    return 300


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


async def stored_roles(jp_fetch, conversation_id: str) -> list[str]:
    response = await jp_fetch("api", "kchat", "conversations", conversation_id)
    return [m["role"] for m in orjson.loads(response.body)["messages"] if m["role"] != "tool"]


def answered(roles: list[str]) -> bool:
    """Every question is followed by an assistant message: never two user messages in a row."""
    return roles[-1] == "assistant" and all(
        role == "assistant" for previous, role in pairwise(roles) if previous == "user"
    )


async def test_a_4096_token_llama_cpp_server_answers_list_all_pods_and_two_follow_ups(
    kchat_ws, kchat_model, jp_fetch
):
    kchat_model.quirks = Quirks(context_window=4096, flavour="llama.cpp")
    sock = await kchat_ws()
    first = await sock.turn({"message": "list all pods"})
    conversation_id = first[-1]["data"]["conversation_id"]
    follow_ups = [
        await sock.turn({"message": message, "conversation_id": conversation_id})
        for message in ("which pods are crashing?", "show the events in the shop namespace")
    ]
    for events in (first, *follow_ups):
        assert of(events, "error") == [], "every question is answered"
        assert of(events, "complete")[0]["message"].strip()
    assert [r.status for r in kchat_model.requests] == [200] * len(kchat_model.requests)
    (pods,) = of(first, "tool_call_end")
    assert pods["tool_name"] == "list_pods" and pods["status"] == "completed"
    assert len(pods["result"]) < 12_000, "the result got the room the window has left"
    assert len(pods["data"]) == 300, "the table rows stay complete"
    usage = of(follow_ups[-1], "complete")[0]["usage"]
    assert usage["context_window"] == 4096, "learned from llama.cpp's /props"
    assert 0 < usage["context_used"] <= 1
    roles = await stored_roles(jp_fetch, conversation_id)
    assert roles.count("user") == 3 and answered(roles)


async def test_the_first_request_carries_the_cluster_card(kchat_ws, kchat_model):
    sock = await kchat_ws()
    await sock.turn({"message": "say hi", "namespace": "shop"})
    system = kchat_model.requests[0].messages[0]
    assert system["role"] == "system"
    for fact in ("Kubernetes context: ", "kube-system", "payments", "default namespace",
                 "shop", "Nodes: "):
        assert fact in system["content"]


async def test_a_context_error_mid_conversation_is_recovered_without_an_error(
    kchat_ws, kchat_model
):
    sock = await kchat_ws()
    first = await sock.turn({"message": "list all pods"})
    conversation_id = first[-1]["data"]["conversation_id"]
    kchat_model.faults.push(Fault.context_exceeded("openai", window=4096))
    events = await sock.turn({"message": "which pods are crashing?",
                              "conversation_id": conversation_id})
    assert of(events, "error") == []
    assert of(events, "complete")[0]["message"].strip()
    refused, *rest = kchat_model.requests[2:]
    assert refused.status == 400 and all(r.status == 200 for r in rest)
    assert len(orjson.dumps(rest[0].body)) < len(orjson.dumps(refused.body)), (
        "the retry was fitted tighter"
    )
    again = await sock.turn({"message": "say still here", "conversation_id": conversation_id})
    assert of(again, "complete")[0]["message"] == "still here"


async def test_a_failed_turn_is_followed_by_a_working_question(kchat_ws, kchat_model, jp_fetch):
    kchat_model.faults.push(Fault.context_exceeded("llama.cpp", window=4096),
                            Fault.context_exceeded("llama.cpp", window=4096))
    sock = await kchat_ws()
    failed = await sock.turn({"message": "list all pods"})
    (error,) = of(failed, "error")
    assert error["code"] == "context_exceeded" and error["retryable"] is True
    assert "c.KChat.context_window" in error["message"] and "num_ctx" in error["message"]
    conversation_id = failed[-1]["data"]["conversation_id"]
    events = await sock.turn({"message": "list all pods", "conversation_id": conversation_id})
    assert of(events, "error") == [] and of(events, "tool_call_end")
    roles = await stored_roles(jp_fetch, conversation_id)
    assert roles[:2] == ["user", "assistant"] and answered(roles)


@pytest.mark.parametrize("style", ["reasoning_content", "reasoning", "think"])
async def test_reasoning_streams_as_thinking_and_stays_out_of_the_answer(
    kchat_ws, kchat_model, style
):
    kchat_model.quirks = Quirks(reasoning=style)
    sock = await kchat_ws()
    events = await sock.turn({"message": "say hello"})
    reasoning = "".join(d.get("reasoning", "") for d in of(events, "thinking"))
    assert reasoning.strip()
    assert of(events, "complete")[0]["message"] == "hello"
    conversation_id = events[-1]["data"]["conversation_id"]
    await sock.turn({"message": "say again", "conversation_id": conversation_id})
    assert reasoning.strip() not in orjson.dumps(kchat_model.requests[-1].body).decode()


@pytest.mark.parametrize("kchat_settings", [{"max_answer_tokens": 30}])
async def test_an_answer_cut_at_max_answer_tokens_ends_with_a_notice(kchat_ws, kchat_model):
    kchat_model.quirks = Quirks(honour_max_tokens=True)
    sock = await kchat_ws()
    events = await sock.turn({"message": "stream 200 chunks"})
    assert of(events, "error") == []
    message = of(events, "complete")[0]["message"]
    assert "cut off at the length limit" in message and "max_answer_tokens = 30" in message
    assert kchat_model.requests[0].body["max_tokens"] == 30


@pytest.mark.usefixtures("isolated")
def test_chat_result_usage_in_the_kernel(services: OfflineServices, tmp_path) -> None:
    chat = KernelChat.configure(Config({"KChat": {
        "model": "kchat-demo",
        "base_url": services.base_url,
        "api_key": "test-key",
        "kubeconfig": services.kubeconfig,
        "db_path": str(tmp_path / "history.sqlite3"),
        "context_window": 4096,
        "model_prices": {"kchat-demo": [0.5, 1.5]},
    }}))
    try:
        result = result_from_events(list(chat.ask("list all pods")), "list all pods")
    finally:
        KernelChat.reset()
    assert result.errors == [] and result.text
    usage = result.usage
    assert usage is not None
    assert usage["context_window"] == 4096 and 0 < usage["context_used"] <= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert usage["cost_usd"] == pytest.approx(
        (usage["prompt_tokens"] * 0.5 + usage["completion_tokens"] * 1.5) / 1e6, abs=1e-6
    )



FIXED_PROMPT_GOAL = 1_200
"""Issue 12's goal for the system prompt and every read tool schema, in tokens (it was 2,911)."""


def fixed_prompt(registry: ToolRegistry, contexts: tuple[str, ...] = ()) -> tuple[str, list]:
    """The system message (less the cluster card) and tools of a new conversation's request."""
    note = registry.prompt_note(read_only=True, contexts=contexts)
    tools = registry.openai_tools(read_only=True, contexts=contexts)
    return f"{DEFAULT_SYSTEM_PROMPT}\n\n{note}", tools


def test_the_fixed_prompt_stays_small_and_small_windows_get_it_compact() -> None:
    counter = TokenCounter("gpt-4o")
    registry = default_registry()
    system, tools = fixed_prompt(registry)
    full = counter.count(system) + counter.tools(tools)
    assert full <= FIXED_PROMPT_GOAL, full
    assert counter.count(system) + counter.tools(compact_tools(tools)) < full
    assert len(tools) >= 16
    several = ("sample", "sample-readonly", "shop-viewer")
    system, tools = fixed_prompt(registry, several)
    # The contexts are named once, in the system message, not in each of the 16 schemas.
    assert "context: one of sample, sample-readonly, shop-viewer; default sample." in system
    assert counter.count(system) + counter.tools(tools) <= full + 120


def test_what_the_model_is_not_sent_is_still_said_and_checked() -> None:
    """The offered schemas leave out what the system message says once; the engine and MCP
    clients still get the whole schema, so a wrong call is still refused before it runs."""
    registry = default_registry()
    system, tools = fixed_prompt(registry, ("sample", "shop-viewer"))
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    assert offered["list_pods"]["properties"]["namespace"] == {"type": "string"}
    assert offered["list_pods"]["properties"]["context"] == {"type": "string"}
    assert "namespace defaults to the chat's" in system
    # A namespace that means something else keeps its own words.
    assert offered["diagnose_cluster"]["properties"]["namespace"]["description"]
    assert offered["list_helm_releases"]["properties"]["all_namespaces"]["default"] is True
    spec = registry.get("list_pods")
    assert spec is not None
    whole = registry.parameters(spec, ("sample", "shop-viewer"))
    assert whole["properties"]["namespace"]["description"] == "Default: the chat's namespace."
    assert argument_problem(whole, {"namespaces": "shop"}) is not None
    assert argument_problem(whole, {"context": "prod"}) is not None
    assert argument_problem(whole, {"context": "shop-viewer", "namespace": "shop"}) is None
