"""Other MCP servers' tools inside kchat (``c.KChat.mcp_servers``).

Each configured server (the common ``mcpServers`` shape: ``command``/``args``/``env`` for stdio,
``url``/``headers`` for Streamable HTTP) is connected through the SDK's ``Client`` on the loop
that runs turns. Its tools join kchat's registry as ``<server>_<tool>`` and run like every other
tool: in a worker thread, within ``tool_timeout``, their text fitted to the budget and redacted.

Safety is kchat's, not the server's: a tool whose annotations do not say ``readOnlyHint: true``
counts as a write (hidden in read-only mode, approved per call otherwise). A server that does not
start, hangs or crashes gives a clear tool error; it is started again on the next call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import jsonschema
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.client.streamable_http import streamable_http_client

from ..tools.base import ToolContext, ToolError, ToolRegistry, ToolResult, ToolSpec

log = logging.getLogger(__name__)

STOP_TIMEOUT = 6.0
"""Seconds a server gets to stop (the SDK closes stdin, waits 2 s, then SIGTERM and SIGKILL)."""

RETRY_AFTER = 30.0
"""Seconds before the servers whose tools are unknown (down at first) are asked again."""

DESCRIPTION_LIMIT = 1000
"""Characters of a foreign tool's description shown to the model."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """``<server>_<tool>`` in the characters and length model APIs accept for functions."""
    return _UNSAFE.sub("_", f"{server}_{tool}")[:64]


