"""``/ws/chat`` against a real Jupyter server, the real openai client and the real kubernetes client."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest


def by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def nested(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data as it appears inside ``complete.tool_calls`` (no conversation_id)."""
    return {k: v for k, v in data.items() if k != "conversation_id"}


def assert_well_formed_turn(events: list[dict[str, Any]], conversation_id: str) -> None:
    """Every event names the conversation, seqs count up by one, one complete, last."""
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {e["data"]["conversation_id"] for e in events} == {conversation_id}
    assert [e["type"] for e in events].count("complete") == 1
    assert events[-1]["type"] == "complete"


async def test_list_all_pods_streams_every_event_in_order(kchat_ws, kchat_model):
    sock = await kchat_ws()
    events = await sock.turn({"message": "list all pods", "conversation_id": None, "client_id": "c1"})
    conversation_id = events[0]["data"]["conversation_id"]
    assert_well_formed_turn(events, conversation_id)
    assert events[0]["type"] == "thinking" and events[0]["seq"] == 1
    assert events[0]["data"]["client_id"] == "c1"

    start = by_type(events, "tool_call_start")[0]["data"]
    assert start["tool_name"] == "list_pods"
    assert start["arguments"] == {"all_namespaces": True}
    end = by_type(events, "tool_call_end")[0]["data"]
    assert end["tool_call_id"] == start["tool_call_id"]
    assert end["status"] == "completed"
    assert end["duration_ms"] >= 0
    assert "payments-api" in end["result"]
    rows = end["data"]
    assert {"namespace", "name", "phase"} <= set(rows[0])
    assert any(r["name"].startswith("payments-api") for r in rows)

    texts = by_type(events, "text")
    assert len(texts) > 3, "the answer streams in pieces"
    complete = events[-1]["data"]
    assert complete["message"] == "".join(e["data"]["text"] for e in texts)
    summary = {k: v for k, v in nested(end).items() if k != "data"}
    assert complete["tool_calls"] == [{**summary, "row_count": len(rows)}], "rows travel once"
    assert complete["protocol_version"] == 1
    assert complete["usage"]["total_tokens"] > 0

    # The model saw the tool result, with read tools only (read_only is the default).
    second = kchat_model.requests[-1].body
    assert second["messages"][-1]["role"] == "tool"
    offered = {t["function"]["name"] for t in second["tools"]}
    assert "list_pods" in offered and "delete_pod" not in offered


async def test_conversation_continues_with_earlier_turns(kchat_ws, kchat_model):
    sock = await kchat_ws()
    first = await sock.turn({"message": "say hello there", "conversation_id": None})
    conversation_id = first[0]["data"]["conversation_id"]
    second = await sock.turn({"message": "say again", "conversation_id": conversation_id})
    assert second[0]["seq"] == first[-1]["seq"] + 1, "seq continues across turns"
    assert_well_formed_turn(second, conversation_id)
    sent = kchat_model.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "say hello there"


MALFORMED = [
    ("not json at all", "invalid_json"),
    ("[1, 2, 3]", "invalid_frame"),
    ('"just a string"', "invalid_frame"),
    ("{}", "invalid_message"),
    ('{"message": 42}', "invalid_message"),
    ('{"message": "   "}', "invalid_message"),
    ('{"type": "dance", "message": "hi"}', "unknown_type"),
    ('{"type": 7}', "unknown_type"),
    ('{"message": "hi", "conversation_id": 12}', "invalid_conversation_id"),
    ('{"message": "hi", "conversation_id": "../../etc"}', "invalid_conversation_id"),
    ('{"message": "hi", "conversation_id": "no-such-conversation"}', "unknown_conversation"),
    ('{"message": "hi", "namespace": "Not_A_Namespace"}', "invalid_namespace"),
    ('{"type": "approve", "tool_call_id": "call_nope", "approved": true}', "unknown_tool_call"),
    ('{"type": "approve", "tool_call_id": "call_nope", "approved": "yes"}', "invalid_approved"),
    ('{"type": "resume", "conversation_id": "nope", "after_seq": 0}', "not_resumable"),
    ('{"type": "resume", "conversation_id": "nope", "after_seq": -1}', "invalid_after_seq"),
    ('{"type": "cancel", "conversation_id": "nope"}', "no_running_turn"),
    ('{"type": "cancel"}', "invalid_conversation_id"),
]


