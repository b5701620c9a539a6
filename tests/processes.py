"""Child processes for tests and benchmarks: free loopback ports, services started until ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _drain(stream: IO[str], sink: IO[str]) -> None:
    for line in stream:
        sink.write(line)
        sink.flush()


class Service:
    """A child process whose banner line tells where it listens; its output goes to ``log``.

    Raises with the end of the log when the process exits before printing ``banner``.
    """

    def __init__(self, args: list[str], banner: str, log: Path, env: dict[str, str]) -> None:
        self.log_path = log
        self.killed = False
        self._log = log.open("w")
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.line = ""
        for line in self.process.stdout:
            self._log.write(line)
            if banner in line:
                self.line = line.strip()
                break
        self._log.flush()  # the log says what came before the banner as soon as it is seen
        if not self.line:
            self.process.wait(10)
            self.process.stdout.close()
            self._log.close()
            raise RuntimeError(
                f"{' '.join(args[:4])} exited before it was ready; see {log}:\n"
                + log.read_text()[-3000:]
            )
        self.drain = threading.Thread(
            target=_drain, args=(self.process.stdout, self._log), daemon=True
        )
        self.drain.start()

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``signum``, wait up to ``timeout`` (then SIGKILL, and ``killed`` is set), and
        return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                # The whole session: a child it left running would hold the log pipe open.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.drain.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._log.close()
        return self.process.returncode
