"""Turn bytes benchmark: what one ``list all pods`` turn on a 10,000-pod cluster costs on the
wire and in SQLite, now that rows travel once.

In one run, one real turn (the real ``openai`` client against the demo model server, the real
``kubernetes`` client against the API emulation, the server's own turn log and history store):
  now     the events as the socket sends them (``LoggedEvent.wire``) and the history rows as
          stored (``messages`` columns in the SQLite file);
  before  the same turn in the earlier shapes, rebuilt from the same events: ``complete`` with
          every call's rows again, and history keeping every row.
Prints bytes of both and their ratios (goal: wire <= 0.55x, SQLite <= 0.2x at 10,000 pods).

    .venv/bin/python benchmarks/bench_turn_bytes.py [--pods 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import orjson

from jupyter_kchat.config import KChat
from jupyter_kchat.protocol import ChatFrame, encode_event
from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.model_server import ModelServer
from jupyter_kchat.turns import Turn, TurnManager


async def one_turn(pods: int, tmp: Path) -> tuple[Turn, Path]:
    model, api = ModelServer(), KubeAPIServer(SampleCluster(pods=pods, seed=0))
    await model.start(host="127.0.0.1", port=0)
    await api.start(host="127.0.0.1", port=0)
    db = tmp / "history.sqlite3"
    settings = KChat(
        model="kchat-demo",
        base_url=model.base_url,
        api_key="bench-key",
        kubeconfig=str(api.write_kubeconfig(tmp / "kubeconfig.yaml")),
        db_path=str(db),
    )
    manager = TurnManager.from_settings(settings)
    try:
        turn = await manager.start(ChatFrame(message="list all pods"))
        assert turn.task is not None
        await turn.task
    finally:
        await manager.close()
        await api.stop()
        await model.stop()
    return turn, db


def wire_bytes(turn: Turn) -> tuple[int, int]:
    """(now, before): the socket's bytes, and the same with rows inside ``complete`` again."""
    now = sum(len(event.wire.encode()) for event in turn.events)
    ends = [event.data for event in turn.events if event.type == "tool_call_end"]
    before = 0
    for event in turn.events:
        wire = event.wire
        if event.type == "complete":
            old = {**event.data, "tool_calls": ends}
            wire = encode_event("complete", old, conversation_id=turn.conversation_id, seq=event.seq)
        before += len(wire.encode())
    return now, before


def stored_bytes(db: Path, turn: Turn) -> tuple[int, int]:
    """(now, before): bytes of the stored messages, and the same with every row kept."""
    ends = {e.data["tool_call_id"]: e.data for e in turn.events if e.type == "tool_call_end"}
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT content, tool_calls, tool_call_id, tool FROM messages"
        ).fetchall()
    now = before = 0
    for content, tool_calls, tool_call_id, tool in rows:
        shared = sum(len((part or "").encode()) for part in (content, tool_calls, tool_call_id))
        now += shared + len((tool or "").encode())
        whole: Any = ends.get(tool_call_id) if tool else None
        before += shared + (len(orjson.dumps(whole)) if whole is not None else len(tool or ""))
    return now, before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        turn, db = asyncio.run(one_turn(args.pods, Path(tmp)))
        (wire_now, wire_before), (db_now, db_before) = wire_bytes(turn), stored_bytes(db, turn)
        file_size = db.stat().st_size
    rows = sum(len(e.data.get("data") or ()) for e in turn.events if e.type == "tool_call_end")
    print(f"one 'list all pods' turn, {args.pods:,} pods, {rows:,} rows, {len(turn.events)} events")
    print(f"{'':8} {'before':>12} {'now':>12} {'ratio':>7}")
    for name, before, now in (("wire", wire_before, wire_now), ("sqlite", db_before, db_now)):
        print(f"{name:8} {before:>12,} {now:>12,} {now / before:>6.2f}x")
    print(f"sqlite file after the turn: {file_size:,} bytes")


if __name__ == "__main__":
    main()
