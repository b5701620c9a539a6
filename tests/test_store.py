"""History repair: a turn cut short never leaves the model a history it would reject."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from jupyter_kchat.store import INTERRUPTED_TOOL_RESULT, STORED_ROWS, HistoryStore


def call(call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": "list_pods", "arguments": "{}"}}


async def test_missing_tool_results_are_filled_and_trimming_starts_at_a_user(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    await store.create_conversation("c", "title", "m")
    for message in [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": None, "tool_calls": [call("a"), call("b")]},
        {"role": "tool", "tool_call_id": "a", "content": "result a"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "answer"},
    ]:
        await store.append_message("c", message)
    history = await store.model_history("c", max_messages=100)
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "user", "assistant"]
    assert history[3] == {"role": "tool", "tool_call_id": "b", "content": INTERRUPTED_TOOL_RESULT}

    trimmed = await store.model_history("c", max_messages=3)
    assert trimmed == [{"role": "user", "content": "two"}, {"role": "assistant", "content": "answer"}]
    await store.close()


async def test_history_is_shared_between_two_connections(tmp_path):
    """The server and a kernel each open the file; WAL lets both read and write."""
    server, kernel = HistoryStore(tmp_path / "h.sqlite3"), HistoryStore(tmp_path / "h.sqlite3")
    await kernel.create_conversation("from-kernel", "asked in a notebook", "m")
    await kernel.append_message("from-kernel", {"role": "user", "content": "hi"})
    listing = await server.list_conversations()
    assert [c["id"] for c in listing] == ["from-kernel"]
    assert (await server.get_conversation("from-kernel"))["messages"][0]["content"] == "hi"
    assert await server.delete_conversation("from-kernel")
    assert await kernel.get_conversation("from-kernel") is None
    await server.close()
    await kernel.close()


async def test_a_10000_row_tool_call_keeps_its_first_rows_and_says_how_many_there_were(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    await store.create_conversation("c", "title", "m")
    rows = [{"name": f"pod-{i}"} for i in range(10_000)]
    end = {"tool_call_id": "a", "tool_name": "list_pods", "arguments": {}, "result": "10000 pods",
           "status": "completed", "duration_ms": 3.0, "data": rows}
    await store.append_message("c", {"role": "tool", "tool_call_id": "a", "content": "x"}, end)
    await store.append_message("c", {"role": "tool", "tool_call_id": "b", "content": "y"},
                               {**end, "tool_call_id": "b", "data": rows[:STORED_ROWS]})
    trimmed, whole = [m["tool"] for m in (await store.get_conversation("c"))["messages"]]
    assert trimmed["data"] == rows[:STORED_ROWS] and trimmed["rows_total"] == 10_000
    assert whole["data"] == rows[:STORED_ROWS] and "rows_total" not in whole
    assert end["data"] is rows, "the live event keeps every row"
    await store.close()


def _database_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker" in t.name and t.is_alive()}


async def test_a_store_closed_while_it_opens_leaves_no_thread_behind(tmp_path):
    """A server stopped while it warms up: the opening is cancelled, then the store closed. The
    database's thread must end with it, or the server process never exits. Cancelled at each
    step of the opening in turn (connecting, then each statement that sets it up)."""
    for steps in range(1, 80):
        before = _database_threads()
        store = HistoryStore(tmp_path / f"history-{steps}.sqlite3")
        opener = asyncio.ensure_future(store.open())
        for _ in range(steps):
            await asyncio.sleep(0)  # one more step of the opening before the cancel
        opener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opener
        await store.close()
        for thread in _database_threads() - before:
            thread.join(10)
            assert not thread.is_alive(), f"cancelled after {steps} steps, its thread stayed"
    await store.open()  # and a closed store opens again
    await store.close()
