"""A loopback HTTP server that counts every request: the "attacker" of the safe-rendering tests.

Payloads point images, frames, styles and forms at it; a page that renders them safely makes it
count zero. ``wait_for`` blocks on a condition variable, not on sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RequestCounter:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self._changed = threading.Condition()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def _count(self) -> None:
                with counter._changed:
                    counter.paths.append(self.path)
                    counter._changed.notify_all()
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_OPTIONS = _count

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for(self, path: str, timeout: float = 30.0) -> bool:
        """True once a request for ``path`` arrived (within ``timeout`` seconds)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: any(p.startswith(path) for p in self.paths), timeout
            )


@contextmanager
def counting_server() -> Iterator[RequestCounter]:
    counter = RequestCounter()
    thread = threading.Thread(target=counter._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield counter
    finally:
        counter._server.shutdown()
        counter._server.server_close()
        thread.join(timeout=10)
