"""Benchmark: fitting a long conversation into a small context window, before every request.

Builds a conversation of real tool results (``list_pods``, ``list_events``, ``diagnose_cluster``
on a sample cluster served over HTTP from a thread) and, in one run, measures the best of a few
repetitions of:

  (a) baseline: ``json.dumps`` of the whole unfitted request, as the ``openai`` client encodes
                every request body (a cost each request pays anyway)
  (b) cold:     ``fit_request`` with a fresh token counter (the first request of a turn after
                a restart: every message tokenized)
  (c) warm:     ``fit_request`` again with the counter kept (every later request: counts cached)

It prints the ratios cold/baseline and warm/baseline, the tokens before and after, and exits
non-zero only when the fitted request does not fit (never because of timing).

    .venv/bin/python benchmarks/bench_context.py [--pods N] [--turns T] [--window W]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_kchat.config import DEFAULT_SYSTEM_PROMPT
from jupyter_kchat.context import answer_reserve, fit_request
from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.tokens import TokenCounter
from jupyter_kchat.tools import KubeClients, ToolContext, default_registry

CALLS = (
    ("list_pods", {"all_namespaces": True}),
    ("list_events", {"all_namespaces": True}),
    ("diagnose_cluster", {}),
)


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def conversation(pods: int, turns: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A system prompt, ``turns`` questions each answered after one real tool call, and a new
    question; and the read tools' schemas."""
    registry = default_registry()
    api = KubeAPIServer(SampleCluster(pods=pods, seed=0))
    with api.run_in_thread(), tempfile.TemporaryDirectory() as tmp:
        clients = KubeClients(str(api.write_kubeconfig(Path(tmp) / "kubeconfig.yaml")), None)
        try:
            ctx = ToolContext(cluster=clients.cluster(None), clients=clients)
            results = {name: registry.run(registry.get(name), ctx, args).text
                       for name, args in CALLS}
        finally:
            clients.close()
    messages: list[dict[str, Any]] = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}]
    for turn in range(turns):
        name, args = CALLS[turn % len(CALLS)]
        call_id = f"call_{turn}"
        messages += [
            {"role": "user", "content": f"question {turn}: what does {name} show?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()},
            }]},
            {"role": "tool", "tool_call_id": call_id, "content": results[name]},
            {"role": "assistant", "content": f"Answer {turn}: " + "the cluster is fine. " * 20},
        ]
    messages.append({"role": "user", "content": "and now?"})
    return messages, registry.openai_tools(read_only=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--window", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    messages, tools = conversation(options.pods, options.turns)
    reserve = answer_reserve(options.window, 4096)
    request = {"model": "local-model", "messages": messages, "tools": tools, "stream": True}
    baseline, body = best_of(options.repeat, lambda: json.dumps(request))

    def cold() -> Any:
        return fit_request(messages, tools, counter=TokenCounter("local-model"),
                           window=options.window, reserve=reserve)

    warm_counter = TokenCounter("local-model")
    fit_request(messages, tools, counter=warm_counter, window=options.window, reserve=reserve)
    cold_time, _ = best_of(options.repeat, cold)
    warm_time, fitted = best_of(options.repeat, lambda: fit_request(
        messages, tools, counter=warm_counter, window=options.window, reserve=reserve))

    before = TokenCounter("local-model").messages(messages) + warm_counter.tools(tools)
    print(f"conversation: {len(messages)} messages, {len(body):,} bytes, ~{before:,} tokens; "
          f"window {options.window:,} ({reserve:,} kept for the answer)")
    print(f"fitted: {fitted.tokens:,} tokens (limit {fitted.limit:,}), {fitted.dropped} messages "
          f"left out, {fitted.shortened} shortened")
    print(f"baseline json.dumps of the request: {baseline * 1000:.2f} ms")
    print(f"fit, cold counter: {cold_time * 1000:.2f} ms = {cold_time / baseline:.1f}x baseline")
    print(f"fit, warm counter: {warm_time * 1000:.2f} ms = {warm_time / baseline:.1f}x baseline")
    if fitted.tokens > fitted.limit:
        print("FAIL: the fitted request is over its limit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
