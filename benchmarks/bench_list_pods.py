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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubernetes import client as k8s  # noqa: E402

from jupyter_kchat.sample.cluster import SampleCluster  # noqa: E402
from jupyter_kchat.sample.kube_api import KubeAPIServer  # noqa: E402
from jupyter_kchat.tools import KubeClients, ToolContext  # noqa: E402
from jupyter_kchat.tools.kube import paused_gc  # noqa: E402
from jupyter_kchat.tools.pods import list_pods  # noqa: E402

BANNER = "kchat sample cluster: "


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        result = None
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


@contextmanager
def serve_in_subprocess(pods: int, workdir: Path) -> Iterator[Path]:
    kubeconfig = workdir / "kubeconfig.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_kchat.sample_cluster",
            "--pods",
            str(pods),
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(BANNER):
            raise RuntimeError(f"the sample cluster did not start: {line!r}")
        yield kubeconfig
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def serve_in_thread(pods: int, workdir: Path) -> Iterator[Path]:
    api = KubeAPIServer(SampleCluster(pods=pods, seed=0))
    with api.run_in_thread():
        yield api.write_kubeconfig(workdir / "kubeconfig.yaml")


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
    serve = serve_in_thread if options.thread else serve_in_subprocess
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="kchat-bench-") as tmp,
        serve(options.pods, Path(tmp)) as kubeconfig,
    ):
        clients = KubeClients(str(kubeconfig), None)
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
        t_get, body = best_of(options.repeat, get_only)
        raw_size = len(body)
        del body
        t_raw, parsed = best_of(options.repeat, raw)
        items = len(parsed["items"])
        del parsed
        t_raw_paused, parsed = best_of(options.repeat, raw_gc_paused)
        del parsed
        t_tool, result = best_of(options.repeat, tool)
        t_models, listed = best_of(options.model_repeat, models)
        model_items = len(listed.items)
        del listed
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
        f"tool/raw           {t_tool / t_raw:6.2f}   (goal <= 1.0; against raw with the GC "
        f"paused: {t_tool / t_raw_paused:.2f})"
    )
    print(f"client_models/tool {t_models / t_tool:6.1f}   (goal >= 10)")
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
