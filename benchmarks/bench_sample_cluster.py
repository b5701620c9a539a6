"""Benchmark: generating the sample cluster at the sizes tests and benchmarks use.

In one run, the best of a few repetitions of each, against a baseline measured alongside:

  (a) decode:   ``json.loads`` of the generated objects (what merely building these dicts costs)
  (b) pods:     ``SampleCluster(pods=10_000)``
  (c) broken:   ``SampleCluster(pods=10_000, broken=250)``
  (d) extra:    ``SampleCluster(pods=60, extra={certificates: 10_000, configmaps: 10_000})``
                minus the plain 60-pod cluster, against decoding those 20,000 objects

It prints each time and its ratio to its decode baseline, and exits non-zero only when the
counts are wrong (pods, broken pods, filler objects), never because of timing.

    .venv/bin/python benchmarks/bench_sample_cluster.py [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_kchat.sample.cluster import HEALTHY, NODE_LOST, SampleCluster  # noqa: E402

EXTRA = {"certificates.cert-manager.io": 10_000, "configmaps": 10_000}


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds, garbage collection paused) and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        result = None
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            result = func()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best, result


def objects_of(cluster: SampleCluster, kinds: list[str] | None = None) -> bytes:
    """The cluster's objects (of ``kinds``, or all) serialized as one JSON document."""
    chosen = kinds or list(cluster.objects)
    return orjson.dumps({k: list(cluster.objects[k].values()) for k in chosen})


def broken_pods(cluster: SampleCluster) -> int:
    return sum(
        1
        for key in cluster.objects["pods"]
        if cluster.profile_of_pod(*key) not in (HEALTHY, NODE_LOST)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    failures: list[str] = []

    t_pods, cluster = best_of(args.repeat, lambda: SampleCluster(pods=10_000))
    document = objects_of(cluster)
    t_decode, _ = best_of(args.repeat, lambda: json.loads(document))
    total = sum(len(v) for v in cluster.objects.values())
    print(
        f"pods=10000: {total:,} objects in {t_pods:.2f}s; decode {t_decode:.2f}s; "
        f"ratio {t_pods / t_decode:.1f}x"
    )
    if not 9_900 <= cluster.pod_count <= 10_100:
        failures.append(f"pods=10000 gave {cluster.pod_count} pods")

    t_broken, broken = best_of(args.repeat, lambda: SampleCluster(pods=10_000, broken=250))
    count = broken_pods(broken)
    print(
        f"pods=10000 broken=250: {count} broken pods in {t_broken:.2f}s; "
        f"ratio to pods=10000 {t_broken / t_pods:.2f}x, to decode {t_broken / t_decode:.1f}x"
    )
    if count != 250:
        failures.append(f"broken=250 gave {count} broken pods")

    t_plain, plain = best_of(args.repeat, lambda: SampleCluster(pods=60))
    t_extra, extra = best_of(args.repeat, lambda: SampleCluster(pods=60, extra=EXTRA))
    fillers = orjson.dumps(
        {
            kind: [
                obj for key, obj in extra.objects[kind].items() if key not in plain.objects[kind]
            ]
            for kind in EXTRA
        }
    )
    t_fill_decode, decoded = best_of(args.repeat, lambda: json.loads(fillers))
    made = sum(len(v) for v in decoded.values())
    spent = t_extra - t_plain
    print(
        f"extra: {made:,} filler objects in {spent:.2f}s; decode {t_fill_decode:.2f}s; "
        f"ratio {spent / t_fill_decode:.1f}x"
    )
    if made != sum(EXTRA.values()):
        failures.append(f"extra made {made} objects, not {sum(EXTRA.values())}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
