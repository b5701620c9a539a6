"""``python -m jupyter_kchat.demo``: JupyterLab with kchat, offline when nothing real is configured.

A real model is used when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set, a real cluster when
``KUBECONFIG`` is set or ``~/.kube/config`` exists; otherwise the scripted demo model and the
sample cluster emulation start on 127.0.0.1 and JupyterLab is pointed at them. Extra arguments
go to ``jupyter lab`` (or ``jupyter server`` with ``--server``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .config import KChat


def _drain(stream: IO[str]) -> None:
    """Keep reading a child's output so it never blocks on a full pipe."""
    for line in stream:
        print(line, end="", flush=True)


def _start(module: str, args: list[str], banner: str) -> tuple[subprocess.Popen[str], str]:
    """Start a sample service and return it with the URL its first banner line prints."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", module, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(banner):
            print(line.rstrip(), flush=True)
            threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
            return process, line[len(banner) :].strip().split()[0]
    process.wait()
    raise SystemExit(f"{module} exited before it was ready (exit code {process.returncode})")


def plan(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_kchat.demo",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--pods", type=int, default=300, help="sample cluster size (pods)")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use the demo model and sample cluster even when real ones are configured",
    )
    parser.add_argument(
        "--allow-changes",
        action="store_true",
        help="offer the write tools (each change still needs approval): --KChat.read_only=False",
    )
    parser.add_argument("--server", action="store_true", help="run jupyter server, not lab")
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options, passthrough = plan(argv)
    settings = KChat()
    children: list[subprocess.Popen[str]] = []
    extra: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="kchat-demo-"))
    try:
        if options.offline or not (settings.base_url or settings.api_key):
            process, url = _start(
                "jupyter_kchat.sample_model", ["--port", "0"], "kchat demo model: "
            )
            children.append(process)
            extra += [f"--KChat.base_url={url}", "--KChat.api_key=demo", "--KChat.model=kchat-demo"]
        if options.offline or not settings.kubeconfig:
            kubeconfig = workdir / "kubeconfig.yaml"
            process, _ = _start(
                "jupyter_kchat.sample_cluster",
                ["--pods", str(options.pods), "--port", "0", "--kubeconfig", str(kubeconfig)],
                "kchat sample cluster: ",
            )
            children.append(process)
            extra.append(f"--KChat.kubeconfig={kubeconfig}")
        if options.allow_changes:
            extra.append("--KChat.read_only=False")
        command = [sys.executable, "-m", "jupyter", "server" if options.server else "lab"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        lab = subprocess.Popen([*command, *extra, *passthrough])
        children.append(lab)  # type: ignore[arg-type]
        signal.signal(signal.SIGTERM, lambda *_: lab.terminate())
        try:
            return lab.wait()
        except KeyboardInterrupt:
            lab.send_signal(signal.SIGINT)
            return lab.wait()
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()


if __name__ == "__main__":
    sys.exit(main())
