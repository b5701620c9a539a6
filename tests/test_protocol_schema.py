"""Real events of real turns (a real Jupyter server, its WebSocket and HTTP API, the demo model
and the API emulation) conform to the one protocol definition, jupyter_kchat/protocol/schema.json.

A client built from the schema (the panel's generated types) can trust every event it is sent:
text, tools, an approved and a denied change, a model error, a cancelled tool call, a resume and
refused frames; the notebook widget's envelope too.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from traitlets.config import Config

from jupyter_kchat.kernel import KernelChat
from jupyter_kchat.protocol import CANCELLED_TOOL_RESULT, PROTOCOL_VERSION
from jupyter_kchat.protocol.schema import problems
from jupyter_kchat.sample.model_server import Fault
from jupyter_kchat.widget import ChatWidget


@pytest.fixture
def kchat_settings() -> dict[str, Any]:
    return {"read_only": False, "approval_timeout": 30.0}


def conforms(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        assert problems("ServerEvent", event) == [], event
    return events


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


def delete_frame(kchat_cluster, conversation_id: str | None = None) -> dict[str, Any]:
    name = next(n for _, n in kchat_cluster.cluster.objects["pods"] if n.startswith("payments-api"))
    args = orjson.dumps({"name": name, "namespace": "payments"}).decode()
    return {"message": f"call tool delete_pod with {args}", "conversation_id": conversation_id}


async def test_every_event_of_real_turns_conforms_to_the_schema(
    kchat_ws, kchat_cluster, kchat_model, jp_fetch
):
    sock = await kchat_ws()
    sent: list[dict[str, Any]] = []

    async def send(frame: dict[str, Any]) -> None:
        sent.append(frame)
        await sock.send(frame)

    await send({"message": "list all pods", "conversation_id": None, "client_id": "c1"})
    pods = conforms(await sock.until(lambda e: e["type"] == "complete"))
    conversation_id = pods[-1]["data"]["conversation_id"]
    [end] = of(pods, "tool_call_end")
    [complete] = of(pods, "complete")
    assert end["data"] and "data" not in complete["tool_calls"][0], "rows travel once"
    assert complete["tool_calls"][0]["row_count"] == len(end["data"])
    assert complete["protocol_version"] == PROTOCOL_VERSION

    for approved, status in ((True, "completed"), (False, "denied")):
        await send(delete_frame(kchat_cluster, conversation_id))
        ask = conforms(await sock.until(lambda e: e["type"] == "approval_required"))[-1]["data"]
        await send({"type": "approve", "tool_call_id": ask["tool_call_id"], "approved": approved})
        change = conforms(await sock.until(lambda e: e["type"] == "complete"))
        assert [e["status"] for e in of(change, "tool_call_end")] == [status]

    # Cancelled while the change waits: its card ends cancelled, with no duration.
    await send(delete_frame(kchat_cluster, conversation_id))
    conforms(await sock.until(lambda e: e["type"] == "approval_required"))
    await send({"type": "cancel", "conversation_id": conversation_id})
    cancelled = conforms(await sock.until(lambda e: e["type"] == "complete"))
    [closed] = of(cancelled, "tool_call_end")
    assert (closed["status"], closed["duration_ms"]) == ("cancelled", None)
    assert closed["result"] == CANCELLED_TOOL_RESULT
    assert of(cancelled, "complete")[0]["cancelled"] is True
    stored = orjson.loads((await jp_fetch("api", "kchat", "conversations", conversation_id)).body)
    [kept] = [m for m in stored["messages"] if m.get("tool_call_id") == closed["tool_call_id"]]
    assert kept["content"] == kept["tool"]["result"] == CANCELLED_TOOL_RESULT, "one text"
    assert kept["tool"]["duration_ms"] is None

    kchat_model.faults.push(Fault.status(401))
    await send({"message": "say never", "conversation_id": conversation_id})
    failed = conforms(await sock.until(lambda e: e["type"] == "complete"))
    assert [e["code"] for e in of(failed, "error")] == ["model_auth"]

    await send({"message": "stream 300 chunks", "conversation_id": conversation_id})
    seen = conforms(await sock.until(lambda e: e["type"] == "text" and len(e["data"]["text"]) > 0))
    sock.close()
    again = await kchat_ws()
    resume = {"type": "resume", "conversation_id": conversation_id, "after_seq": seen[-1]["seq"]}
    sent.append(resume)
    await again.send(resume)
    rest = conforms(await again.until(lambda e: e["type"] == "complete"))
    assert rest[0]["seq"] == seen[-1]["seq"] + 1

    for frame in ({"message": "hi", "conversation_id": "nope"}, {"type": "approve"}):
        await again.send(frame)
        [refusal] = conforms(await again.until(lambda e: e["type"] == "error"))
        assert refusal["seq"] == 0

    for frame in sent:
        assert problems("ClientFrame", frame) == [], frame


async def test_history_and_the_json_answer_conform_and_rows_come_back_when_asked(jp_fetch):
    async def chat(body: dict[str, Any], **params: str) -> dict[str, Any]:
        response = await jp_fetch(
            "api", "kchat", "chat", method="POST", body=orjson.dumps(body), params=params
        )
        return orjson.loads(response.body)

    plain = await chat({"message": "list all pods"})
    assert problems("CompleteData", plain) == []
    [call] = plain["tool_calls"]
    assert "data" not in call and call["row_count"] > 0

    with_rows = await chat({"message": "list all pods", "conversation_id": plain["conversation_id"]},
                           rows="1")
    assert problems("CompleteData", with_rows) == []
    [call] = with_rows["tool_calls"]
    assert len(call["data"]) > 0 and "row_count" not in call

    stored = orjson.loads(
        (await jp_fetch("api", "kchat", "conversations", plain["conversation_id"])).body
    )
    assert problems("Conversation", stored) == []
    tools = [m["tool"] for m in stored["messages"] if m["role"] == "tool"]
    assert [len(tool["data"]) for tool in tools] == [len(call["data"])] * 2


def test_a_frame_the_server_refuses_breaks_the_schema_too():
    """The schema's limits are the parser's: what one refuses the other does."""
    assert problems("ClientFrame", {"message": "hi", "namespace": "Not_A_Name"})
    assert problems("ClientFrame", {"type": "resume", "conversation_id": "c", "after_seq": -1})
    assert problems("ClientFrame", {"message": "hi", "client_id": "x" * 129})
    assert problems("ServerEvent", {"type": "text", "data": {"conversation_id": "c"}, "seq": 1})


class Views:
    """Stands in for the widget's comm: records each kernel -> view message."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[Any] = []
        self._changed = threading.Condition()
        widget.send = self._receive

    def _receive(self, content: Any, buffers: Any = None) -> None:
        with self._changed:
            self.messages.append(content)
            self._changed.notify_all()

    def wait_for_completes(self, count: int) -> None:
        def completes() -> int:
            entries = [e for m in self.messages for e in m.get("events", [m])]
            return sum(e.get("type") == "complete" for e in entries)

        with self._changed:
            assert self._changed.wait_for(lambda: completes() >= count, 60), self.messages