@pytest.mark.parametrize(("frame", "code"), MALFORMED)
async def test_malformed_frame_gets_error_and_socket_stays_usable(kchat_ws, frame, code):
    sock = await kchat_ws()
    await sock.send(frame)
    error = await sock.event()
    assert error["type"] == "error"
    assert error["data"]["code"] == code
    assert error["data"]["message"]
    assert error["seq"] == 0, "a refused frame is not part of any conversation's sequence"
    events = await sock.turn({"message": "say still here", "conversation_id": None})
    assert events[-1]["data"]["message"] == "still here"


async def test_multi_mib_message_is_refused_with_a_clear_error(kchat_ws):
    sock = await kchat_ws()
    await sock.send({"message": "x" * (3 * 1024 * 1024), "client_id": "big"})
    error = await sock.event()
    assert error["data"]["code"] == "message_too_large"
    assert error["data"]["client_id"] == "big"
    assert "limit" in error["data"]["message"]
    events = await sock.turn({"message": "say fine", "conversation_id": None})
    assert events[-1]["data"]["message"] == "fine"


async def test_binary_frame_is_refused(kchat_ws):
    sock = await kchat_ws()
    await sock.connection.write_message(b"\x00\x01", binary=True)
    assert (await sock.event())["data"]["code"] == "invalid_frame"


async def test_second_message_while_answering_is_refused_not_mixed(kchat_ws, kchat_model):
    sock = await kchat_ws()
    await sock.send({"message": "stream 400 chunks", "conversation_id": None})
    first = await sock.event()
    conversation_id = first["data"]["conversation_id"]
    await sock.send({"message": "and another", "conversation_id": conversation_id, "client_id": "x"})
    events = await sock.until(lambda e: e["type"] == "complete")
    refusals = [e for e in events if e["seq"] == 0]
    assert [r["data"]["code"] for r in refusals] == ["turn_in_progress"]
    assert refusals[0]["data"]["client_id"] == "x"
    assert_well_formed_turn([first, *[e for e in events if e["seq"]]], conversation_id)


async def test_two_sockets_stream_at_the_same_time(kchat_ws):
    a, b = await kchat_ws(), await kchat_ws()
    await a.send({"message": "stream 300 chunks", "conversation_id": None})
    await b.send({"message": "stream 300 chunks", "conversation_id": None})
    first_a = await a.until(lambda e: e["type"] == "text")
    first_b = await b.until(lambda e: e["type"] == "text")
    # Both are mid-answer at once: neither waited for the other to finish.
    rest_a = await a.until(lambda e: e["type"] == "complete")
    rest_b = await b.until(lambda e: e["type"] == "complete")
    assert first_a[0]["data"]["conversation_id"] != first_b[0]["data"]["conversation_id"]
    for events in (first_a + rest_a, first_b + rest_b):
        assert len(by_type(events, "text")) == 300
        assert_well_formed_turn(events, events[0]["data"]["conversation_id"])


async def test_one_socket_runs_several_conversations(kchat_ws):
    sock = await kchat_ws()
    await sock.send({"message": "stream 200 chunks", "conversation_id": None})
    await sock.send({"message": "stream 100 chunks", "conversation_id": None})
    completes: dict[str, dict[str, Any]] = {}
    per_conversation: dict[str, list[dict[str, Any]]] = {}
    while len(completes) < 2:
        event = await sock.event()
        per_conversation.setdefault(event["data"]["conversation_id"], []).append(event)
        if event["type"] == "complete":
            completes[event["data"]["conversation_id"]] = event
    assert sorted(len(by_type(v, "text")) for v in per_conversation.values()) == [100, 200]
    for conversation_id, events in per_conversation.items():
        assert_well_formed_turn(events, conversation_id)


