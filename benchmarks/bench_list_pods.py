"""Benchmark: ``list_pods(all_namespaces=true)`` on a 10,000-pod sample cluster.

Starts the sample cluster's Kubernetes API emulation (in a subprocess by default, so this
process's heap is a client's heap; ``--thread`` serves it from a thread here instead) and, in
one run, measures the best of a few repetitions of:

  (a) raw:           one GET of /api/v1/pods through the official client + ``json.loads``
  (b) tool:          the ``list_pods`` tool end to end (paged GETs, msgspec decode, health
                     rules, rows for the panel, text shaped to the budget)
  (c) client models: ``CoreV1Api.list_pod_for_all_namespaces()`` (the client's model classes)

It prints the ratios tool/raw (goal <= 1.0) and client_models/tool (goal >= 10), the text size
against the budget, and how many of the cluster's unhealthy pods the text names. It exits
non-zero only when something is broken (over budget, unhealthy pods missing without the
grouped note, wrong row count, an error), never because of timing.

    .venv/bin/python benchmarks/bench_list_pods.py [--pods N] [--repeat R] [--thread]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Timing, best_of, ratio, serve
from kubernetes import client as k8s

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.tools import KubeClients, ToolContext
from jupyter_kchat.tools.kube import paused_gc
from jupyter_kchat.tools.pods import list_pods


def fastest(repeat: int, func: Callable[[], Any]) -> Timing:
    """The fastest of ``repeat`` runs of ``func`` alone, and its last result."""
    return best_of(repeat, func)[0]


def unhealthy_keys(pods: int) -> set[tuple[str, str]]:
    """The cluster's unhealthy pods (generation is deterministic by seed), then freed."""
    cluster = SampleCluster(pods=pods, seed=0)
    keys = cluster.unhealthy_pod_keys()
    total = cluster.pod_count
    del cluster
    gc.collect()
    if total != pods:
        print(f"note: the sample cluster generated {total} pods for --pods {pods}")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of (a) and (b)")
    parser.add_argument("--model-repeat", type=int, default=3, help="repetitions of (c)")
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument(
        "--thread", action="store_true", help="serve the emulation from a thread of this process"
    )
    options = parser.parse_args(argv)

    expected = unhealthy_keys(options.pods)
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="kchat-bench-") as tmp,
        serve(options.thread)(Path(tmp), pods=options.pods, seed=0) as served,
    ):
        clients = KubeClients(str(served.kubeconfig), None)
        cluster = clients.cluster()
        ctx = ToolContext(cluster=cluster, budget=options.budget, timeout=120)

        def get_only() -> bytes:
            return cluster.get_raw("/api/v1/pods", timeout=120)

        def raw() -> Any:
            return json.loads(cluster.get_raw("/api/v1/pods", timeout=120))

        def raw_gc_paused() -> Any:
            data = cluster.get_raw("/api/v1/pods", timeout=120)
            with paused_gc():
                return json.loads(data)

        def tool() -> Any:
            return list_pods(ctx, {"all_namespaces": True})

        core = k8s.CoreV1Api(cluster.api_client)

        def models() -> Any:
            return core.list_pod_for_all_namespaces(_request_timeout=300)

        raw()
        tool()
        timing = fastest(options.repeat, get_only)
        t_get, raw_size = timing.wall, len(timing.result)
        timing = fastest(options.repeat, raw)
        t_raw, items = timing.wall, len(timing.result["items"])
        t_raw_paused = fastest(options.repeat, raw_gc_paused).wall
        timing = fastest(options.repeat, tool)
        t_tool, result = timing.wall, timing.result
        timing = fastest(options.model_repeat, models)
        t_models, model_items = timing.wall, len(timing.result.items)
        del timing
        clients.close()

    text = result.text
    named = sum(1 for ns, name in expected if f"{ns}/{name}" in text)
    grouped_note = "counted above but not named" in text
    where = "thread" if options.thread else "subprocess"
    print(f"pods: {items} ({raw_size / 1e6:.1f} MB of JSON), emulation in a {where}")
    print(
        f"(a) raw GET + json.loads          {t_raw:7.3f} s   (the GET alone: {t_get:.3f} s; "
        f"with the GC paused: {t_raw_paused:.3f} s)"
    )
    print(f"(b) list_pods tool, end to end    {t_tool:7.3f} s")
    print(f"(c) client models                 {t_models:7.3f} s")
    print(
        ratio(
            "tool/raw           ",
            t_tool / t_raw,
            f"goal <= 1.0; against raw with the GC paused: {t_tool / t_raw_paused:.2f}",
        )
    )
    print(ratio("client_models/tool ", t_models / t_tool, "goal >= 10", digits=1))
    rows = len(result.data or [])
    print(
        f"text: {len(text)} chars of a {options.budget} budget, truncated={result.truncated}, "
        f"rows={rows}"
    )
    print(f"unhealthy pods named in the text: {named} of {len(expected)} in the cluster")
    if len(text) > options.budget:
        problems.append(f"text is {len(text)} chars, over the {options.budget} budget")
    if named < len(expected) and not grouped_note:
        problems.append(f"{len(expected) - named} unhealthy pods missing without the grouped note")
    if len(result.data or []) != items or model_items != items:
        problems.append(
            f"row counts differ: tool {len(result.data or [])}, raw {items}, models {model_items}"
        )
    for problem in problems:
        print(f"BROKEN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
