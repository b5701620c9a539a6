"""Benchmark: ``diagnose_cluster`` on a 10,000-pod sample cluster with 250 broken pods.

Serves the sample cluster's API emulation from a subprocess (so the emulation's work does not
share this process's interpreter) and, in one run, measures the best of a few repetitions of:

  (a) raw:        a GET + ``json.loads`` of every list diagnose reads (pods, workloads, Jobs,
                  CronJobs, claims, Services, endpoints, Ingresses, HPAs, PDBs, Warning events,
                  nodes, classes, each custom resource kind), one after another
  (b) tool:       the ``diagnose_cluster`` tool end to end (parallel paged reads, msgspec
                  decode, every analyzer, the crashed containers' logs, text fitted to the budget)
  (c) sequential: the tool with one reader instead of a pool, to show what parallel reads buy

It prints tool/raw (goal <= 1.0) and sequential/tool, the text size against the budget, and
how many of the broken workloads the text names. It exits non-zero only when something is
broken (over budget, a broken workload not named, an error), never because of timing.

    .venv/bin/python benchmarks/bench_diagnose.py [--pods N] [--broken B] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import best_of, ratio, serve_in_subprocess

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.tools import KubeClients, ToolContext
from jupyter_kchat.tools.diagnose import diagnose_cluster, observe
from jupyter_kchat.tools.discovery import discovery

BROKEN_PROFILES = ("crashloop", "imagepull", "pending", "oom", "oom-crashloop", "evicted")
"""Pod profiles of the sample cluster that are broken by themselves (not by their node)."""


def fastest(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs of ``func`` alone (seconds), and its last result."""
    timing = best_of(repeat, func)[0]
    return timing.wall, timing.result


def broken_workloads(pods: int, broken: int) -> set[str]:
    """``ns/name`` of every workload with a pod broken by itself (generation is by seed)."""
    cluster = SampleCluster(pods=pods, seed=0, broken=broken if broken >= 0 else None)
    found: set[str] = set()
    for namespace, name in cluster.unhealthy_pod_keys():
        if cluster.profile_of_pod(namespace, name) not in BROKEN_PROFILES:
            continue
        workload = cluster.workload_of_pod(namespace, name)
        found.add(f"{namespace}/{workload.name if workload else name}")
    return found


def raw_paths(ctx: ToolContext) -> list[str]:
    """The list paths diagnose reads, as one GET each (custom kinds from discovery)."""
    paths = [s.path(None) for s in (*observe.NAMESPACED, *observe.CLUSTER)]
    paths.append("/api/v1/events?fieldSelector=type%3DWarning")
    for kind in discovery(ctx.cluster).kinds(ctx.timeout):
        if kind.group not in observe.BUILTIN_GROUPS and "list" in kind.verbs and kind.has_status:
            paths.append(kind.path())
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument(
        "--broken", type=int, default=250, help="broken pods (-1: the cluster's own mix)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.03,
        help="seconds added to each answer for the remote-server round (default 0.03)",
    )
    options = parser.parse_args(argv)

    expected = broken_workloads(options.pods, options.broken)
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="kchat-bench-") as tmp,
        serve_in_subprocess(
            Path(tmp),
            pods=options.pods,
            seed=0,
            broken=options.broken if options.broken >= 0 else None,
        ) as served,
    ):
        clients = KubeClients(str(served.kubeconfig), None)
        cluster = clients.cluster()
        ctx = ToolContext(cluster=cluster, budget=options.budget, timeout=120)
        paths = raw_paths(ctx)

        def raw() -> int:
            return sum(
                len(json.loads(cluster.get_raw(path, timeout=120))["items"]) for path in paths
            )

        def tool() -> Any:
            return diagnose_cluster(ctx, {})

        def sequential() -> Any:
            readers = observe.READERS
            observe.READERS = 1
            try:
                return diagnose_cluster(ctx, {})
            finally:
                observe.READERS = readers

        raw()
        tool()
        t_raw, objects = fastest(options.repeat, raw)
        t_tool, result = fastest(options.repeat, tool)
        t_seq, _ = fastest(options.repeat, sequential)
        served.latency(options.latency)
        far_raw, _ = fastest(options.repeat, raw)
        far_tool, _ = fastest(options.repeat, tool)
        far_seq, _ = fastest(options.repeat, sequential)
        clients.close()

    text = result.text
    named = sorted(key for key in expected if key in text)
    missing = sorted(expected - set(named))
    print(f"lists read: {len(paths)} ({objects} objects), emulation in a subprocess")
    print(f"(a) raw GETs + json.loads, one by one   {t_raw:7.3f} s")
    print(f"(b) diagnose_cluster, end to end        {t_tool:7.3f} s")
    print(f"(c) diagnose_cluster with one reader    {t_seq:7.3f} s")
    print(ratio("tool/raw         ", t_tool / t_raw, "goal <= 1.0"))
    print(ratio("sequential/tool  ", t_seq / t_tool, "what the parallel reads buy"))
    print(f"with {options.latency * 1000:.0f} ms per answer (a remote API server):")
    print(
        f"(a) raw {far_raw:7.3f} s   (b) tool {far_tool:7.3f} s   (c) one reader {far_seq:7.3f} s"
    )
    print(
        ratio("tool/raw         ", far_tool / far_raw)
        + ratio("   sequential/tool ", far_seq / far_tool)
    )
    print(
        f"text: {len(text)} chars of a {options.budget} budget, truncated={result.truncated}, "
        f"findings={len(result.data or [])}"
    )
    print(f"broken workloads named in the text: {len(named)} of {len(expected)}")
    if len(text) > options.budget:
        problems.append(f"text is {len(text)} chars, over the {options.budget} budget")
    if missing:
        problems.append(f"broken workloads not named: {', '.join(missing[:20])}")
    for problem in problems:
        print(f"BROKEN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