@pytest.mark.usefixtures("isolated")
def test_the_widget_envelope_conforms(services, tmp_path):
    settings = {"model": "kchat-demo", "base_url": services.base_url, "api_key": "test-key",
                "kubeconfig": services.kubeconfig, "db_path": str(tmp_path / "h.sqlite3")}
    chat = KernelChat(Config({"KChat": settings}))
    unconfigured = KernelChat(Config({"KChat": {**settings, "base_url": None, "api_key": None}}))
    try:
        widget = ChatWidget(chat=chat)
        views = Views(widget)
        widget._handle_custom_msg({"message": "list all pods", "client_id": "c1"}, [])
        views.wait_for_completes(1)
        widget.ask("say hello from python")
        views.wait_for_completes(2)
        refused = ChatWidget(chat=unconfigured)
        refusals = Views(refused)
        refused._handle_custom_msg({"message": "list pods", "client_id": "c2"}, [])

        for message in [*views.messages, *refusals.messages]:
            assert problems("WidgetMessage", message) == [], message
        assert any("events" in message for message in views.messages), "batches were sent"
        assert any(message.get("type") == "user" for message in views.messages)
        assert refusals.messages[-1]["data"]["code"] == "not_configured"
        for entry in widget.events:
            assert problems("WidgetEntry", entry) == [], entry
    finally:
        chat.close()
        unconfigured.close()
