"""Hub benchmark: N users' kchat servers behind one JupyterHub on this machine, all chatting at once.

Starts the demo model and the sample cluster (each its own process), a JupyterHub with
configurable-http-proxy and SimpleLocalProcessSpawner (one ``jupyterhub-singleuser`` process per
user, each with its own HOME and Jupyter data dir), and N users' servers. Then every user opens
``/user/<name>/ws/chat`` through the proxy with their own API token and, at the same moment,
runs a conversation of several turns (a tool call, a diagnosis, a long streamed answer).

Baselines from the same run: the same conversation by one user alone (latency ratios under load)
and one more user whose server runs without kchat (what kchat adds to a user server's memory).

Prints: spawn time, completion rate, p50/p99 time to first event and to ``complete`` per turn
with their ratio to the lone user, and memory (RSS) per user server idle and after the load,
with the hub's and the proxy's.

    .venv/bin/python benchmarks/bench_hub.py [--users 24] [--pods 200] [--chunks 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hub_support import CHP_INSTALL, Hub, find_chp  # noqa: E402
from processes import Service  # noqa: E402

MIB = 1024 * 1024


def memory(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in bytes, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def progress(message: str) -> None:
    """Where the run is, on stderr, so a slow stage is visible while it runs."""
    print(f"  ... {message}", file=sys.stderr, flush=True)


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


def by_message(sessions: list[Session]) -> dict[str, list[Turn]]:
    grouped: dict[str, list[Turn]] = {}
    for session in sessions:
        for turn in session.turns:
            if turn.complete is not None and turn.error is None:
                grouped.setdefault(turn.message, []).append(turn)
    return grouped


def report(sessions: list[Session], expected_turns: int, wall: float, solo: list[Session]) -> None:
    """Completion, then per turn: latency under load, and its ratio to one user alone."""
    done = [t for s in sessions for t in s.turns if t.complete is not None and t.error is None]
    full = [s for s in sessions if s.completed(expected_turns)]
    total = len(sessions) * expected_turns
    print(f"  conversations completed  {len(full)}/{len(sessions)} "
          f"({100 * len(full) / len(sessions):.1f} %), turns {len(done)}/{total} "
          f"({100 * len(done) / total:.1f} %), wall {wall:.1f} s")
    alone = by_message(solo)
    print(f"  {'turn':34} {'n':>4} {'first event p50/p99 ms':>24} {'alone p50':>10} {'ratio':>6} "
          f"{'complete p50/p99 ms':>22} {'alone p50':>10} {'ratio':>6}")
    for message, group in by_message(sessions).items():
        first = [t.first_event * 1000 for t in group if t.first_event is not None]
        complete = [t.complete * 1000 for t in group if t.complete is not None]
        solo_first = statistics.median(t.first_event * 1000 for t in alone[message] if t.first_event)
        solo_complete = statistics.median(t.complete * 1000 for t in alone[message] if t.complete)
        print(f"  {message[:34]:34} {len(group):>4} "
              f"{statistics.median(first):>11.1f} / {percentile(first, 99):>9.1f} "
              f"{solo_first:>10.1f} {statistics.median(first) / solo_first:>5.1f}x "
              f"{statistics.median(complete):>11.1f} / {percentile(complete, 99):>8.1f} "
              f"{solo_complete:>10.1f} {statistics.median(complete) / solo_complete:>5.1f}x")
    failures = [(s.user, "(socket)", s.error) for s in sessions if s.error] + [
        (s.user, t.message, t.error or "no complete")
        for s in sessions for t in s.turns if t.error or t.complete is None
    ]
    for user, message, error in failures[:5]:
        print(f"  FAILED {user}: {message!r}: {error}")


BASELINE_USER = "nokchat"
"""A user whose server runs without kchat: what every user server costs before kchat."""


def mean_mib(values: list[int]) -> float:
    return statistics.mean(values) / MIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=24, help="user servers behind the hub")
    parser.add_argument("--pods", type=int, default=200, help="pods in the sample cluster")
    parser.add_argument("--chunks", type=int, default=400, help="chunks of the streamed answer")
    parser.add_argument("--solo-runs", type=int, default=3, help="baseline: one user alone, runs")
    parser.add_argument("--timeout", type=float, default=180.0, help="per event and per spawn, s")
    args = parser.parse_args()

    chp = find_chp()
    if chp is None:
        raise SystemExit(f"configurable-http-proxy is missing: run `{CHP_INSTALL}`")
    messages = ["list all pods", "why is payments-api crashlooping?", f"stream {args.chunks} chunks"]

    with tempfile.TemporaryDirectory(prefix="kchat-bench-hub-") as tmp:
        root = Path(tmp)
        kubeconfig = root / "kubeconfig.yaml"
        env = dict(os.environ)
        model = Service([sys.executable, "-u", "-m", "jupyter_kchat.sample_model", "--port", "0"],
                        "kchat demo model:", root / "model.log", env)
        cluster = Service([sys.executable, "-u", "-m", "jupyter_kchat.sample_cluster", "--pods", str(args.pods),
                           "--port", "0", "--kubeconfig", str(kubeconfig)], "kchat sample cluster:",
                          root / "cluster.log", env)
        model_url = model.line.split("kchat demo model:", 1)[1].split()[0]
        users = [f"user{i:03d}" for i in range(args.users)]
        hub = Hub(
            root / "hub",
            users=[*users, BASELINE_USER],
            chp=chp,
            server_env={"OPENAI_BASE_URL": model_url, "OPENAI_API_KEY": "bench"},
            server_config={"KChat": {"model": "kchat-demo", "kubeconfig": str(kubeconfig)}},
            user_extensions={BASELINE_USER: {"jupyter_kchat": False}},
        )
        try:
            hub.start()
            began = time.perf_counter()
            # The hub answers a spawn request only when the server is up or after 10 s, so ask
            # for all of them at once, as users arriving together would.
            with ThreadPoolExecutor(16) as requests:
                list(requests.map(hub.request_spawn, [*users, BASELINE_USER]))
            for ready, user in enumerate([*users, BASELINE_USER], 1):
                hub.wait_ready(user, timeout=args.timeout)
                progress(f"{ready}/{len(users) + 1} servers ready after {time.perf_counter() - began:.1f} s")
            spawn = time.perf_counter() - began
            pids = {user: hub.server_pid(user) for user in users}
            tokens = {user: hub.token_for(user) for user in users}
            baseline_idle = memory(hub.server_pid(BASELINE_USER))[0]
            idle = [memory(pid)[0] for pid in pids.values()]

            progress(f"baseline: {users[0]} alone, {args.solo_runs} conversations")
            solo: list[Session] = []
            for _ in range(args.solo_runs):
                solo.extend(asyncio.run(load(hub, {users[0]: tokens[users[0]]}, messages, args.timeout))[0])
            progress("all users chatting")
            sessions, wall = asyncio.run(load(hub, tokens, messages, args.timeout))
            progress(f"load done in {wall:.1f} s; stopping the hub")

            after = [memory(pid) for pid in pids.values()]
            hub_rss = memory(hub.process.pid)[0] if hub.process else 0
            proxy_rss = memory(int((hub.root / "proxy.pid").read_text()))[0]
        finally:
            hub.stop()
            for service in (model, cluster):
                service.stop()

    print(f"kchat on JupyterHub: {args.users} users, one single-user server each, "
          f"{len(messages)} turns per conversation, all at once ({args.pods} sample pods)")
    print(f"  spawned {args.users + 1} servers in {spawn:.1f} s")
    report(sessions, len(messages), wall, solo)
    kchat_idle = statistics.mean(idle) - baseline_idle
    print(f"  RSS per user server (MiB): without kchat {baseline_idle / MIB:.0f}; with kchat idle "
          f"{mean_mib(idle):.0f} (kchat adds {kchat_idle / MIB:.0f}, "
          f"{statistics.mean(idle) / baseline_idle:.2f}x); after the load mean "
          f"{mean_mib([rss for rss, _ in after]):.0f} max {max(rss for rss, _ in after) / MIB:.0f}, "
          f"peak {max(peak for _, peak in after) / MIB:.0f}")
    print(f"  hub RSS {hub_rss / MIB:.0f} MiB, proxy RSS {proxy_rss / MIB:.0f} MiB")


if __name__ == "__main__":
    main()
