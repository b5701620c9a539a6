"""The demo model server itself: routes, listening, stopping, request records and waits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import orjson
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from ..model_faults import FaultQueue, Quirks
from .completions import ChatCompletionsHandler
from .control import (
    ControlFaultsHandler,
    ControlQuirksHandler,
    ControlRequestsHandler,
    ControlResetHandler,
)
from .endpoints import OllamaPsHandler, OllamaShowHandler, PropsHandler
from .handlers import ModelsHandler, NotFoundHandler
from .recording import RecordedRequest

log = logging.getLogger(__name__)

DEFAULT_MODEL = "kchat-demo"

_T = TypeVar("_T")


def _log_request(handler: RequestHandler) -> None:
    """Access log at debug level: the demo model is chatty enough at 10,000 chunks a second."""
    request = handler.request
    log.debug(
        "%d %s %s %.1fms", handler.get_status(), request.method, request.uri,
        1000.0 * request.request_time(),
    )


class ModelServer:
    """The demo model on an OpenAI-compatible HTTP endpoint, with faults and request records.

    ``await start()`` inside a running loop (tests on one loop, the CLI), or
    ``with run_in_thread() as base_url`` for synchronous code, kernels and benchmarks.
    ``api_key`` makes it answer 401 to any other Bearer key; ``chunk_delay`` spaces every
    streamed chunk (0: as fast as the socket takes them); ``quirks`` (changeable at any time,
    also over ``POST /_control/quirks``) make it behave like llama.cpp, Ollama or vLLM.
    """

    def __init__(
        self,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        *,
        model: str = DEFAULT_MODEL,
        strict: bool = True,
        quirks: Quirks | None = None,
    ) -> None:
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.model = model
        self.strict = strict
        self.initial_quirks = quirks or Quirks()
        self.quirks = self.initial_quirks
        self.created = int(time.time())
        self.faults = FaultQueue()
        self.requests: list[RecordedRequest] = []
        self.stopping = False
        self._http: HTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stop_requested: asyncio.Event | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the model server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``: what ``OpenAI(base_url=...)`` takes."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the model server is not started")
        return self._loop

    def application(self) -> Application:
        """The Tornado application, for embedding the routes elsewhere."""
        routes: list[Any] = [
            (r"/v1/models", ModelsHandler, {"server": self}),
            (r"/v1/models/([^/]+)", ModelsHandler, {"server": self}),
            (r"/v1/chat/completions", ChatCompletionsHandler, {"server": self}),
            (r"/props", PropsHandler, {"server": self}),
            (r"/api/show", OllamaShowHandler, {"server": self}),
            (r"/api/ps", OllamaPsHandler, {"server": self}),
            (r"/_control/faults", ControlFaultsHandler, {"server": self}),
            (r"/_control/quirks", ControlQuirksHandler, {"server": self}),
            (r"/_control/requests", ControlRequestsHandler, {"server": self}),
            (r"/_control/reset", ControlResetHandler, {"server": self}),
        ]
        return Application(
            routes,
            default_handler_class=NotFoundHandler,
            default_handler_args={"server": self},
            log_function=_log_request,
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port) in the running loop; return base_url."""
        if self._http is not None:
            raise RuntimeError("the model server is already started")
        sockets = bind_sockets(port, host)
        self._loop = asyncio.get_running_loop()
        self._host = host
        self._port = sockets[0].getsockname()[1]
        self.stopping = False
        self._http = HTTPServer(self.application())
        self._http.add_sockets(sockets)
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and close every open connection (hanging streams included)."""
        if self._http is None:
            return
        self.stopping = True
        http, self._http = self._http, None
        http.stop()
        await http.close_all_connections()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()

    def reset(self) -> None:
        """Forget recorded requests and pending faults, and go back to the first quirks
        (between tests sharing one server)."""
        self.quirks = self.initial_quirks
        self.faults.clear()
        self.requests.clear()

    def record(self, request: Any) -> RecordedRequest:
        """Keep a chat-completions request as it arrives, and wake whoever waits for it."""
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        record = RecordedRequest(
            index=len(self.requests),
            path=request.path,
            headers=dict(request.headers.items()),
            body=body if isinstance(body, dict) else None,
            peer=":".join(map(str, getattr(request.connection.context, "address", ()) or ())),
        )
        self.requests.append(record)
        count = len(self.requests)
        for n, waiter in self._waiters:
            if n <= count and not waiter.done():
                waiter.set_result(None)
        self._waiters = [(n, w) for n, w in self._waiters if not w.done()]
        return record

    async def wait_for_request(
        self, n: int = 1, *, timeout: float | None = None
    ) -> RecordedRequest:
        """The n-th chat-completions request (1-based), once it has arrived.

        Runs on the server's loop (use ``submit`` from another thread).
        """
        if len(self.requests) < n:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((n, waiter))
            await asyncio.wait_for(waiter, timeout)
        return self.requests[n - 1]

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Run a coroutine on the server's loop from another thread (``.result(timeout)``)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def _serve(self, host: str, port: int, started: concurrent.futures.Future[str]) -> None:
        try:
            url = await self.start(host, port)
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._stop_requested = asyncio.Event()
        started.set_result(url)
        await self._stop_requested.wait()
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a daemon thread with its own loop; yields the base URL, stops on exit."""
        started: concurrent.futures.Future[str] = concurrent.futures.Future()
        thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(host, port, started),),
            name="kchat-demo-model",
            daemon=True,
        )
        thread.start()
        url = started.result(timeout=30)
        try:
            yield url
        finally:
            stop = self._stop_requested
            if stop is not None:
                self.loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)