@dataclass(frozen=True)
class ServerConfig:
    """One entry of ``c.KChat.mcp_servers``."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, raw: Any) -> ServerConfig:
        """Validate an entry; the error says what a correct one looks like."""
        shape = (
            '{"command": "...", "args": [...], "env": {...}} (stdio) or '
            '{"url": "https://.../mcp", "headers": {...}} (HTTP)'
        )
        if not isinstance(raw, Mapping) or bool(raw.get("command")) == bool(raw.get("url")):
            raise ValueError(f"c.KChat.mcp_servers[{name!r}] must be {shape}")
        return cls(
            name=name,
            command=raw.get("command"),
            args=tuple(str(a) for a in raw.get("args") or ()),
            env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
            cwd=raw.get("cwd"),
            url=raw.get("url"),
            headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
        )


class Connection:
    """One server's session, held open by a task of its own on the turns' loop.

    The task is ended by an event, never by ``Task.cancel``: the SDK's transports shut their
    process or HTTP session down inside anyio cancel scopes (bounded: stdin closed, then
    SIGTERM and SIGKILL), which a native cancel can defeat, leaving a hung server behind.
    """

    def __init__(self, config: ServerConfig, start_timeout: float) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self.client: Client | None = None
        self.failure: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    async def session(self) -> Client:
        """The live session, (re)started when there is none."""
        async with self._lock:
            if self.client is not None and self._task is not None and not self._task.done():
                return self.client
            await self._end()
            self._stop = asyncio.Event()
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            # Read by session() unless it gave up waiting first; never "never retrieved".
            ready.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._task = asyncio.create_task(
                self._hold(ready, self._stop), name=f"mcp-{self.config.name}"
            )
            try:
                # The holder ends its own attempt at the same deadline, in the background.
                return await asyncio.wait_for(asyncio.shield(ready), self.start_timeout)
            except TimeoutError:
                self.failure = f"it did not start within {self.start_timeout:g} s"
                raise ToolError(self._unavailable()) from None
            except Exception as exc:  # noqa: BLE001 - whatever stopped it is its reason
                self.failure = str(exc) if isinstance(exc, ToolError) else _reason(exc)
                raise ToolError(self._unavailable()) from None

    async def _hold(self, ready: asyncio.Future[Client], stop: asyncio.Event) -> None:
        """Start the session within ``start_timeout``, then keep it until ``stop``."""
        client: Client | None = None
        try:
            # An anyio scope around the whole session (the SDK's task groups nest inside it):
            # its deadline bounds the start and is lifted once the session is up.
            with anyio.CancelScope(deadline=anyio.current_time() + self.start_timeout) as scope:
                async with AsyncExitStack() as stack:
                    client = await stack.enter_async_context(self._client(stack))
                    scope.deadline = math.inf
                    self.client, self.failure = client, None
                    ready.set_result(client)
                    await stop.wait()
        except Exception as exc:  # noqa: BLE001 - any failure of a foreign server is its reason
            if not ready.done():
                ready.set_exception(exc)
            else:
                self.failure = _reason(exc)
                log.warning("kchat: MCP server %r stopped: %s", self.config.name, self.failure)
        finally:
            if not ready.done():
                ready.set_exception(ToolError("it was stopped while starting"))
            if client is not None and self.client is client:
                self.client = None

    def _client(self, stack: AsyncExitStack) -> Client:
        config = self.config
        if config.command is not None:
            # The SDK's safe variables (PATH, HOME, ...) and the entry's env: never the Jupyter
            # server's own (its token, the model's API key, kchat's settings).
            params = StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env={**get_default_environment(), **config.env},
                cwd=config.cwd,
            )
            return Client(params)
        assert config.url is not None
        http = httpx2.AsyncClient(headers=dict(config.headers), timeout=self.start_timeout)
        stack.push_async_callback(http.aclose)
        return Client(streamable_http_client(config.url, http_client=http))

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        client = await self.session()
        try:
            return await client.call_tool(name, arguments)
        except Exception as exc:  # noqa: BLE001 - reported to the model, the server restarted
            self.failure = _reason(exc)
            self._stop.set()
            raise ToolError(
                f"the MCP server {self.config.name!r} failed on {name} ({self.failure}); kchat "
                "starts it again on the next call."
            ) from None

    def _unavailable(self) -> str:
        return (
            f"the MCP server {self.config.name!r} is not available ({self.failure}). Check its "
            "entry in c.KChat.mcp_servers; kchat tries again on the next call."
        )

    async def _end(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the held session and wait (bounded) for its transport to shut down."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        _, running = await asyncio.wait([task], timeout=timeout)
        if running:
            log.warning("kchat: MCP server %r did not stop within %s s", self.config.name, timeout)
            task.cancel()

    async def close(self) -> None:
        await self._end()


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]


def _fit(text: str, budget: int) -> tuple[str, bool]:
    """A foreign result within ``budget`` characters, saying how much was left out."""
    if len(text) <= budget:
        return text, False
    note = f"\n(Cut: the MCP server answered {len(text)} characters; the first {budget} are shown.)"
    return text[: max(0, budget - len(note))] + note, True


class MCPClients:
    """Every configured server, and their tools in ``registry``."""

    def __init__(
        self,
        servers: Mapping[str, Any],
        registry: ToolRegistry,
        *,
        start_timeout: float = 10.0,
        retry_after: float = RETRY_AFTER,
    ) -> None:
        self.registry = registry
        self.start_timeout = start_timeout
        self.retry_after = retry_after
        self._listed: set[str] = set()
        self._tried_at = 0.0
        self.connections = [
            Connection(ServerConfig.parse(name, raw), start_timeout)
            for name, raw in servers.items()
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and register tools, the first time waiting at most ``start_timeout``;
        servers that start later join the following turns. Later calls return at once, and
        ask the servers whose tools are still unknown again (in the background, at most every
        ``retry_after`` seconds), so a server that was down at first joins once it is up."""
        if not self.connections:
            return
        if self._started is None:
            self._loop = asyncio.get_running_loop()
            self._register_missing()
            assert self._started is not None
            await asyncio.wait([self._started], timeout=self.start_timeout)
        elif self._started.done() and time.monotonic() - self._tried_at >= self.retry_after:
            self._register_missing()

    def _register_missing(self) -> None:
        missing = [c for c in self.connections if c.config.name not in self._listed]
        if missing:
            self._tried_at = time.monotonic()
            self._started = asyncio.create_task(
                self._register_all(missing), name="kchat-mcp-clients"
            )

    async def _register_all(self, connections: list[Connection]) -> None:
        await asyncio.gather(*(self._register(c) for c in connections))

    async def _register(self, connection: Connection) -> None:
        try:
            client = await connection.session()
            listed = await client.list_tools()
        except Exception as exc:  # noqa: BLE001 - a server that fails is left out, and said so
            log.warning("kchat: MCP server %r: %s", connection.config.name, _reason(exc))
            return
        for tool in listed.tools:
            spec = self._spec(connection, tool)
            try:
                jsonschema.Draft202012Validator.check_schema(spec.parameters)
            except jsonschema.SchemaError as exc:
                log.warning(
                    "kchat: MCP server %r: tool %r left out, its input schema is invalid (%s)",
                    connection.config.name,
                    tool.name,
                    exc.message,
                )
                continue
            if spec.name not in self.registry:
                self.registry.add(spec)
        self._listed.add(connection.config.name)

    def _spec(self, connection: Connection, tool: types.Tool) -> ToolSpec:
        server = connection.config.name
        writes = not (tool.annotations is not None and tool.annotations.read_only_hint is True)
        description = (tool.description or tool.name)[:DESCRIPTION_LIMIT]

        def run(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
            assert self._loop is not None
            future = asyncio.run_coroutine_threadsafe(connection.call(tool.name, args), self._loop)
            try:
                result = future.result(ctx.timeout)
            except TimeoutError:
                future.cancel()
                raise ToolError(
                    f"the MCP server {server!r} did not answer {tool.name} within "
                    f"{ctx.timeout:g} s."
                ) from None
            text = "\n".join(
                block.text for block in result.content if isinstance(block, types.TextContent)
            )
            if result.is_error:
                fitted, _ = _fit(text or "(no text)", ctx.budget)
                raise ToolError(f"the MCP server {server!r} answered with an error: {fitted}")
            fitted, truncated = _fit(text or "(no text)", ctx.budget)
            return ToolResult(fitted, truncated=truncated)

        def summarize(args: dict[str, Any]) -> str:
            shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
            return f"{tool.name}({shown}) on the MCP server {server!r}"

        return ToolSpec(
            name=tool_name(server, tool.name),
            description=f"[MCP server {server}; its own words, not the user's] {description}",
            parameters=tool.input_schema or {"type": "object", "properties": {}},
            func=run,
            writes=writes,
            summarize=summarize,
            conventions=False,
        )

    async def close(self) -> None:
        if self._started is not None:
            self._started.cancel()
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)
