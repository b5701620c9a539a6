"""The one frame router (``TurnManager.handle``) against an in-process follower and model.

What the socket and the widget rely on, without a server, a socket or an HTTP model: a chat's
events reach the follower that sent it, refusals reach it instead of raising, cancel / approve /
resume act on the right turn, a follower follows a conversation once, and one text-run merge
keeps the chunks' text and last ``seq``. End-to-end versions are in ``test_ws_protocol.py``,
``test_widget.py`` and ``test_approval.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_kchat.config import KChat
from jupyter_kchat.llm import Completion, ToolCallRequest
from jupyter_kchat.protocol import (
    ApproveFrame,
    CancelFrame,
    ChatFrame,
    ProtocolError,
    ResumeFrame,
)
from jupyter_kchat.store import HistoryStore
from jupyter_kchat.tools.base import ToolContext, ToolRegistry, ToolResult, ToolSpec
from jupyter_kchat.turns import LoggedEvent, Turn, TurnManager, merge_runs

TIMEOUT = 10.0
Answer = Callable[[list[dict[str, Any]]], list[Any]]


@dataclass
class ScriptedModel:
    """A ``ModelClient``-shaped model: each answer comes from ``answer``; a question that
    says "hang" waits until the turn is cancelled (``asked`` is set once it is waiting)."""

    answer: Answer
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    async def context_window(self, model: str) -> int | None:
        return None

    async def stream(self, *, model: str, messages: list[dict[str, Any]],
                     tools: list[dict[str, Any]] | None,
                     max_tokens: int | None = None) -> AsyncIterator[Any]:
        if messages[-1]["role"] == "user" and "hang" in messages[-1]["content"]:
            self.asked.set()
            await asyncio.Event().wait()
        for item in self.answer(messages):
            yield item

    async def close(self) -> None:
        """Nothing to close: no connection."""


def answers(messages: list[dict[str, Any]]) -> list[Any]:
    """"scale ..." asks for the write tool once; anything else is echoed in three chunks."""
    last = messages[-1]
    if last["role"] == "user" and last["content"].startswith("scale"):
        call = ToolCallRequest("call_scale", "scale", '{"replicas": 3}')
        return [Completion("", [call], "tool_calls", None)]
    text = f"{last['content']}" if last["role"] == "tool" else f"echo: {last['content']}"
    chunks = [text[:4], text[4:8], text[8:]]
    return [*chunks, Completion(text, [], "stop", None)]


SCALED: list[dict[str, Any]] = []


def scale(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    SCALED.append(args)
    return ToolResult(f"scaled web to {args['replicas']}")


TOOLS = ToolRegistry([
    ToolSpec("scale", "Scale web.", {"type": "object", "properties": {
        "replicas": {"type": "integer"}}}, scale, writes=True),
])


@dataclass
class StubCluster:
    context: str = "sample"
    server: str = "https://127.0.0.1:1"
    default_namespace: str | None = None


class StubKube:
    """Stands in for ``KubeClients``: one cluster, no other contexts."""

    def cluster(self, context: str | None = None) -> StubCluster:
        return StubCluster()

    def contexts(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing to close."""


class Recorder:
    """An in-process follower: keeps what it is sent, as a client would see it."""

    def __init__(self, *, gone_after: int | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.refusals: list[ProtocolError] = []
        self.gone_after = gone_after
        self._changed = asyncio.Condition()

    async def deliver(self, turn: Turn, batch: list[LoggedEvent]) -> bool:
        async with self._changed:
            self.events.extend(event.message() for event in batch)
            self._changed.notify_all()
        return self.gone_after is None or len(self.events) < self.gone_after

    def refuse(self, error: ProtocolError) -> None:
        self.refusals.append(error)

    async def until(self, kind: str, count: int = 1) -> dict[str, Any]:
        """The ``count``-th event of ``kind``, waiting for it."""

        def found() -> list[dict[str, Any]]:
            return [e for e in self.events if e["type"] == kind]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count),
                                   TIMEOUT)
        return found()[count - 1]

    def text(self) -> str:
        return "".join(e["data"]["text"] for e in self.events if e["type"] == "text")


@contextlib.asynccontextmanager
async def router(tmp_path: Path) -> AsyncIterator[TurnManager]:
    """A turn manager over the scripted model and a real history file, closed afterwards."""
    settings = KChat(model="local-model", read_only=False, cluster_card=False,
                     db_path=str(tmp_path / "history.sqlite3"))
    turns = TurnManager(
        settings,
        store=HistoryStore(settings.db_path),
        model=ScriptedModel(answers),  # type: ignore[arg-type]
        tools=TOOLS,
        kube=StubKube(),  # type: ignore[arg-type]
    )
    try:
        yield turns
    finally:
        await turns.close()


async def test_a_chat_streams_to_its_follower_and_a_second_is_refused(tmp_path: Path) -> None:
    async with router(tmp_path) as manager:
        follower = Recorder()
        turn = await manager.handle(ChatFrame(message="say hang", client_id="c1"), follower)
        assert turn is not None
        await asyncio.wait_for(manager.model.asked.wait(), TIMEOUT)  # type: ignore[attr-defined]
        second = ChatFrame(message="again", conversation_id=turn.conversation_id, client_id="c2")
        assert await manager.handle(second, follower) is None
        (refusal,) = follower.refusals
        assert refusal.code == "turn_in_progress" and refusal.client_id == "c2"
        assert await manager.handle(CancelFrame(turn.conversation_id), follower) is None
        complete = await follower.until("complete")
        assert complete["data"]["cancelled"] is True
        assert complete["data"]["conversation_id"] == turn.conversation_id
        seqs = [e["seq"] for e in follower.events]
        assert seqs == list(range(1, len(seqs) + 1)), "numbered from 1, none lost or repeated"
        assert len(follower.refusals) == 1


