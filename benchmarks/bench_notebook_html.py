"""Benchmark: what one notebook display update of a turn costs (``notebook_html``).

In one run, the best of a few repetitions of:

  (a) block:  ``tool_block`` of a ``list_pods`` call with 10,000 rows (250 problems first),
              against pandas ``DataFrame(rows).head(10).to_html()`` (what a user would type to
              see the first rows; goal <= 1.0)
  (b) answer: ``markdown_to_html`` (safe renderer + nh3) of a 40 KB answer with a 300-row
              table, against plain markdown-it ``render`` with no safety (the cost of being
              safe; goal <= 3.0)
  (c) update: the whole ``turn_html`` of both, which ``%kchat`` sends at most every 0.1 s
              while text streams, in milliseconds (goal: well under 100 ms)

It exits non-zero only when the output is wrong (a row missing from the block, an <img> left in
the answer), never because of timing.

    .venv/bin/python benchmarks/bench_notebook_html.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from markdown_it import MarkdownIt  # noqa: E402

from jupyter_kchat.kernel import ToolCall  # noqa: E402
from jupyter_kchat.notebook_html import ROWS_SHOWN, tool_block, turn_html  # noqa: E402
from jupyter_kchat.safe_html import markdown_to_html  # noqa: E402


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def pod_rows(count: int, problems: int) -> list[dict[str, Any]]:
    """Rows shaped like ``list_pods``'s, the ones that need attention first."""
    rows = []
    for i in range(count):
        broken = i < problems
        rows.append({
            "namespace": f"team-{i % 40}", "name": f"web-{i:05d}-x7k2p",
            "phase": "Running", "ready": "0/1" if broken else "1/1",
            "restarts": 40 + i % 9 if broken else 0, "node": f"node-{i % 30}",
            "reason": "CrashLoopBackOff" if broken else "", "age": "3d",
        })
    return rows


def answer(rows: list[dict[str, Any]]) -> str:
    """A long Markdown answer: findings, a table, a command, and an image it must not load."""
    lines = ["## Pods in all namespaces", "", "**Key findings**", ""]
    lines += [f"- `{r['namespace']}/{r['name']}`: **{r['reason']}**" for r in rows[:40]]
    lines += ["", "| Namespace | Name | Ready | Restarts |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['namespace']} | {r['name']} | {r['ready']} | {r['restarts']} |"
              for r in rows[:300]]
    lines += ["", "```bash", "kubectl get pods -A --field-selector=status.phase!=Running", "```",
              "", "![graph](http://127.0.0.1:9/graph.png)"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    rows = pod_rows(args.rows, problems=250)
    call = ToolCall(id="c1", name="list_pods", arguments={"all_namespaces": True},
                    status="completed", result="NAMESPACE NAME STATUS\n" * 200, rows=rows,
                    duration_ms=120.0)
    text = answer(rows)

    block_s, block = best_of(args.repeat, lambda: tool_block(call))
    pandas_s, _ = best_of(args.repeat, lambda: pd.DataFrame(rows).head(ROWS_SHOWN).to_html())
    plain = MarkdownIt("commonmark").enable("table")
    safe_s, safe = best_of(args.repeat, lambda: markdown_to_html(text))
    plain_s, _ = best_of(args.repeat, lambda: plain.render(text))
    update_s, _ = best_of(args.repeat, lambda: turn_html([call], text))

    print(f"rows: {len(rows):,} ({sum(1 for r in rows if r['reason'])} need attention); "
          f"answer: {len(text) / 1024:.0f} KB")
    print(f"(a) tool block:  {block_s * 1e3:8.2f} ms   pandas head().to_html(): "
          f"{pandas_s * 1e3:8.2f} ms   ratio {block_s / pandas_s:.2f} (goal <= 1.0)")
    print(f"(b) safe answer: {safe_s * 1e3:8.2f} ms   plain markdown-it:       "
          f"{plain_s * 1e3:8.2f} ms   ratio {safe_s / plain_s:.2f} (goal <= 3.0)")
    print(f"(c) one display update (turn_html): {update_s * 1e3:.2f} ms")

    shown = [row["name"] for row in rows[:ROWS_SHOWN]]
    problems = []
    if not all(name in block for name in shown) or f"{len(rows) - ROWS_SHOWN:,} more" not in block:
        problems.append("the block lost its first rows or its 'N more'")
    if "<img" in safe or "http://127.0.0.1:9/graph.png" not in safe:
        problems.append("the image was not turned into a visible link")
    for problem in problems:
        print(f"BROKEN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
