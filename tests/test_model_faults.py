"""Model faults are events, not crashes: the user sees what happened and nothing said is lost."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from jupyter_kchat.sample.model_faults import Quirks
from jupyter_kchat.sample.model_server import Fault


def only(events, kind):
    return [e for e in events if e["type"] == kind]


async def test_429_is_retried_with_backoff_then_answers(kchat_ws, kchat_model):
    kchat_model.faults.push(Fault.status(429), Fault.status(429))
    sock = await kchat_ws()
    events = await sock.turn({"message": "say made it"})
    assert only(events, "error") == []
    assert events[-1]["data"]["message"] == "made it"
    assert [r.status for r in kchat_model.requests] == [429, 429, 200]


@pytest.mark.parametrize(
    ("status", "code", "retryable", "attempts"),
    [(500, "model_unavailable", True, 3), (429, "rate_limited", True, 3),
     (401, "model_auth", False, 1), (404, "model_not_found", False, 1)],
)
async def test_persistent_model_failure_is_an_error_then_complete(
    kchat_ws, kchat_model, status, code, retryable, attempts
):
    kchat_model.faults.push(*[Fault.status(status)] * 3)
    sock = await kchat_ws()
    events = await sock.turn({"message": "say unreachable"})
    assert [e["type"] for e in events] == ["thinking", "error", "complete"]
    error = events[1]["data"]
    assert error["code"] == code and error["retryable"] is retryable
    assert error["message"]
    assert len(kchat_model.requests) == attempts, "429 and 5xx are retried; 4xx are not"
    # The socket and the conversation go on; the question was kept.
    conversation_id = events[-1]["data"]["conversation_id"]
    kchat_model.faults.clear()
    again = await sock.turn({"message": "say recovered", "conversation_id": conversation_id})
    assert again[-1]["data"]["message"] == "recovered"
    sent = [m["content"] for m in kchat_model.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["say unreachable", "say recovered"]


async def test_stream_cut_mid_answer_keeps_what_arrived(kchat_ws, kchat_model, jp_fetch):
    kchat_model.faults.push(Fault.cut_after(20))
    sock = await kchat_ws()
    events = await sock.turn({"message": "stream 200 chunks"})
    errors = only(events, "error")
    assert [e["data"]["code"] for e in errors] == ["model_stream_interrupted"]
    assert errors[0]["data"]["retryable"] is True
    partial = "".join(e["data"]["text"] for e in only(events, "text"))
    assert partial and events[-1]["data"]["message"] == partial
    conversation_id = events[-1]["data"]["conversation_id"]
    stored = orjson.loads((await jp_fetch("api", "kchat", "conversations", conversation_id)).body)
    assert stored["messages"][-1] == {"role": "assistant", "content": partial}


async def test_broken_tool_arguments_end_the_tool_in_error_and_the_model_is_told(
    kchat_ws, kchat_model
):
    kchat_model.faults.push(Fault.bad_tool_arguments())
    sock = await kchat_ws()
    events = await sock.turn({"message": "list all pods"})
    end = only(events, "tool_call_end")[0]["data"]
    assert end["status"] == "error"
    assert "not valid JSON" in end["result"]
    assert only(events, "tool_call_start")[0]["data"]["arguments"] == {}
    told = [m for m in kchat_model.requests[1].body["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in told[0]["content"]
    assert events[-1]["type"] == "complete" and only(events, "error") == []


async def test_unknown_and_disabled_tools_are_refused_with_the_available_list(kchat_ws):
    sock = await kchat_ws()
    events = await sock.turn({"message": 'call tool delete_pod with {"name": "x", "namespace": "y"}'})
    end = only(events, "tool_call_end")[0]["data"]
    assert end["status"] == "error"
    assert "read-only" in end["result"] and "list_pods" in end["result"]
    assert only(events, "approval_required") == [], "read-only never asks to change anything"


async def test_invalid_arguments_are_checked_against_the_schema(kchat_ws):
    sock = await kchat_ws()
    events = await sock.turn({"message": 'call tool get_pod_logs with {"tail_lines": "many"}'})
    end = only(events, "tool_call_end")[0]["data"]
    assert end["status"] == "error"
    assert "tail_lines" in end["result"] and "name" in end["result"]


async def test_cancel_while_the_model_hangs_closes_the_request(kchat_ws, kchat_model):
    kchat_model.faults.push(Fault.hang())
    sock = await kchat_ws()
    await sock.send({"message": "say never"})
    thinking = await sock.event()
    request = await kchat_model.wait_for_request(1, timeout=10)
    await sock.send({"type": "cancel", "conversation_id": thinking["data"]["conversation_id"]})
    events = await sock.until(lambda e: e["type"] == "complete")
    assert events[-1]["data"]["cancelled"] is True
    await asyncio.wait_for(request.disconnected.wait(), 10)


async def test_a_stream_cut_before_any_answer_keeps_nothing_and_says_so(kchat_ws, kchat_model):
    kchat_model.faults.push(Fault.cut_after(0))
    sock = await kchat_ws()
    events = await sock.turn({"message": "stream 200 chunks"})
    [error] = only(events, "error")
    assert error["data"]["code"] == "model_unavailable" and error["data"]["retryable"] is True
    assert "What arrived is kept" not in error["data"]["message"]
    assert only(events, "text") == []


class TestClocks:
    """kchat's own clocks, set small here; the faults hold the model for an hour."""

    @pytest.fixture
    def kchat_settings(self):
        return {"first_token_timeout": 3.0, "stream_stall_timeout": 3.0}

    async def test_no_first_token_is_model_timeout_and_the_chat_goes_on(
        self, kchat_ws, kchat_model
    ):
        kchat_model.faults.push(Fault.first_chunk_after(3600))
        sock = await kchat_ws()
        events = await sock.turn({"message": "say late"})
        [error] = only(events, "error")
        assert error["data"]["code"] == "model_timeout" and error["data"]["retryable"] is True
        assert "c.KChat.first_token_timeout" in error["data"]["message"]
        assert "What arrived is kept" not in error["data"]["message"]
        await asyncio.wait_for(kchat_model.requests[0].disconnected.wait(), 10)
        again = await sock.turn(
            {"message": "say on time", "conversation_id": events[-1]["data"]["conversation_id"]}
        )
        assert again[-1]["data"]["message"] == "on time"
        assert len(kchat_model.requests) == 2, "the slow request was not sent again"

    async def test_a_stalled_stream_is_model_stalled_and_keeps_what_arrived(
        self, kchat_ws, kchat_model
    ):
        kchat_model.faults.push(Fault.stall_after(20))
        sock = await kchat_ws()
        events = await sock.turn({"message": "stream 200 chunks"})
        [error] = only(events, "error")
        assert error["data"]["code"] == "model_stalled"
        assert "What arrived is kept" in error["data"]["message"]
        partial = "".join(e["data"]["text"] for e in only(events, "text"))
        assert partial and events[-1]["data"]["message"] == partial