async def test_the_answer_arrives_whole_and_the_conversation_goes_on(tmp_path: Path) -> None:
    async with router(tmp_path) as manager:
        follower = Recorder()
        turn = await manager.handle(ChatFrame(message="hello there"), follower)
        assert turn is not None
        complete = await follower.until("complete")
        assert follower.text() == complete["data"]["message"] == "echo: hello there"
        again = ChatFrame(message="and more", conversation_id=turn.conversation_id)
        assert await manager.handle(again, follower) is not None
        second = await follower.until("complete", 2)
        assert second["data"]["message"] == "echo: and more"
        seqs = [e["seq"] for e in follower.events]
        assert seqs == sorted(set(seqs)), "the second turn goes on numbering where the first ended"


async def test_refusals_go_to_the_follower_not_up(tmp_path: Path) -> None:
    async with router(tmp_path) as manager:
        follower = Recorder()
        frames = [
            CancelFrame("c-none"),
            ApproveFrame("call-none", approved=True),
            ResumeFrame("c-none", after_seq=0),
            ChatFrame(message="hi", conversation_id="c-none", client_id="c9"),
        ]
        for frame in frames:
            assert await manager.handle(frame, follower) is None
        assert [r.code for r in follower.refusals] == [
            "no_running_turn", "unknown_tool_call", "not_resumable", "unknown_conversation",
        ]
        assert follower.refusals[-1].client_id == "c9"
        assert follower.events == []


async def test_approve_runs_the_change_and_deny_does_not(tmp_path: Path) -> None:
    async with router(tmp_path) as manager:
        SCALED.clear()
        follower = Recorder()
        for count, approved in ((1, True), (2, False)):
            await manager.handle(ChatFrame(message="scale web"), follower)
            ask = await follower.until("approval_required", count)
            await manager.handle(ApproveFrame(ask["data"]["tool_call_id"], approved), follower)
            end = await follower.until("tool_call_end", count)
            assert end["data"]["status"] == ("completed" if approved else "denied")
            await follower.until("complete", count)
        assert SCALED == [{"replicas": 3}], "only the approved change ran"
        assert follower.refusals == []


async def test_resume_replays_after_a_seq_and_replaces_the_last_relay(tmp_path: Path) -> None:
    async with router(tmp_path) as manager:
        first = Recorder()
        turn = await manager.handle(ChatFrame(message="hello there"), first)
        assert turn is not None
        await first.until("complete")
        other = Recorder()
        for _ in range(2):  # the same follower resuming twice still gets each event once
            resume = ResumeFrame(turn.conversation_id, after_seq=2)
            assert await manager.handle(resume, other) is turn
        await other.until("complete")
        assert [e["seq"] for e in other.events] == [e["seq"] for e in first.events if e["seq"] > 2]


async def test_a_follower_gone_or_detached_stops_and_the_turn_goes_on(tmp_path: Path) -> None:
    async with router(tmp_path) as manager:
        watcher, gone, detached = Recorder(), Recorder(gone_after=1), Recorder()
        turn = await manager.handle(ChatFrame(message="say hang"), watcher)
        assert turn is not None
        for follower in (gone, detached):
            await manager.handle(ResumeFrame(turn.conversation_id, after_seq=0), follower)
        await gone.until("thinking")
        await detached.until("thinking")
        manager.detach(detached)
        await asyncio.wait_for(manager.model.asked.wait(), TIMEOUT)  # type: ignore[attr-defined]
        await manager.handle(CancelFrame(turn.conversation_id), watcher)
        await watcher.until("complete")
        assert gone.events[0]["type"] == "thinking"
        for follower in (gone, detached):
            assert "complete" not in {e["type"] for e in follower.events}


def logged(turn: Turn, *events: tuple[str, dict[str, Any]]) -> list[LoggedEvent]:
    return [turn.publish(kind, data) for kind, data in events]


def test_one_merge_joins_text_and_reasoning_runs_and_keeps_the_last_seq():
    turn = Turn("c1", first_seq=1, max_events=1000)
    events = logged(
        turn,
        ("thinking", {"message": "Thinking..."}),
        ("thinking", {"reasoning": "first, "}),
        ("thinking", {"reasoning": "then"}),
        ("text", {"text": "Hel"}),
        ("text", {"text": "lo"}),
        ("tool_call_start", {"tool_call_id": "t1", "tool_name": "list_pods", "arguments": {}}),
        ("text", {"text": "!"}),
    )
    merged = [event.message() for event in merge_runs(events, "c1")]
    assert [(e["type"], e["seq"]) for e in merged] == [
        ("thinking", 1), ("thinking", 3), ("text", 5), ("tool_call_start", 6), ("text", 7),
    ]
    assert merged[1]["data"] == {"reasoning": "first, then", "conversation_id": "c1"}
    assert merged[2]["data"] == {"text": "Hello", "conversation_id": "c1"}
    assert merge_runs(events, "c1")[3] is events[5], "other events pass through as they are"
