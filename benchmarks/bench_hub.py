"""Hub benchmark: N users' kchat servers behind one JupyterHub on this machine, all chatting at once.

Starts the demo model and the sample cluster (each its own process), a JupyterHub with
configurable-http-proxy and SimpleLocalProcessSpawner (one ``jupyterhub-singleuser`` process per
user, each with its own HOME and Jupyter data dir), and N users' servers. Then every user opens
``/user/<name>/ws/chat`` through the proxy with their own API token and, at the same moment,
runs a conversation of several turns (a tool call, a diagnosis, a long streamed answer).

Prints: spawn time, completion rate, p50/p99 time to first event and to ``complete`` per turn,
and memory (RSS) per user server idle and after the load, with the hub's and the proxy's.

    .venv/bin/python benchmarks/bench_hub.py [--users 32] [--pods 200] [--chunks 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hub_support import CHP_INSTALL, Hub, find_chp  # noqa: E402

MIB = 1024 * 1024


def start(args: list[str], ready: str) -> tuple[subprocess.Popen[str], str]:
    """Start a helper process and return once it prints its ready line (which is returned)."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if ready in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, line
    raise SystemExit(f"{args[:4]} exited before it was ready")


def memory(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in bytes, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; with few samples p99 is the slowest, which is what we want."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Turn:
    message: str
    first_event: float | None = None
    complete: float | None = None
    events: int = 0
    error: str | None = None


@dataclass
class Session:
    user: str
    turns: list[Turn] = field(default_factory=list)
    error: str | None = None

    def completed(self, expected: int) -> bool:
        ok = [t for t in self.turns if t.complete is not None and t.error is None]
        return self.error is None and len(ok) == expected


async def converse(hub: Hub, user: str, token: str, messages: list[str], go: asyncio.Event,
                   timeout: float) -> Session:
    """One user's conversation over their own socket; turns start when ``go`` is set."""
    session = Session(user)
    url = hub.user_url(user, "ws/chat", scheme="ws")
    try:
        async with connect(url, additional_headers={"Authorization": f"token {token}"},
                           max_size=None, open_timeout=timeout) as ws:
            await go.wait()
            conversation_id = None
            for message in messages:
                turn = Turn(message)
                session.turns.append(turn)
                began = time.perf_counter()
                await ws.send(json.dumps({"message": message, "conversation_id": conversation_id}))
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                    turn.events += 1
                    if turn.first_event is None:
                        turn.first_event = time.perf_counter() - began
                    if event["type"] == "error":
                        turn.error = event["data"].get("message")
                    if event["type"] == "complete":
                        turn.complete = time.perf_counter() - began
                        conversation_id = event["data"]["conversation_id"]
                        break
    except Exception as exc:  # noqa: BLE001 - a refused socket, a timeout: each counts as a failure
        session.error = f"{type(exc).__name__}: {exc}"
    return session


async def load(hub: Hub, tokens: dict[str, str], messages: list[str], timeout: float) -> tuple[list[Session], float]:
    go = asyncio.Event()
    tasks = [asyncio.create_task(converse(hub, user, token, messages, go, timeout))
             for user, token in tokens.items()]
    began = time.perf_counter()
    go.set()
    sessions = await asyncio.gather(*tasks)
    return sessions, time.perf_counter() - began


def report(sessions: list[Session], expected_turns: int, wall: float) -> None:
    done = [t for s in sessions for t in s.turns if t.complete is not None and t.error is None]
    full = [s for s in sessions if s.completed(expected_turns)]
    total = len(sessions) * expected_turns
    print(f"  conversations completed  {len(full)}/{len(sessions)} "
          f"({100 * len(full) / len(sessions):.1f} %), turns {len(done)}/{total} "
          f"({100 * len(done) / total:.1f} %), wall {wall:.1f} s")
    by_message: dict[str, list[Turn]] = {}
    for turn in done:
        by_message.setdefault(turn.message, []).append(turn)
    print(f"  {'turn':34} {'n':>4} {'first event p50/p99 ms':>24} "
          f"{'complete p50/p99 ms':>22} {'events':>7}")
    for message, group in by_message.items():
        first = [t.first_event * 1000 for t in group if t.first_event is not None]
        complete = [t.complete * 1000 for t in group if t.complete is not None]
        print(f"  {message[:34]:34} {len(group):>4} "
              f"{statistics.median(first):>11.1f} / {percentile(first, 99):>9.1f} "
              f"{statistics.median(complete):>11.1f} / {percentile(complete, 99):>8.1f} "
              f"{statistics.median(t.events for t in group):>7.0f}")
    failures = [(s.user, "(socket)", s.error) for s in sessions if s.error] + [
        (s.user, t.message, t.error or "no complete")
        for s in sessions for t in s.turns if t.error or t.complete is None
    ]
    for user, message, error in failures[:5]:
        print(f"  FAILED {user}: {message!r}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=32, help="user servers behind the hub")
    parser.add_argument("--pods", type=int, default=200, help="pods in the sample cluster")
    parser.add_argument("--chunks", type=int, default=400, help="chunks of the streamed answer")
    parser.add_argument("--timeout", type=float, default=180.0, help="per event and per spawn, s")
    args = parser.parse_args()

    chp = find_chp()
    if chp is None:
        raise SystemExit(f"configurable-http-proxy is missing: run `{CHP_INSTALL}`")
    messages = ["list all pods", "why is payments-api crashlooping?", f"stream {args.chunks} chunks"]

    with tempfile.TemporaryDirectory(prefix="kchat-bench-hub-") as tmp:
        root = Path(tmp)
        kubeconfig = root / "kubeconfig.yaml"
        model, model_line = start([sys.executable, "-m", "jupyter_kchat.sample_model", "--port", "0"],
                                  "kchat demo model:")
        cluster, _ = start([sys.executable, "-m", "jupyter_kchat.sample_cluster", "--pods", str(args.pods),
                            "--port", "0", "--kubeconfig", str(kubeconfig)], "kchat sample cluster:")
        model_url = model_line.split("kchat demo model:", 1)[1].split()[0]
        users = [f"user{i:03d}" for i in range(args.users)]
        hub = Hub(
            root / "hub",
            users=users,
            chp=chp,
            server_env={"OPENAI_BASE_URL": model_url, "OPENAI_API_KEY": "bench"},
            server_config={"KChat": {"model": "kchat-demo", "kubeconfig": str(kubeconfig)}},
        )
        try:
            hub.start()
            began = time.perf_counter()
            for user in users:
                hub.request_spawn(user)
            for user in users:
                hub.wait_ready(user, timeout=args.timeout)
            spawn = time.perf_counter() - began
            pids = {user: hub.server_pid(user) for user in users}
            tokens = {user: hub.token_for(user) for user in users}
            idle = {user: memory(pid)[0] for user, pid in pids.items()}

            sessions, wall = asyncio.run(load(hub, tokens, messages, args.timeout))

            after = {user: memory(pid) for user, pid in pids.items()}
            hub_rss = memory(hub.process.pid)[0] if hub.process else 0
            proxy_rss = memory(int((hub.root / "proxy.pid").read_text()))[0]
        finally:
            hub.stop()
            for process in (model, cluster):
                process.terminate()
                process.wait(30)

    print(f"kchat on JupyterHub: {args.users} users, one single-user server each, "
          f"{len(messages)} turns per conversation, all at once ({args.pods} sample pods)")
    print(f"  spawned {args.users} servers in {spawn:.1f} s")
    report(sessions, len(messages), wall)
    idle_mib = [v / MIB for v in idle.values()]
    rss_mib = [v[0] / MIB for v in after.values()]
    peak_mib = [v[1] / MIB for v in after.values()]
    print(f"  RSS per user server (MiB)  idle mean {statistics.mean(idle_mib):.0f} max {max(idle_mib):.0f}; "
          f"after load mean {statistics.mean(rss_mib):.0f} max {max(rss_mib):.0f}; "
          f"peak max {max(peak_mib):.0f}")
    print(f"  hub RSS {hub_rss / MIB:.0f} MiB, proxy RSS {proxy_rss / MIB:.0f} MiB")


if __name__ == "__main__":
    main()