async def test_a_looping_answer_is_stopped_and_the_turn_completes(kchat_ws, kchat_model):
    kchat_model.faults.push(Fault.repeat("The pod web-1 is Running. ", 4000))
    sock = await kchat_ws()
    events = await sock.turn({"message": "say anything"})
    assert only(events, "error") == []
    answer = events[-1]["data"]["message"]
    assert answer.startswith("The pod web-1 is Running. ") and len(answer) < 10_000
    await asyncio.wait_for(kchat_model.requests[0].disconnected.wait(), 10)
    again = await sock.turn(
        {"message": "say fine", "conversation_id": events[-1]["data"]["conversation_id"]}
    )
    assert again[-1]["data"]["message"] == "fine"


class TestAnswerLimit:
    @pytest.fixture
    def kchat_settings(self):
        return {"max_answer_tokens": 50}

    async def test_an_answer_cut_at_the_limit_completes_and_says_so(self, kchat_ws, kchat_model):
        kchat_model.quirks = Quirks(honour_max_tokens=True)
        sock = await kchat_ws()
        events = await sock.turn({"message": "stream 400 chunks"})
        assert only(events, "error") == []
        assert kchat_model.requests[0].body["max_tokens"] <= 50
        streamed = "".join(e["data"]["text"] for e in only(events, "text"))
        assert len(streamed) > 150 and "max_answer_tokens" in events[-1]["data"]["message"]
