"""What the benchmarks share: the sample cluster served from a subprocess (or a thread), the
best of a few timed runs taking turns, and the ratio lines they print.

The emulation runs in a subprocess by default, so the benchmark's process holds only a client's
heap and the server's work does not share its interpreter; a thread of the benchmark's process
serves it when asked (``--thread``), for profiling both sides at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer

READY = "kubeconfig: "
SERVER = """
import json, sys
from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
options, path = json.loads(sys.argv[1]), sys.argv[2]
api = KubeAPIServer(SampleCluster(**options))
with api.run_in_thread():
    print("kubeconfig: " + str(api.write_kubeconfig(path)), flush=True)
    for line in sys.stdin:
        api.faults.clear()
        if float(line) > 0:
            api.faults.delay(float(line))
        print("latency", line.strip(), flush=True)
"""
"""The child: serves ``SampleCluster(**options)`` until its stdin closes; each line it reads
is a delay in seconds added to every answer (0: none)."""


@dataclass
class Timing:
    """The fastest run of one function: seconds of wall clock and of this process's CPU (the
    server's work is in another process), and the last run's result."""

    wall: float
    cpu: float
    result: Any


def best_of(repeat: int, *funcs: Callable[[], Any]) -> list[Timing]:
    """The fastest of ``repeat`` runs of each function, the functions taking turns so that each
    sees the machine's load of the same moments."""
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
    return [Timing(*timing) for timing in zip(wall, cpu, results, strict=True)]


class Served:
    """The emulation being served: its kubeconfig, and a knob for its round-trip time."""

    def __init__(self, kubeconfig: Path, latency: Callable[[float], None]) -> None:
        self.kubeconfig = kubeconfig
        self._latency = latency

    def latency(self, seconds: float) -> None:
        """Delay every answer by ``seconds`` (a remote API server's round trip)."""
        self._latency(seconds)


@contextmanager
def serve_in_subprocess(workdir: Path, **cluster: Any) -> Iterator[Served]:
    """``SampleCluster(**cluster)`` served by a child process until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(cluster), str(workdir / "kubeconfig.yaml")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def latency(seconds: float) -> None:
        stdin.write(f"{seconds}\n")
        stdin.flush()
        stdout.readline()

    try:
        line = stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"the sample cluster did not start: {line!r}")
        yield Served(Path(line[len(READY) :].strip()), latency)
    finally:
        stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stdout.close()


@contextmanager
def serve_in_thread(workdir: Path, **cluster: Any) -> Iterator[Served]:
    """``SampleCluster(**cluster)`` served from a thread of this process."""
    api = KubeAPIServer(SampleCluster(**cluster))

    def latency(seconds: float) -> None:
        api.faults.clear()
        if seconds > 0:
            api.faults.delay(seconds)

    with api.run_in_thread():
        yield Served(api.write_kubeconfig(workdir / "kubeconfig.yaml"), latency)


def serve(thread: bool) -> Callable[..., Any]:
    """The serving context manager the ``--thread`` option picks."""
    return serve_in_thread if thread else serve_in_subprocess


def ratio(label: str, value: float, note: str = "", digits: int = 2) -> str:
    """A ratio as the benchmarks print it: ``label`` (padded as given), the value in six
    characters, and a note in parentheses."""
    return f"{label}{value:6.{digits}f}" + (f"   ({note})" if note else "")
