"""``ModelClient``: chat completions from one OpenAI-compatible endpoint, streamed into pieces.

The ``openai`` client does transport, auth, retries of 429/5xx/connection failures before the
stream starts (exponential backoff, Retry-After honoured) and the error types; the stream body is
read as bytes and decoded here (``wire``), with kchat's own clocks: one for the first chunk, one
for a stream that stops mid-answer. The SDK's read timeout is off for the stream, so a slow model
is never re-sent its prompt by a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec
import openai
from openai import AsyncOpenAI

from . import errors, window
from .assemble import Assembly, Completion
from .clock import ReadClock
from .reasoning import Reasoning
from .wire import DONE, Chunk, sse_events

TokenParameter = Literal["auto", "max_tokens", "max_completion_tokens"]
_DECODE = msgspec.json.Decoder(Chunk)
_COMPLETION_TOKENS_HOSTS = ("api.openai.com", "openai.azure.com")
DRAIN_SECONDS = 0.5


class ModelClient:
    """Streams chat completions from one endpoint; the model name is chosen per request."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        extra_headers: dict[str, str] | None = None,
        max_retries: int = 2,
        timeout: float = 120.0,
        first_token_timeout: float = 300.0,
        stall_timeout: float = 60.0,
        max_answer_tokens: int | None = None,
        token_parameter: TokenParameter = "auto",
    ) -> None:
        self.base_url = base_url
        self.configured = bool(api_key or base_url)
        self.first_token_timeout = first_token_timeout
        self.stall_timeout = stall_timeout
        self.max_answer_tokens = max_answer_tokens
        self._client = AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url,
            default_headers=extra_headers or None,
            max_retries=max_retries,
            timeout=timeout,
        )
        self._stream_timeout = openai.Timeout(timeout, read=None)
        self._token_field = (
            _auto_token_field(str(self._client.base_url))
            if token_parameter == "auto" else token_parameter
        )
        self._token_field_fixed = token_parameter != "auto"
        self._learned: dict[str, int] = {}
        self._asked: dict[str, int | None] = {}
        self._unsettled: set[str] = set()
        self._asking = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return str(self._client.base_url)

    async def close(self) -> None:
        await self._client.close()

    async def stream(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | Reasoning | Completion]:
        """Yield answer text (``str``) and ``Reasoning`` as they arrive, then the ``Completion``.

        ``max_tokens`` bounds the answer (default: the client's ``max_answer_tokens``). Leaving
        the iteration early (cancel) closes the HTTP response, so the upstream request stops at
        once; so does the repetition guard, which then finishes with ``"repetition"``.
        """
        if not self.configured:
            raise errors.not_configured()
        request: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = tools
        limit = max_tokens if max_tokens is not None else self.max_answer_tokens
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_token_timeout
        async with contextlib.AsyncExitStack() as stack:
            response = await self._open(stack, request, limit, deadline)
            events = await stack.enter_async_context(
                contextlib.aclosing(sse_events(response.iter_bytes()))
            )
            clock = ReadClock(loop)
            stack.callback(clock.close)
            assembly = Assembly()
            started = finished = False
            out: list[str | Reasoning] = []
            while not finished and not assembly.runaway:
                if started:
                    deadline = clock.now() + self.stall_timeout
                try:
                    batch = await clock.read(anext(events), deadline)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise self._late(started, assembly.arrived) from None
                except Exception as exc:  # the transport broke: httpx's errors, a reset socket
                    raise errors.interrupted(_describe(exc), kept=assembly.arrived) from exc
                if not batch:
                    continue
                for event in batch:
                    if event.data == DONE:
                        finished = True
                        break
                    self._add(event.data, event.error, assembly, out)
                    if assembly.runaway:
                        break
                started = True
                for item in out:
                    yield item
                out.clear()
            if not finished and not assembly.runaway and assembly.finish_reason is None:
                raise errors.interrupted("", kept=assembly.arrived)
            if finished:
                await _drain(events)
                if model in self._unsettled:  # loaded now: the endpoint can tell more
                    self._unsettled.discard(model)
                    self._asked.pop(model, None)
            assembly.flush(out)
            for item in out:
                yield item
        yield assembly.completion(finished=finished)

    async def context_window(self, model: str) -> int | None:
        """The model's context window in tokens: learned from a context error, else asked of the
        endpoint once (vLLM ``/v1/models``, llama.cpp ``/props``, Ollama ``/api/ps`` and
        ``/api/show``); None when nothing tells."""
        if model in self._learned:
            return self._learned[model]
        async with self._asking:
            if model not in self._asked:
                asked = await window.ask(self._client, self.endpoint, model)
                self._asked[model] = asked.size
                if not asked.settled:
                    self._unsettled.add(model)
        return self._asked[model]

    async def _open(
        self, stack: contextlib.AsyncExitStack, request: dict[str, Any], limit: int | None,
        deadline: float,
    ) -> Any:
        """Send the request and wait for the response headers, within the first-token clock.

        The body goes as ``extra_body``: it is plain JSON already, and the SDK's per-message
        TypedDict transform of ``messages`` costs about 0.75 ms a message on every request.
        """
        for attempt in range(2):
            body = dict(request)
            if limit:
                body[self._token_field] = limit
            create = self._client.chat.completions.with_streaming_response.create
            try:
                async with asyncio.timeout_at(deadline):
                    return await stack.enter_async_context(create(
                        model=request["model"], messages=[], stream=True, extra_body=body,
                        timeout=self._stream_timeout,
                    ))
            except TimeoutError:
                raise self._late(False, False) from None
            except openai.APIError as exc:
                if attempt == 0 and limit and self._refuses_token_field(exc):
                    continue
                error = errors.translate(exc, endpoint=self.endpoint, model=request["model"])
                if error.code == "context_exceeded" and error.context_window:
                    self._learned[request["model"]] = error.context_window
                raise error from exc
        raise AssertionError("unreachable")

    def _add(
        self, data: bytes, is_error: bool, assembly: Assembly, out: list[str | Reasoning]
    ) -> None:
        """Decode one event into ``assembly``; an error event raises its ``ModelError``."""
        if is_error:
            raise errors.stream_error(_loads(data), kept=assembly.arrived)
        if not data.strip():
            return
        try:
            chunk = _DECODE.decode(data)
        except msgspec.DecodeError as exc:
            raise errors.interrupted(
                f" (the endpoint sent a chunk kchat cannot read: {exc})", kept=assembly.arrived
            ) from exc
        if len(chunk.error) and bytes(chunk.error) != b"null":
            raise errors.stream_error({"error": _loads(chunk.error)}, kept=assembly.arrived)
        assembly.add(chunk, out)

    def _late(self, started: bool, arrived: bool) -> errors.ModelError:
        if started:
            return errors.stalled(self.stall_timeout, kept=arrived)
        return errors.first_token_timeout(self.endpoint, self.first_token_timeout)

    def _refuses_token_field(self, exc: openai.APIError) -> bool:
        """A 400 that names the answer-limit field as unsupported: switch to the other one."""
        if self._token_field_fixed or not isinstance(exc, openai.BadRequestError):
            return False
        text = errors.error_detail(exc).lower()
        if self._token_field not in text or not any(
            word in text for word in ("unsupported", "not supported", "unrecognized", "extra")
        ):
            return False
        self._token_field = (
            "max_completion_tokens" if self._token_field == "max_tokens" else "max_tokens"
        )
        return True


def _auto_token_field(base_url: str) -> str:
    """OpenAI's own API wants ``max_completion_tokens`` (its reasoning models refuse
    ``max_tokens``); every other server knows ``max_tokens``."""
    host = urlsplit(base_url).hostname or ""
    if any(host == name or host.endswith("." + name) for name in _COMPLETION_TOKENS_HOSTS):
        return "max_completion_tokens"
    return "max_tokens"


async def _drain(events: AsyncIterator[list[Any]]) -> None:
    """Read the body's end after ``[DONE]``, so the connection goes back to the pool instead of
    being closed; a server that keeps the body open past ``DRAIN_SECONDS`` is simply closed."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in events:
                pass


def _loads(data: bytes) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return data.decode("utf-8", "replace")


def _describe(exc: Exception) -> str:
    return f" ({type(exc).__name__}: {exc})" if str(exc) else f" ({type(exc).__name__})"
