"""Benchmark: ``list_resources(all_namespaces=true)`` on 10,000 objects of a CRD and of a built-in.

Serves a sample cluster with 10,000 filler Certificates (cert-manager's CRD, about 2% not
ready) and 10,000 filler ConfigMaps (in a subprocess by default, so this process's heap is a
client's heap; ``--thread`` serves it from a thread here) and, per kind, measures in the same
run the best of a few repetitions (taking turns, so all three see the same load) of:

  (a) raw:  one GET of the whole list (plain JSON) through the official client + ``json.loads``
  (b) tool: ``list_resources`` end to end (discovery, the server's Table paged, msgspec decode,
            health rules, Warning events of the unhealthy ones, rows, text fitted to the budget)
  (c) table: the same Table pages fetched and decoded, nothing else: the server's printing,
            so (b) - (c) is kchat's own work

It prints tool/raw (goal <= 1.0) and tool/table, the text size against the budget and how many
unhealthy objects the text names. It exits non-zero only when something is broken (over budget, an
unhealthy object missing, wrong row count), never because of timing.

    .venv/bin/python benchmarks/bench_list_resources.py [--objects N] [--repeat R] [--thread]
"""

from __future__ import annotations

import argparse
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

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext
from jupyter_kchat.tools.discovery import resolve_kind
from jupyter_kchat.tools.resources import list_resources
from jupyter_kchat.tools.table import read_table

KINDS = {
    "certificates.cert-manager.io": "/apis/cert-manager.io/v1/certificates",
    "configmaps": "/api/v1/configmaps",
}
READY = "kubeconfig: "
SERVE = """
import sys
from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
n, path, kinds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
api = KubeAPIServer(SampleCluster(pods=60, seed=0, extra=dict.fromkeys(kinds, n)))
with api.run_in_thread():
    print("kubeconfig: " + str(api.write_kubeconfig(path)), flush=True)
    sys.stdin.read()
"""


def best_of(repeat: int, *funcs: Callable[[], Any]) -> list[tuple[float, float, Any]]:
    """The fastest of ``repeat`` runs of each function (seconds of wall clock, and of this
    process's CPU: the server's work is in another process) and its last result, the functions
    taking turns so that each sees the machine's load of the same moments."""
    wall = [float("inf")] * len(funcs)
    cpu = [float("inf")] * len(funcs)
    results: list[Any] = [None] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            results[i] = None
            started, used = time.perf_counter(), time.process_time()
            results[i] = func()
            wall[i] = min(wall[i], time.perf_counter() - started)
            cpu[i] = min(cpu[i], time.process_time() - used)
    return list(zip(wall, cpu, results, strict=True))


@contextmanager
def serve_in_subprocess(objects: int, workdir: Path) -> Iterator[Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(objects), str(workdir / "kubeconfig.yaml"), *KINDS],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        line = process.stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"the sample cluster did not start: {line!r}")
        yield Path(line[len(READY) :].strip())
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def serve_in_thread(objects: int, workdir: Path) -> Iterator[Path]:
    api = KubeAPIServer(SampleCluster(pods=60, seed=0, extra=dict.fromkeys(KINDS, objects)))
    with api.run_in_thread():
        yield api.write_kubeconfig(workdir / "kubeconfig.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000, help="filler objects per kind")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument(
        "--thread", action="store_true", help="serve the emulation from a thread of this process"
    )
    options = parser.parse_args(argv)
    serve = serve_in_thread if options.thread else serve_in_subprocess
    problems: list[str] = []
    where = "thread" if options.thread else "subprocess"
    print(f"{options.objects} filler objects per kind, emulation in a {where}")
    with (
        tempfile.TemporaryDirectory(prefix="kchat-bench-") as tmp,
        serve(options.objects, Path(tmp)) as kubeconfig,
    ):
        clients = KubeClients(str(kubeconfig), None)
        cluster = clients.cluster()
        ctx = ToolContext(cluster=cluster, budget=options.budget, timeout=120)
        for kind, path in KINDS.items():

            def raw(path: str = path) -> Any:
                return json.loads(cluster.get_raw(path, timeout=120))

            def tool(kind: str = kind) -> Any:
                return list_resources(ctx, {"kind": kind, "all_namespaces": True})

            resolved = resolve_kind(cluster, kind)

            def table(resolved: Any = resolved) -> Any:
                return read_table(cluster, resolved, None, timeout=120)

            parsed = raw()
            items = len(parsed["items"])
            size = len(json.dumps(parsed))
            del parsed
            tool()
            (t_raw, c_raw, _), (t_tool, c_tool, result), (t_table, _, _) = best_of(
                options.repeat, raw, tool, table
            )
            rows = result.data or []
            bad = [r for r in rows if r["reason"]]
            named = sum(1 for r in bad if r["name"] in result.text)
            print(f"\n{kind}: {items} objects ({size / 1e6:.1f} MB of JSON)")
            print(f"(a) raw GET + json.loads        {t_raw:7.3f} s")
            print(f"(b) list_resources, end to end  {t_tool:7.3f} s")
            print(f"(c) the Table pages alone        {t_table:7.3f} s")
            print(f"tool/raw   {t_tool / t_raw:6.2f}   (goal <= 1.0)")
            print(f"tool/table {t_tool / t_table:6.2f}   (kchat's work on top of the server's)")
            print(f"client CPU {c_tool / c_raw:6.2f}   (tool/raw, {c_tool:.3f} s / {c_raw:.3f} s)")
            print(
                f"text: {len(result.text)} chars of a {options.budget} budget, "
                f"truncated={result.truncated}, rows={len(rows)}; unhealthy named: "
                f"{named} of {len(bad)}"
            )
            if len(result.text) > options.budget:
                problems.append(f"{kind}: text is {len(result.text)} chars, over the budget")
            if named < len(bad):
                problems.append(f"{kind}: {len(bad) - named} unhealthy objects not named")
            if len(rows) != items:
                problems.append(f"{kind}: {len(rows)} rows for {items} objects")
            if rows[: len(bad)] != bad:
                problems.append(f"{kind}: unhealthy rows are not first")
        clients.close()
    for problem in problems:
        print(f"BROKEN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
