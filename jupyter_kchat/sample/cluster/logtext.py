"""Log text: what each kind of app prints, generated per container instance from the seed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .catalog import BEARER_TOKEN, DB_PASSWORD, PAYMENTS_PANIC
from .common import CRASHLOOP, OOM, OOM_CRASHLOOP, Obj, parse_rfc3339

if TYPE_CHECKING:
    from . import SampleCluster


def generate_log(
    cluster: SampleCluster, pod: Obj, status: Obj, previous: bool
) -> list[tuple[float, str]]:
    """Log lines for one container instance, in the style of the app it runs."""
    meta = pod["metadata"]
    name = status["name"]
    rng = random.Random(f"{cluster.seed}/{meta['namespace']}/{meta['name']}/{name}/{previous}")
    profile = cluster.profile_of_pod(meta["namespace"], meta["name"])
    wl = cluster.workload_of_pod(meta["namespace"], meta["name"])
    style = "http"
    if wl is not None:
        style = next(
            (c.log_style for c in wl.containers + wl.init_containers if c.name == name), "http"
        )
    term = status["lastState"].get("terminated") if previous else None
    running = status["state"].get("running")
    if term:
        start, end = parse_rfc3339(term["startedAt"]), parse_rfc3339(term["finishedAt"])
        if status["state"].get("waiting"):
            # The current instance is the last one that died; --previous is the one before it.
            start, end = start - 300, end - 300
    elif status["state"].get("terminated"):
        t = status["state"]["terminated"]
        start, end = parse_rfc3339(t["startedAt"]), parse_rfc3339(t["finishedAt"])
    elif running:
        start, end = parse_rfc3339(running["startedAt"]), cluster.now
    else:
        last = status["lastState"]["terminated"]
        start, end = parse_rfc3339(last["startedAt"]), parse_rfc3339(last["finishedAt"])
    is_main = name == pod["spec"]["containers"][0]["name"]
    if style == "payments":
        return _payments_log(rng, start, end)
    if style == "trainer" or (profile in (OOM, OOM_CRASHLOOP) and is_main):
        killed = term is not None or bool(status["state"].get("waiting"))
        return _trainer_log(rng, start, end, killed)
    if is_main and profile == CRASHLOOP:
        return _crash_log(rng, start, end, meta["name"])
    if (
        status["state"].get("terminated")
        and status["state"]["terminated"].get("reason") == "Completed"
    ):
        return [(start, "changing ownership of /var/lib/postgresql"), (start + 0.4, "done")]
    span = min(end - start, 6 * 3600)
    count = rng.randint(200, 400)
    first = end - span
    times = sorted(first + rng.random() * span for _ in range(count))
    make = _LINE_MAKERS.get(style, _http_line)
    lines = [(first, _banner(style, meta["name"], name))]
    lines += [(t, make(rng, t)) for t in times]
    if term is not None:
        lines.append((end, "received signal terminated, shutting down"))
    return lines


def _iso_ms(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _level(rng: random.Random) -> str:
    r = rng.random()
    return "ERROR" if r < 0.04 else "WARN" if r < 0.14 else "INFO"


PATHS = (
    "/api/v1/items",
    "/api/v1/orders",
    "/api/v1/users/me",
    "/healthz",
    "/metrics",
    "/api/v1/search",
    "/api/v1/cart",
    "/readyz",
)
UPSTREAMS = ("cart.shop", "postgres.data", "redis.data", "auth.default", "search.shop")


def _http_line(rng: random.Random, t: float) -> str:
    level = _level(rng)
    path = rng.choice(PATHS)
    if level == "ERROR":
        return (
            f"{_iso_ms(t)} ERROR request failed method=POST path={path} status=500 "
            f'error="upstream {rng.choice(UPSTREAMS)}: context deadline exceeded"'
        )
    if level == "WARN":
        took = rng.randint(900, 4000)
        return (
            f"{_iso_ms(t)} WARN  slow request method=GET path={path} status=200 duration={took}ms"
        )
    method = rng.choice(("GET", "GET", "GET", "POST", "PUT"))
    took = rng.randint(1, 120)
    return (
        f"{_iso_ms(t)} INFO  http request method={method} path={path} status=200 duration={took}ms"
    )


def _worker_line(rng: random.Random, t: float) -> str:
    level = _level(rng)
    job = f"{rng.getrandbits(32):08x}"
    if level == "ERROR":
        attempt = rng.randint(1, 3)
        return f'{_iso_ms(t)} ERROR job failed id={job} attempt={attempt} error="lock timeout"'
    if level == "WARN":
        return (
            f"{_iso_ms(t)} WARN  job retried id={job} queue=default backoff={rng.randint(1, 30)}s"
        )
    return f"{_iso_ms(t)} INFO  job done id={job} queue=default duration={rng.randint(5, 9000)}ms"


def _nginx_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
    status = rng.choice((200, 200, 200, 200, 304, 404, 499, 502))
    path = rng.choice(("/", "/index.html", "/static/app.js", "/favicon.ico", "/healthz"))
    agent = rng.choice(("kube-probe/1.30", "Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0"))
    return (
        f'10.244.{rng.randint(0, 9)}.{rng.randint(2, 250)} - - [{stamp}] "GET {path} HTTP/1.1" '
        f'{status} {rng.randint(0, 40000)} "-" "{agent}"'
    )


def _dns_line(rng: random.Random, t: float) -> str:
    host = rng.choice(
        (
            "cart.shop",
            "postgres.data",
            "payments-api.payments",
            "api.github.com",
            "grafana.monitoring",
        )
    )
    code = "NXDOMAIN" if rng.random() < 0.1 else "NOERROR"
    return (
        f"[INFO] 10.244.{rng.randint(0, 9)}.{rng.randint(2, 250)}:{rng.randint(30000, 60000)} - "
        f'{rng.randint(1, 65535)} "A IN {host}.svc.cluster.local. udp 58 false 512" {code} '
        f"qr,aa,rd 110 0.000{rng.randint(100, 999)}s"
    )


def _klog_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%m%d %H:%M:%S", time.gmtime(t)) + f".{rng.randint(0, 999999):06d}"
    level = _level(rng)
    letter = level[0]
    msg = {
        "INFO": rng.choice(
            (
                '"Successfully synced" key="kube-system/coredns"',
                '"Updating rules" ipv4=true',
                '"Scraped metrics" nodes=4',
            )
        ),
        "WARN": '"Failed to scrape node, timeout to access kubelet" node="node-3"',
        "ERROR": '"Unhandled Error" err="dial tcp 172.20.0.7:10250: connect: no route to host"',
    }[level]
    return f"{letter}{stamp}       1 controller.go:{rng.randint(100, 400)}] {msg}"


def _promlog_line(rng: random.Random, t: float) -> str:
    level = _level(rng).lower().replace("warn", "warn")
    msg = {
        "info": rng.choice(
            (
                '"Completed loading of configuration file"',
                '"Head GC completed" duration=41.2ms',
                '"WAL checkpoint complete"',
            )
        ),
        "warn": '"Error on ingesting out-of-order samples" num_dropped=3',
        "error": '"Scrape failed" err="context deadline exceeded" target=http://172.20.0.7:9100/metrics',
    }[level]
    return f"ts={_iso_ms(t)} caller=main.go:{rng.randint(500, 1500)} level={level} msg={msg}"


def _postgres_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{rng.randint(0, 999):03d} UTC"
    level = _level(rng)
    msg = {
        "INFO": rng.choice(
            (
                "LOG:  checkpoint starting: time",
                "LOG:  checkpoint complete: wrote 312 buffers (1.9%)",
                'LOG:  automatic vacuum of table "shop.public.orders"',
            )
        ),
        "WARN": "WARNING:  there is no transaction in progress",
        "ERROR": 'ERROR:  duplicate key value violates unique constraint "orders_pkey"',
    }[level]
    return f"{stamp} [{rng.randint(60, 9000)}] {msg}"


def _fluentbit_line(rng: random.Random, t: float) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))
    level = _level(rng)
    msg = {
        "INFO": "[ info] [output:forward:forward.0] flushed 128 records",
        "WARN": "[ warn] [engine] failed to flush chunk, retry in 8 seconds",
        "ERROR": "[error] [output:forward:forward.0] no upstream connections available",
    }[level]
    return f"[{stamp}] {msg}"


_LINE_MAKERS: dict[str, Callable[[random.Random, float], str]] = {
    "http": _http_line,
    "worker": _worker_line,
    "nginx": _nginx_line,
    "dns": _dns_line,
    "klog": _klog_line,
    "promlog": _promlog_line,
    "postgres": _postgres_line,
    "fluentbit": _fluentbit_line,
}


def _banner(style: str, pod: str, container: str) -> str:
    return {
        "nginx": "/docker-entrypoint.sh: Configuration complete; ready for start up",
        "dns": ".:53\n[INFO] plugin/reload: Running configuration SHA512 = 591cf328",
        "postgres": "LOG:  database system is ready to accept connections",
    }.get(style, f"starting {container} pod={pod}")


def _payments_log(rng: random.Random, start: float, end: float) -> list[tuple[float, str]]:
    """payments-api's start-up: leaks a password and a bearer token, then panics."""
    t = start
    out: list[tuple[float, str]] = []

    def add(text: str, step: float = 0.01) -> None:
        nonlocal t
        t = min(t + step, end)
        out.append((t, text))

    add(f"{_iso_ms(t)} INFO  starting payments-api version=1.9.0 commit=4f2a9c1 go=go1.22.5")
    add(f"{_iso_ms(t)} INFO  loading config from /etc/payments/config.yaml")
    add(
        f"{_iso_ms(t)} DEBUG env DATABASE_URL=postgres://payments:S3cr3tP4ss@postgres.data:5432/payments"
    )
    add(
        f"{_iso_ms(t)} INFO  connecting to database host=postgres.data port=5432 "
        "user=payments db=payments"
    )
    add(f"{_iso_ms(t)} DEBUG connecting with password={DB_PASSWORD}")
    add(f"{_iso_ms(t)} DEBUG stripe client configured: Authorization: Bearer {BEARER_TOKEN}")
    for attempt in range(1, 6):
        add(
            f"{_iso_ms(t)} WARN  database not reachable, retrying in {attempt}s "
            f'(attempt {attempt}/5) error="dial tcp 10.0.3.7:5432: connect: connection refused"',
            step=attempt * 0.2,
        )
    add(f"{_iso_ms(t)} ERROR giving up on database after 5 attempts")
    add(PAYMENTS_PANIC)
    del rng
    return out


