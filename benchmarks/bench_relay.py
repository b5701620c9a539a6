"""Relay benchmark: what does going through kchat's /ws/chat cost, against reading the model directly?

In one run, with the demo model streaming as fast as it can (its own process) and a real
``jupyter server`` with kchat (its own process):
  direct  the ``openai`` SDK reads the stream from the model server itself, with one client kept
          for every answer as kchat keeps its own (``cold``: a new client per answer);
  kchat   a WebSocket client reads the ``text`` events of the same answer through /ws/chat, on a
          socket that is open already, as the panel's is.
First the time to first token: many rounds of short answers, each round taking turns between the
direct SDK, a new conversation and a follow-up question (the order rotates), and the median and
p90 of what kchat added per round (goal: < 2 ms for both), split at the model server's own clock
into the time to the request, the model and the relay, with the machine's load average (each
process hop waits for a core on a loaded machine: compare runs at a like load). Then throughput
of long answers (goal: kchat >= 1.0x direct), the CPU each reader spends per chunk, and 100
concurrent conversations on one server: completion count and the p50/p99 gap between
consecutive events of a conversation.

    .venv/bin/python benchmarks/bench_relay.py [--rounds 40] [--chunks 5000] [--repeat 5]
        [--concurrent 100]
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
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from openai import AsyncOpenAI
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from processes import Service, free_port

from jupyter_kchat.llm import ModelClient


@dataclass
class Run:
    """One answer read to its end: perf_counter times (one clock for every process here)."""

    began: float
    first_at: float
    ended: float
    count: int
    arrived_at: float = 0.0
    """When the model server got the request ..."""
    first_chunk_at: float = 0.0
    """... and flushed its first chunk (from its request records)."""

    @property
    def first(self) -> float:
        return self.first_at - self.began

    @property
    def rate(self) -> float:
        return self.count / (self.ended - self.began)

    @property
    def setup(self) -> float:
        """From sending the question to the model request arriving."""
        return self.arrived_at - self.began

    @property
    def model(self) -> float:
        """From the request arriving to the model's first chunk leaving."""
        return self.first_chunk_at - self.arrived_at

    @property
    def relay(self) -> float:
        """From the model's first chunk leaving the server to the reader having the text."""
        return self.first_at - self.first_chunk_at


async def requests_made(base_url: str) -> list[dict[str, object]]:
    control = base_url.removesuffix("/v1")

    def fetch() -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{control}/_control/requests?detail=1", timeout=30) as answer:
            records = json.loads(answer.read())
        urllib.request.urlopen(urllib.request.Request(f"{control}/_control/reset", b"", method="POST"), timeout=30).close()
        return records

    return await asyncio.to_thread(fetch)


async def timed(run: Run, model_url: str) -> Run:
    """Add the model server's times of the request that streamed the answer."""
    records = [r for r in await requests_made(model_url) if r["first_chunk_at"] is not None]
    if not records:
        raise RuntimeError("kchat answered without streaming from the model: see the server log")
    record = records[-1]
    run.arrived_at, run.first_chunk_at = float(record["arrived_at"]), float(record["first_chunk_at"])
    return run