async def test_resume_after_a_dropped_socket_loses_and_repeats_nothing(kchat_ws):
    sock = await kchat_ws()
    await sock.send({"message": "stream 2000 chunks", "conversation_id": None})
    seen = await sock.until(lambda e: e["type"] == "text" and e["seq"] >= 20)
    conversation_id = seen[0]["data"]["conversation_id"]
    sock.close()  # the turn keeps running without a listener

    again = await kchat_ws()
    await again.send({"type": "resume", "conversation_id": conversation_id, "after_seq": seen[-1]["seq"]})
    rest = await again.until(lambda e: e["type"] == "complete")
    events = seen + rest
    assert_well_formed_turn(events, conversation_id)
    text = "".join(e["data"]["text"] for e in by_type(events, "text"))
    assert text == events[-1]["data"]["message"]
    assert len(by_type(events, "text")) == 2000

    # Resuming a finished turn replays exactly what came after the given seq.
    late = await kchat_ws()
    await late.send({"type": "resume", "conversation_id": conversation_id, "after_seq": events[-3]["seq"]})
    replay = await late.until(lambda e: e["type"] == "complete")
    assert [e["seq"] for e in replay] == [events[-2]["seq"], events[-1]["seq"]]


async def test_cancel_stops_the_turn_and_closes_the_model_request(kchat_ws, kchat_model):
    sock = await kchat_ws()
    await sock.send({"message": "stream 100000 chunks", "conversation_id": None})
    seen = await sock.until(lambda e: e["type"] == "text")
    conversation_id = seen[0]["data"]["conversation_id"]
    await sock.send({"type": "cancel", "conversation_id": conversation_id})
    events = seen + await sock.until(lambda e: e["type"] == "complete")
    complete = events[-1]["data"]
    assert complete["cancelled"] is True
    assert len(by_type(events, "text")) < 100000
    await asyncio.wait_for(kchat_model.requests[-1].disconnected.wait(), 10)
    assert_well_formed_turn(events, conversation_id)
    # The socket and the conversation go on.
    more = await sock.turn({"message": "say after cancel", "conversation_id": conversation_id})
    assert more[-1]["data"]["message"] == "after cancel"
    assert "cancelled" not in more[-1]["data"]


async def test_http_fallback_json_sse_and_history(jp_fetch):
    response = await jp_fetch(
        "api", "kchat", "chat", method="POST", body=orjson.dumps({"message": "list all pods"})
    )
    complete = orjson.loads(response.body)
    conversation_id = complete["conversation_id"]
    assert complete["tool_calls"][0]["tool_name"] == "list_pods"
    assert complete["message"]

    response = await jp_fetch(
        "api",
        "kchat",
        "chat",
        method="POST",
        headers={"Accept": "text/event-stream"},
        body=orjson.dumps({"message": "say streamed", "conversation_id": conversation_id}),
    )
    assert response.headers["Content-Type"].startswith("text/event-stream")
    blocks = [b for b in response.body.decode().split("\n\n") if b.strip()]
    events = [orjson.loads(b.split("data: ", 1)[1]) for b in blocks]
    assert [e["type"] for e in events][0] == "thinking"
    assert events[-1]["type"] == "complete" and events[-1]["data"]["message"] == "streamed"
    assert blocks[-1].startswith(f"id: {events[-1]['seq']}\nevent: complete\n")

    listing = orjson.loads((await jp_fetch("api", "kchat", "conversations")).body)
    assert [c["id"] for c in listing["conversations"]] == [conversation_id]
    assert listing["conversations"][0]["title"] == "list all pods"

    stored = orjson.loads((await jp_fetch("api", "kchat", "conversations", conversation_id)).body)
    roles = [m["role"] for m in stored["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    tool = stored["messages"][2]["tool"]
    assert tool["tool_name"] == "list_pods" and tool["status"] == "completed" and tool["data"]
    assert stored["running"] is False and stored["last_seq"] == events[-1]["seq"]

    response = await jp_fetch("api", "kchat", "conversations", conversation_id, method="DELETE")
    assert response.code == 204
    with pytest.raises(Exception) as missing:
        await jp_fetch("api", "kchat", "conversations", conversation_id)
    assert missing.value.code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, None),
        (orjson.dumps({"message": ""}), 400, "invalid_message"),
        (orjson.dumps({"message": "hi", "conversation_id": "nope"}), 404, "unknown_conversation"),
        (orjson.dumps({"type": "cancel", "conversation_id": "x"}), 400, "unsupported_type"),
    ],
)
async def test_http_fallback_rejects_bad_bodies(jp_fetch, body, status, code):
    with pytest.raises(Exception) as refused:
        await jp_fetch("api", "kchat", "chat", method="POST", body=body)
    assert refused.value.code == status
    if code:
        assert orjson.loads(refused.value.response.body)["error"]["code"] == code