def _crash_log(rng: random.Random, start: float, end: float, pod: str) -> list[tuple[float, str]]:
    reason = rng.choice(
        (
            (
                "panic: runtime error: invalid memory address or nil pointer dereference",
                "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x9f3c2e]",
            ),
            ('Error: required environment variable "API_KEY" is not set', ""),
            ("Error: open /etc/app/config.yaml: no such file or directory", ""),
        )
    )
    out = [
        (start, f"{_iso_ms(start)} INFO  starting pod={pod}"),
        (start + 0.3, f"{_iso_ms(start + 0.3)} INFO  loading configuration"),
    ]
    out.append((end, reason[0]))
    if reason[1]:
        out.append((end, reason[1]))
    return out


def _trainer_log(
    rng: random.Random, start: float, end: float, killed: bool
) -> list[tuple[float, str]]:
    """Training progress with growing memory; an OOM-killed run just stops mid-epoch."""
    out = [
        (start, f"{_iso_ms(start)} INFO  loading dataset shards=128 batch_size=256"),
        (
            start + 4,
            f"{_iso_ms(start + 4)} INFO  resuming from checkpoint s3://ml-checkpoints/trainer/step-1200",
        ),
    ]
    steps = rng.randint(150, 300)
    loss = 2.3
    span = max(end - start - 10, 10)
    for i in range(steps):
        t = start + 10 + span * i / steps
        loss *= 0.995
        mem = 9.0 + 6.8 * i / steps
        level = "WARN " if mem > 15.0 else "INFO "
        out.append(
            (
                t,
                (
                    f"{_iso_ms(t)} {level} epoch={1 + i // 60} step={1200 + i * 10} "
                    f"loss={loss:.4f} lr=3.0e-04 rss={mem:.1f}GiB"
                ),
            )
        )
    if not killed:
        out.append((end, f"{_iso_ms(end)} INFO  checkpoint saved step={1200 + steps * 10}"))
    return out