async def direct(base_url: str, chunks: int, client: AsyncOpenAI | None = None) -> Run:
    """One answer read with the SDK: with ``client`` (kept across answers), else a new one."""
    reader = client or AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    began = time.perf_counter()
    first = 0.0
    count = 0
    stream = await reader.chat.completions.create(
        model="kchat-demo",
        messages=[{"role": "user", "content": f"stream {chunks} chunks"}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
            if count == 1:
                first = time.perf_counter()
    ended = time.perf_counter()
    if client is None:
        await reader.close()
    return await timed(Run(began, first, ended, count), base_url)


async def relayed(
    ws_url: str, token: str, chunks: int, model_url: str, question: str = "new"
) -> Run:
    """One answer through /ws/chat, the ``question`` of a socket that has answered one already
    as the panel's has: a ``new`` conversation or a ``follow-up`` in the first; or a new
    conversation on a ``fresh`` socket, opened just before."""
    headers = {"Authorization": f"token {token}"}
    async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
        frame: dict[str, object] = {"message": f"stream {chunks} chunks"}
        if question != "fresh":
            await ws.send(json.dumps({"message": "say first"}))
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "complete":
                    if question == "follow-up":
                        frame["conversation_id"] = event["data"]["conversation_id"]
                    break
        began = time.perf_counter()
        await ws.send(json.dumps(frame))
        first = 0.0
        count = 0
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "text":
                count += 1
                if count == 1:
                    first = time.perf_counter()
            elif event["type"] == "error":
                raise RuntimeError(f"kchat answered with an error: {event['data']}")
            elif event["type"] == "complete":
                break
        ended = time.perf_counter()
    return await timed(Run(began, first, ended, count), model_url)


async def decode_cpu(base_url: str, chunks: int, reader: str) -> float:
    """CPU seconds this process spends reading one answer: the SDK's objects or kchat's decoder."""
    messages = [{"role": "user", "content": f"stream {chunks} chunks"}]
    began = time.process_time()
    if reader == "sdk":
        client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        stream = await client.chat.completions.create(
            model="kchat-demo", messages=messages, stream=True, stream_options={"include_usage": True})
        count = sum([1 async for chunk in stream if chunk.choices and chunk.choices[0].delta.content])
    else:
        client = ModelClient(api_key="bench", base_url=base_url, max_retries=0)
        count = sum([1 async for item in client.stream(model="kchat-demo", messages=messages, tools=None)
                     if isinstance(item, str)])
    spent = time.process_time() - began
    await client.close()
    assert count == chunks, f"{reader} lost chunks"
    return spent


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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:+.2f} ms"


async def first_tokens(
    readers: dict[str, Callable[[int], Awaitable[Run]]], rounds: int, chunks: int
) -> None:
    """Rounds of short answers, the readers taking turns in a rotating order, so load that comes
    and goes on the machine falls on all of them; what kchat adds is taken per round."""
    names = list(readers)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    load_before = os.getloadavg()[0]
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(await readers[name](chunks))
    load_after = os.getloadavg()[0]
    print(f"time to first token, {rounds} rounds of {chunks}-chunk answers (machine load "
          f"{load_before:.1f} -> {load_after:.1f}, {os.cpu_count()} cores; cold: the SDK with a")
    print("  new client per answer; kchat: a new conversation on an open socket, kchat+1: a")
    print("  follow-up question, fresh: a new conversation on a socket opened just before), split")
    print("  at the model server's clock: to the request, the model, the relay")
    print(f"  {'':8s} {'median':>9s} {'p90':>9s} {'= to request':>13s} {'+ model':>9s}"
          f" {'+ relay':>9s}")
    for name, results in runs.items():
        firsts = [run.first for run in results]
        parts = [statistics.median(getattr(run, key) for run in results)
                 for key in ("setup", "model", "relay")]
        print(f"  {name:8s} {statistics.median(firsts) * 1000:6.2f} ms"
              f" {percentile(firsts, 90) * 1000:6.2f} ms {parts[0] * 1000:10.2f} ms"
              f" {parts[1] * 1000:6.2f} ms {parts[2] * 1000:6.2f} ms")
    for baseline, what in (("direct", "a kept client"), ("cold", "a new client per answer")):
        print(f"  added by kchat to the first token of the SDK with {what}, per round"
              " (goal < 2 ms):")
        for name, label in (("kchat", "new conversation"), ("kchat+1", "follow-up"),
                            ("fresh", "on a new socket")):
            pairs = list(zip(runs[name], runs[baseline], strict=True))
            added = [run.first - base.first for run, base in pairs]
            setup = [run.setup - base.setup for run, base in pairs]
            relay = [run.relay - base.relay for run, base in pairs]
            print(f"    {label:17s} median {ms(statistics.median(added))}, p90 "
                  f"{ms(percentile(added, 90))} (to the request {ms(statistics.median(setup))}, "
                  f"relay {ms(statistics.median(relay))})")


async def throughput(
    readers: dict[str, Callable[[int], Awaitable[Run]]], repeat: int, chunks: int
) -> None:
    rates: dict[str, list[float]] = {name: [] for name in ("direct", "kchat", "kchat+1")}
    for _ in range(repeat):
        for name, results in rates.items():
            run = await readers[name](chunks)
            assert run.count == chunks, f"{name} lost chunks"
            results.append(run.rate)
    rate = {name: statistics.median(results) for name, results in rates.items()}
    print(f"throughput of {chunks}-chunk answers, median of {repeat} runs each: direct "
          f"{rate['direct']:,.0f}, kchat {rate['kchat']:,.0f}, kchat+1 {rate['kchat+1']:,.0f}"
          " chunks/s")
    print(f"  ratio kchat/direct = {rate['kchat'] / rate['direct']:.2f}x, follow-up "
          f"{rate['kchat+1'] / rate['direct']:.2f}x (goal >= 1.0x)")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of long answers")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of first-token timing")
    parser.add_argument("--first-chunks", type=int, default=20, help="chunks of those answers")
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
        sdk = AsyncOpenAI(base_url=model_url, api_key="bench", max_retries=0)
        readers: dict[str, Callable[[int], Awaitable[Run]]] = {
            "direct": lambda chunks: direct(model_url, chunks, sdk),
            "cold": lambda chunks: direct(model_url, chunks),
            "kchat": lambda chunks: relayed(ws_url, token, chunks, model_url),
            "kchat+1": lambda chunks: relayed(ws_url, token, chunks, model_url, "follow-up"),
            "fresh": lambda chunks: relayed(ws_url, token, chunks, model_url, "fresh"),
        }
        first = await readers["fresh"](options.first_chunks)
        print(f"the first answer after the server started: first token in "
              f"{first.first * 1000:.1f} ms (to the request {first.setup * 1000:.1f} ms)")
        for read in readers.values():  # warm up: imports, pools, the first card and counts
            await read(100)
        await first_tokens(readers, options.rounds, options.first_chunks)
        await throughput(readers, options.repeat, options.chunks)
        await sdk.close()

        cpu = {reader: statistics.median([await decode_cpu(model_url, options.chunks, reader)
                                          for _ in range(options.repeat)]) for reader in ("sdk", "kchat")}
        print(f"reading one answer in this process, CPU per chunk: openai SDK {cpu['sdk'] / options.chunks * 1e6:.1f} us, "
              f"kchat's ModelClient {cpu['kchat'] / options.chunks * 1e6:.1f} us ({cpu['sdk'] / cpu['kchat']:.1f}x less)")

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
