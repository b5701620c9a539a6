"""Relay benchmark: what does going through kchat's /ws/chat cost, against reading the model directly?

In one run, with the demo model streaming N chunks as fast as it can (its own process) and a real
``jupyter server`` with kchat (its own process):
  direct  the ``openai`` SDK reads the stream from the model server itself;
  kchat   a WebSocket client reads the ``text`` events of the same answer through /ws/chat.
Prints time to first token and chunks/s for both and their ratios (goal: kchat >= 0.9x direct
throughput, < 5 ms added to the first token), then 100 concurrent conversations on one server:
completion count and the p50/p99 gap between consecutive events of a conversation.

    .venv/bin/python benchmarks/bench_relay.py [--chunks 5000] [--repeat 5] [--concurrent 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from openai import AsyncOpenAI
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from processes import Service, free_port  # noqa: E402


async def direct(base_url: str, chunks: int) -> tuple[float, float, int]:
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    began = time.perf_counter()
    first = 0.0
    count = 0
    stream = await client.chat.completions.create(
        model="kchat-demo",
        messages=[{"role": "user", "content": f"stream {chunks} chunks"}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
            if count == 1:
                first = time.perf_counter() - began
    total = time.perf_counter() - began
    await client.close()
    return first, total, count


async def relayed(ws_url: str, token: str, chunks: int) -> tuple[float, float, int]:
    async with connect(ws_url, additional_headers={"Authorization": f"token {token}"}, max_size=None) as ws:
        began = time.perf_counter()
        await ws.send(json.dumps({"message": f"stream {chunks} chunks"}))
        first = 0.0
        count = 0
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "text":
                count += 1
                if count == 1:
                    first = time.perf_counter() - began
            elif event["type"] == "complete":
                break
        return first, time.perf_counter() - began, count


async def conversation_gaps(ws_url: str, token: str, chunks: int) -> tuple[bool, list[float], float]:
    async with connect(ws_url, additional_headers={"Authorization": f"token {token}"}, max_size=None) as ws:
        began = time.perf_counter()
        await ws.send(json.dumps({"message": f"stream {chunks} chunks"}))
        gaps: list[float] = []
        last = time.perf_counter()
        first = 0.0
        async for message in ws:
            now = time.perf_counter()
            event = json.loads(message)
            if not first:
                first = now - began
            gaps.append(now - last)
            last = now
            if event["type"] == "complete":
                return "cancelled" not in event["data"], gaps[1:], first
    return False, [], 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--concurrent-chunks", type=int, default=200)
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kchat-bench-"))
    model = Service([sys.executable, "-u", "-m", "jupyter_kchat.sample_model", "--port", "0"],
                    "kchat demo model:", tmp / "model.log", dict(os.environ))
    model_url = model.line.split("kchat demo model:", 1)[1].strip().split()[0]
    cluster = Service(
        [sys.executable, "-u", "-m", "jupyter_kchat.sample_cluster", "--pods", "60", "--port", "0",
         "--kubeconfig", str(tmp / "kubeconfig.yaml")],
        "kchat sample cluster:",
        tmp / "cluster.log",
        dict(os.environ),
    )
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_DATA_DIR": str(tmp / "data")}
    server = Service(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
         "--ServerApp.jpserver_extensions={'jupyter_kchat': True}",
         f"--KChat.base_url={model_url}", "--KChat.api_key=bench", "--KChat.model=kchat-demo",
         f"--KChat.kubeconfig={tmp / 'kubeconfig.yaml'}", f"--KChat.db_path={tmp / 'history.sqlite3'}"],
        "is running at",
        tmp / "server.log",
        env,
    )
    ws_url = f"ws://127.0.0.1:{port}/ws/chat"
    try:
        await direct(model_url, 100)
        await relayed(ws_url, token, 100)
        runs: dict[str, list[tuple[float, float, int]]] = {"direct": [], "kchat": []}
        for _ in range(options.repeat):
            runs["direct"].append(await direct(model_url, options.chunks))
            runs["kchat"].append(await relayed(ws_url, token, options.chunks))
        print(f"relay of {options.chunks} chunks, median of {options.repeat} runs each")
        summary = {}
        for name, results in runs.items():
            assert all(count == options.chunks for _, _, count in results), f"{name} lost chunks"
            ttft = statistics.median(r[0] for r in results)
            rate = statistics.median(r[2] / r[1] for r in results)
            summary[name] = (ttft, rate)
            print(f"  {name:7s} first token {ttft * 1000:7.2f} ms   {rate:10,.0f} chunks/s")
        (d_ttft, d_rate), (k_ttft, k_rate) = summary["direct"], summary["kchat"]
        print(f"  throughput ratio kchat/direct = {k_rate / d_rate:.2f}x (goal >= 0.9x)")
        print(f"  first token added by kchat    = {(k_ttft - d_ttft) * 1000:+.2f} ms (goal < 5 ms)")

        results = await asyncio.gather(
            *(conversation_gaps(ws_url, token, options.concurrent_chunks) for _ in range(options.concurrent))
        )
        completed = sum(ok for ok, _, _ in results)
        gaps = [g for _, conversation, _ in results for g in conversation]
        firsts = [f for _, _, f in results]
        print(f"{options.concurrent} concurrent conversations x {options.concurrent_chunks} chunks on one server")
        print(f"  completed {completed}/{options.concurrent}")
        print(f"  gap between events: p50 {percentile(gaps, 50) * 1000:.2f} ms, p99 {percentile(gaps, 99) * 1000:.2f} ms")
        print(f"  first event: p50 {percentile(firsts, 50) * 1000:.1f} ms, p99 {percentile(firsts, 99) * 1000:.1f} ms")
        return 0 if completed == options.concurrent else 1
    finally:
        for service in (server, cluster, model):
            service.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
