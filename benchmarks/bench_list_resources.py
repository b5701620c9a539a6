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
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import best_of, ratio, serve

from jupyter_kchat.tools import KubeClients, ToolContext
from jupyter_kchat.tools.discovery import resolve_kind
from jupyter_kchat.tools.resources import list_resources
from jupyter_kchat.tools.table import read_table

KINDS = {
    "certificates.cert-manager.io": "/apis/cert-manager.io/v1/certificates",
    "configmaps": "/api/v1/configmaps",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000, help="filler objects per kind")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument(
        "--thread", action="store_true", help="serve the emulation from a thread of this process"
    )
    options = parser.parse_args(argv)
    problems: list[str] = []
    where = "thread" if options.thread else "subprocess"
    print(f"{options.objects} filler objects per kind, emulation in a {where}")
    with (
        tempfile.TemporaryDirectory(prefix="kchat-bench-") as tmp,
        serve(options.thread)(
            Path(tmp), pods=60, seed=0, extra=dict.fromkeys(KINDS, options.objects)
        ) as served,
    ):
        clients = KubeClients(str(served.kubeconfig), None)
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
            raw_run, tool_run, table_run = best_of(options.repeat, raw, tool, table)
            t_raw, c_raw, t_tool, c_tool = raw_run.wall, raw_run.cpu, tool_run.wall, tool_run.cpu
            t_table, result = table_run.wall, tool_run.result
            rows = result.data or []
            bad = [r for r in rows if r["reason"]]
            named = sum(1 for r in bad if r["name"] in result.text)
            print(f"\n{kind}: {items} objects ({size / 1e6:.1f} MB of JSON)")
            print(f"(a) raw GET + json.loads        {t_raw:7.3f} s")
            print(f"(b) list_resources, end to end  {t_tool:7.3f} s")
            print(f"(c) the Table pages alone        {t_table:7.3f} s")
            print(ratio("tool/raw   ", t_tool / t_raw, "goal <= 1.0"))
            print(ratio("tool/table ", t_tool / t_table, "kchat's work on top of the server's"))
            print(ratio("client CPU ", c_tool / c_raw, f"tool/raw, {c_tool:.3f} s / {c_raw:.3f} s"))
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
