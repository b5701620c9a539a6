"""The per-turn event log: numbering, fan-out, bounded size, exact resume from any seq."""

from __future__ import annotations

import asyncio

import orjson

from jupyter_kchat.protocol import PROTOCOL_VERSION, tool_call_start
from jupyter_kchat.turns import Turn


async def collect(turn: Turn, after_seq: int) -> list[dict]:
    events = []
    async for batch in turn.follow(after_seq):
        events.extend(orjson.loads(e.wire) for e in batch)
    return events


async def test_followers_get_every_event_once_while_the_log_compacts():
    turn = Turn("c1", first_seq=5, max_events=50)
    followers = [asyncio.create_task(collect(turn, 4)) for _ in range(3)]
    turn.publish("thinking", {"message": "..."})
    chunks = [f"chunk {i} " for i in range(1000)]
    for i, chunk in enumerate(chunks):
        turn.publish("text", {"text": chunk})
        if i % 97 == 0:
            await asyncio.sleep(0)  # let followers run mid-stream, as the event loop would
    turn.publish("complete", {"message": "".join(chunks), "tool_calls": []})
    for events in await asyncio.gather(*followers):
        text = "".join(e["data"]["text"] for e in events if e["type"] == "text")
        assert text == "".join(chunks)
        assert events[0]["seq"] == 5 and events[-1]["type"] == "complete"
        assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert len(turn.events) < 120, "a 1,000-chunk answer keeps a bounded log"


async def test_resume_from_inside_a_compacted_range_sends_only_the_rest():
    turn = Turn("c1", first_seq=1, max_events=10)
    turn.publish("thinking", {"message": "..."})
    for i in range(100):
        turn.publish("text", {"text": f"{i},"})
    turn.publish("complete", {"message": "", "tool_calls": []})
    expected = "".join(f"{i}," for i in range(100))
    for after_seq in (0, 1, 2, 50, 100):
        events = await collect(turn, after_seq)
        text = "".join(e["data"]["text"] for e in events if e["type"] == "text")
        # seq 2 carried "0,", so after seq n the follower already has chunks 0..n-2.
        assert text == expected[len("".join(f"{i}," for i in range(max(after_seq - 1, 0)))):]
        assert events[-1]["type"] == "complete"


async def test_cancel_closes_open_tool_cards_then_completes():
    turn = Turn("c1", first_seq=1, max_events=100)
    # What the engine yields, kept in the turn's account as it goes.
    for event in (
        turn.account.say("Looking"),
        turn.account.start(tool_call_start("t1", "list_pods", {})),
    ):
        turn.publish(event.type, event.data)
    turn.finish_cancelled()
    events = await collect(turn, 0)
    assert [e["type"] for e in events] == ["text", "tool_call_start", "tool_call_end", "complete"]
    assert events[2]["data"]["status"] == "cancelled"
    assert events[2]["data"]["duration_ms"] is None
    ended = {k: v for k, v in events[2]["data"].items() if k != "conversation_id"}
    assert events[3]["data"] == {
        "message": "Looking",
        "tool_calls": [ended],
        "cancelled": True,
        "protocol_version": PROTOCOL_VERSION,
        "conversation_id": "c1",
    }
