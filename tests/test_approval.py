"""Changes to the cluster happen only when enabled and approved by the user."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def kchat_settings():
    return {"read_only": False, "approval_timeout": 30.0}


def deletes(kchat_cluster) -> list:
    return [r for r in kchat_cluster.requests if r[0] == "DELETE"]


def a_pod(kchat_cluster, prefix: str) -> str:
    return next(
        name for namespace, name in kchat_cluster.cluster.objects["pods"] if name.startswith(prefix)
    )


def exists(kchat_cluster, name: str) -> bool:
    return kchat_cluster.cluster.get("pods", "payments", name) is not None


def delete_frame(name: str) -> dict:
    args = orjson.dumps({"name": name, "namespace": "payments"}).decode()
    return {"message": f"call tool delete_pod with {args}"}


async def test_approved_change_is_made(kchat_ws, kchat_cluster, kchat_model):
    name = a_pod(kchat_cluster, "payments-api")
    sock = await kchat_ws()
    await sock.send(delete_frame(name))
    events = await sock.until(lambda e: e["type"] == "approval_required")
    ask = events[-1]["data"]
    assert ask["tool_name"] == "delete_pod" and ask["arguments"]["name"] == name
    assert name in ask["reason"]
    assert deletes(kchat_cluster) == [], "nothing is sent before the user answers"
    assert "delete_pod" in kchat_model.requests[0].tool_names

    await sock.send({"type": "approve", "tool_call_id": ask["tool_call_id"], "approved": True})
    events = await sock.until(lambda e: e["type"] == "complete")
    end = next(e["data"] for e in events if e["type"] == "tool_call_end")
    assert end["status"] == "completed"
    assert len(deletes(kchat_cluster)) == 1
    assert not exists(kchat_cluster, name)


async def test_denied_change_sends_nothing_to_the_cluster(kchat_ws, kchat_cluster):
    name = a_pod(kchat_cluster, "payments-api")
    sock = await kchat_ws()
    await sock.send(delete_frame(name))
    ask = (await sock.until(lambda e: e["type"] == "approval_required"))[-1]["data"]
    await sock.send({"type": "approve", "tool_call_id": ask["tool_call_id"], "approved": False})
    events = await sock.until(lambda e: e["type"] == "complete")
    end = next(e["data"] for e in events if e["type"] == "tool_call_end")
    assert end["status"] == "denied"
    assert "nothing was sent" in end["result"]
    assert deletes(kchat_cluster) == []
    assert exists(kchat_cluster, name)


async def test_another_socket_can_approve_and_a_second_answer_is_refused(kchat_ws, kchat_cluster):
    name = a_pod(kchat_cluster, "payments-api")
    asker, approver = await kchat_ws(), await kchat_ws()
    await asker.send(delete_frame(name))
    ask = (await asker.until(lambda e: e["type"] == "approval_required"))[-1]["data"]
    frame = {"type": "approve", "tool_call_id": ask["tool_call_id"], "approved": True}
    await approver.send(frame)
    events = await asker.until(lambda e: e["type"] == "complete")
    assert next(e for e in events if e["type"] == "tool_call_end")["data"]["status"] == "completed"
    await approver.send(frame)
    assert (await approver.event())["data"]["code"] == "unknown_tool_call"


@pytest.mark.parametrize("kchat_settings", [{"read_only": False, "approval_timeout": 0.3}])
async def test_no_answer_in_time_is_a_denial(kchat_ws, kchat_cluster, kchat_settings):
    name = a_pod(kchat_cluster, "payments-api")
    sock = await kchat_ws()
    events = await sock.turn(delete_frame(name))
    assert [e["type"] for e in events].count("approval_required") == 1
    end = next(e["data"] for e in events if e["type"] == "tool_call_end")
    assert end["status"] == "denied"
    assert deletes(kchat_cluster) == []


async def test_cancel_while_waiting_for_approval(kchat_ws, kchat_cluster):
    name = a_pod(kchat_cluster, "payments-api")
    sock = await kchat_ws()
    await sock.send(delete_frame(name))
    ask = (await sock.until(lambda e: e["type"] == "approval_required"))[-1]
    await sock.send({"type": "cancel", "conversation_id": ask["data"]["conversation_id"]})
    events = await sock.until(lambda e: e["type"] == "complete")
    end = next(e["data"] for e in events if e["type"] == "tool_call_end")
    assert end["status"] == "cancelled" and events[-1]["data"]["cancelled"] is True
    await sock.send({"type": "approve", "tool_call_id": ask["data"]["tool_call_id"], "approved": True})
    assert (await sock.event())["data"]["code"] == "unknown_tool_call"
    assert deletes(kchat_cluster) == []
