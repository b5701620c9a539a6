"""A local OpenAI-compatible chat-completions server that serves the scripted demo model.

kchat is tested, benchmarked and demonstrated offline: the real ``openai`` client (pointed at
``http://127.0.0.1:PORT/v1``) talks to this Tornado server, which speaks OpenAI's wire format
exactly (``chat.completion`` objects, ``chat.completion.chunk`` server-sent events, tool-call
argument fragments, the usage chunk, ``data: [DONE]``, error bodies) and answers with
``demo_model.decide``. Faults can be queued to rehearse what real endpoints do wrong, quirks set
to behave like a particular real server (``model_faults``), and every chat-completions request
is recorded so tests can assert on what the client sent.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``, llama.cpp's
``GET /props`` and Ollama's ``POST /api/show`` and ``GET /api/ps`` (in those flavours), and for out-of-process
control ``POST /_control/faults`` (a JSON list of faults), ``GET /_control/faults``,
``GET``/``POST /_control/quirks``, ``GET /_control/requests`` (the recorded bodies; ``?detail=1``
adds status and disconnects) and ``POST /_control/reset``.

Like OpenAI, requests are validated: ``model`` and a non-empty ``messages`` list are required, and
every assistant ``tool_calls`` entry must be answered by ``tool`` messages right after it (turn
that off with ``strict=False`` for endpoints that are laxer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import logging
import threading
import time
import uuid
from asyncio import Future
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from . import demo_model
from .model_faults import (
    REPORTED_CONTEXT,
    Fault,
    FaultQueue,
    Quirks,
    context_error,
    ollama_ps_body,
    ollama_show_body,
    props_body,
    stream_error_frame,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "kchat-demo"
OWNER = "kchat"
DONE_FRAME = b"data: [DONE]\n\n"
YIELD_EVERY = 64
"""With no chunk delay, let other connections run after this many chunks."""

_T = TypeVar("_T")

_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "invalid_request_error", "model_not_allowed"),
    404: ("The model `{model}` does not exist or you do not have access to it.",
          "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    429: ("Rate limit reached for requests. Please try again in 10ms.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error",
          "service_unavailable"),
}


@dataclass
class RecordedRequest:
    """One chat-completions request as the server saw it, and how its response ended.

    ``body`` is the parsed JSON (None when it was not a JSON object), ``fault`` the fault it
    consumed, ``status`` the HTTP status (set before the first byte is sent), ``chunks_sent``
    the SSE frames flushed (the closing finish/usage/[DONE] frames included), ``arrived_at``
    and ``first_chunk_at`` the ``time.perf_counter()`` (one clock for every process of the
    machine) when the request came in and its first SSE frame was flushed, for benchmarks;
    ``peer`` the client's ``host:port`` (one per connection).
    ``disconnected`` is set when the client closed the connection before the response was
    complete (not when a ``cut_after`` fault or ``stop()`` closed it); ``finished`` when the
    server is done with the request, however it ended. The events belong to the server's loop:
    await them there (``ModelServer.submit`` from another thread); ``is_set()`` works anywhere.
    """

    index: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    fault: Fault | None = None
    status: int | None = None
    chunks_sent: int = 0
    arrived_at: float = field(default_factory=time.perf_counter)
    first_chunk_at: float | None = None
    peer: str = ""
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools the request offered."""
        tools = (self.body or {}).get("tools") or []
        return [
            str(tool.get("function", {}).get("name"))
            for tool in tools
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "path": self.path,
            "body": self.body,
            "fault": self.fault.to_json() if self.fault else None,
            "status": self.status,
            "chunks_sent": self.chunks_sent,
            "arrived_at": self.arrived_at,
            "first_chunk_at": self.first_chunk_at,
            "disconnected": self.disconnected.is_set(),
            "finished": self.finished.is_set(),
        }


class _RequestError(Exception):
    """A request the server refuses with an OpenAI error body."""

    def __init__(self, status: int, message: str, error_type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param


def error_body(message: str, error_type: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _validate(body: Any, *, strict: bool) -> dict[str, Any]:
    """The checks OpenAI applies before generating anything (400 otherwise)."""
    if not isinstance(body, dict):
        raise _RequestError(400, "The request body must be a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _RequestError(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _RequestError(400, "'messages' is a required property", param="messages")
    if not messages:
        raise _RequestError(400, "[] is too short - 'messages'", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system", "developer", "user", "assistant", "tool",
        ):
            raise _RequestError(
                400, f"Invalid value for 'messages[{index}].role'.", param=f"messages[{index}].role"
            )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _RequestError(400, "Invalid type for 'tools': expected an array.", param="tools")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _RequestError(400, "Invalid type for 'stream': expected a boolean.", param="stream")
    if strict:
        _check_tool_messages(messages)
    return body


def _check_tool_messages(messages: list[dict[str, Any]]) -> None:
    """Every tool_call id answered by a tool message right after its assistant message."""
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise _RequestError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            pending.remove(call_id)
            continue
        if pending:
            raise _RequestError(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                param="messages",
            )
        if role == "assistant":
            calls = message.get("tool_calls") or ()
            pending = [str(call.get("id")) for call in calls if isinstance(call, dict)]
    if pending:
        raise _RequestError(
            400,
            "An assistant message with 'tool_calls' must be followed by tool messages responding "
            "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(pending)}",
            param="messages",
        )


CHARS_PER_TOKEN = 4
"""The demo's tokenizer: a token is four bytes of the request, four characters of the answer."""
PREAMBLE = "Let me look that up in the cluster."
"""The sentence models write before their tool calls when they talk and call at once."""


def prompt_tokens(raw_body: bytes) -> int:
    """The prompt's size in tokens, as usage reports it and the context limit counts it."""
    return max(1, len(raw_body) // CHARS_PER_TOKEN)


def _tokens(chunks: list[str], calls: list[tuple[str, str, str]]) -> int:
    size = sum(map(len, chunks)) + sum(len(name) + len(args) for _, name, args in calls)
    return size // CHARS_PER_TOKEN


def _cut_chunks(chunks: list[str], chars: int) -> list[str]:
    """The first ``chars`` characters of the answer, in the same pieces."""
    kept: list[str] = []
    for piece in chunks:
        if chars <= 0:
            break
        kept.append(piece[:chars])
        chars -= len(piece)
    return kept


def _reasoning_text(body: dict[str, Any], calls: list[tuple[str, str, str]]) -> str:
    """A short, deterministic line of thought about the request."""
    if calls:
        names = ", ".join(name for _, name, _ in calls)
        return f"The user wants facts from the cluster. I should call {names} first."
    return "I have what I need. I will answer briefly in Markdown."


def _bad_arguments(arguments: str) -> str:
    """A proper prefix of a JSON object: never valid JSON, like a model cut off mid-call."""
    cut = max(1, min(len(arguments) - 1, (len(arguments) * 3) // 4))
    return arguments[:cut] if len(arguments) > 1 else '{"'


class _Frames:
    """Pre-encoded SSE frames of one streamed completion: a fixed prefix, the delta, a suffix."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.include_usage = include_usage
        self._head = (
            b'data: {"id":' + orjson.dumps(completion_id)
            + b',"object":"chat.completion.chunk","created":' + str(created).encode()
            + b',"model":' + orjson.dumps(model)
            + b',"system_fingerprint":"fp_kchat_demo","choices":[{"index":0,"delta":'
        )
        self._usage_null = b',"usage":null' if include_usage else b""
        self._tail = b',"logprobs":null,"finish_reason":null}]' + self._usage_null + b"}\n\n"

    def delta(self, delta: dict[str, Any]) -> bytes:
        return self._head + orjson.dumps(delta) + self._tail

    def content(self, piece: str, *, role: bool) -> bytes:
        start = b'{"role":"assistant","content":' if role else b'{"content":'
        return self._head + start + orjson.dumps(piece) + b"}" + self._tail

    def finish(self, reason: str) -> bytes:
        return (
            self._head + b'{},"logprobs":null,"finish_reason":' + orjson.dumps(reason) + b"}]"
            + self._usage_null + b"}\n\n"
        )

    def usage(self, usage: dict[str, int]) -> bytes:
        return b"data: " + orjson.dumps(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_kchat_demo",
                "choices": [],
                "usage": usage,
            }
        ) + b"\n\n"


@dataclass
class _Reply:
    """The decided response, ready for either the streamed or the plain format.

    ``chunks`` are the content deltas (a ``<think>`` block included when the quirks ask for
    one), ``reasoning`` the text of reasoning deltas.
    """

    chunks: list[str]
    calls: list[tuple[str, str, str]]
    usage: dict[str, int]
    finish_reason: str
    reasoning: str = ""

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class _BaseHandler(RequestHandler):
    """JSON responses and OpenAI-style errors for every route."""

    model_server: ModelServer

    def initialize(self, server: ModelServer) -> None:
        self.model_server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("x-request-id", f"req_{uuid.uuid4().hex}")

    def check_xsrf_cookie(self) -> None:
        """API clients send no XSRF cookie; this is a loopback test double."""

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(orjson.dumps(data))

    def send_error_body(self, error: _RequestError, headers: dict[str, str] | None = None) -> None:
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.send_json(
            error_body(error.message, error.error_type, error.code, error.param), error.status
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message, error_type, code = _STATUS_ERRORS.get(
            status_code, (self._reason, "invalid_request_error", None)
        )
        if status_code == 405:
            message = f"Method not allowed ({self.request.method} {self.request.path})"
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(error_body(message.replace("{model}", "?"), error_type, code)))

    def check_api_key(self) -> None:
        """401 unless ``Authorization: Bearer <key>`` matches the server's key (when it has one)."""
        expected = self.model_server.api_key
        if not expected:
            return
        header = self.request.headers.get("Authorization", "")
        if not header:
            raise _RequestError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        given = header[7:] if header.lower().startswith("bearer ") else header
        if not hmac.compare_digest(given.encode(), expected.encode()):
            shown = f"{given[:3]}***{given[-4:]}" if len(given) > 8 else "***"
            raise _RequestError(
                401,
                f"Incorrect API key provided: {shown}. Check the key the client is "
                "configured with.",
                code="invalid_api_key",
            )


class _NotFoundHandler(_BaseHandler):
    """OpenAI's answer for unknown routes."""

    def prepare(self) -> None:
        self.send_json(
            error_body(f"Invalid URL ({self.request.method} {self.request.path})",
                       "invalid_request_error"),
            404,
        )


class _ModelsHandler(_BaseHandler):
    def get(self, model_id: str | None = None) -> None:
        try:
            self.check_api_key()
        except _RequestError as error:
            self.send_error_body(error)
            return
        entry: dict[str, Any] = {
            "id": self.model_server.model,
            "object": "model",
            "created": self.model_server.created,
            "owned_by": OWNER,
        }
        quirks = self.model_server.quirks
        if quirks.flavour == "vllm":
            entry.update(owned_by="vllm", root=entry["id"], parent=None, permission=[],
                         max_model_len=quirks.context_window or REPORTED_CONTEXT)
        if model_id is None:
            self.send_json({"object": "list", "data": [entry]})
        elif model_id == entry["id"]:
            self.send_json(entry)
        else:
            self.send_error_body(
                _RequestError(404, f"The model '{model_id}' does not exist", code="model_not_found")
            )


class _ChatCompletionsHandler(_BaseHandler):
    """``POST /v1/chat/completions``: decide with the demo model, answer plain or as SSE."""

    def initialize(self, server: ModelServer) -> None:
        super().initialize(server)
        self.record: RecordedRequest | None = None
        self.gone = asyncio.Event()
        self.cutting = False

    def on_connection_close(self) -> None:
        """The client went away (or we cut the connection): stop streaming, tell the tests."""
        self.gone.set()
        record = self.record
        if (
            record is not None
            and not record.finished.is_set()
            and not self.cutting
            and not self.model_server.stopping
        ):
            record.disconnected.set()

    def flush(self, include_footers: bool = False) -> Future[None]:
        """Record the status before the first bytes leave, so a client never sees it unset."""
        if self.record is not None and self.record.status is None:
            self.record.status = self.get_status()
        return super().flush(include_footers)

    async def post(self) -> None:
        record = self.model_server._record(self.request)
        self.record = record
        try:
            await self._respond(record)
        finally:
            record.status = self.get_status()
            record.finished.set()

    async def _respond(self, record: RecordedRequest) -> None:
        fault = self.model_server.faults.pop()
        record.fault = fault
        try:
            if fault is not None and fault.kind == "status":
                raise self._status_error(fault, record.body)
            self.check_api_key()
            if record.body is None:
                raise _RequestError(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means "
                    "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                    "payload.)",
                )
            body = _validate(record.body, strict=self.model_server.strict)
        except _RequestError as error:
            headers = {}
            if fault is not None and fault.kind == "status" and fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            self.send_error_body(error, headers)
            return
        refused = self._refusal(body, fault)
        if refused is not None:
            self.send_json(*refused)
            return
        reply = self._decide(body, fault)
        if fault is not None and fault.kind == "hang":
            await self._hang(streaming=body.get("stream") is True)
            return
        if body.get("stream") is True:
            await self._stream(body, reply, fault, record)
        else:
            await self._complete(body, reply, fault)

    def _status_error(self, fault: Fault, body: dict[str, Any] | None) -> _RequestError:
        fallback_type = "server_error" if fault.code >= 500 else "invalid_request_error"
        message, error_type, code = _STATUS_ERRORS.get(
            fault.code, ("Something went wrong.", fallback_type, None)
        )
        model = str((body or {}).get("model", self.model_server.model))
        text = fault.message or message.replace("{model}", model)
        return _RequestError(fault.code, text, error_type, code)

    def _refusal(
        self, body: dict[str, Any], fault: Fault | None
    ) -> tuple[dict[str, Any], int] | None:
        """A refused field or a prompt over the context limit, answered as the real server."""
        quirks = self.model_server.quirks
        if quirks.refuse_field is not None and quirks.refuse_field in body:
            other = "max_tokens" if quirks.refuse_field != "max_tokens" else (
                "max_completion_tokens")
            return error_body(
                f"Unsupported parameter: '{quirks.refuse_field}' is not supported with this "
                f"model. Use '{other}' instead.", "invalid_request_error",
                "unsupported_parameter", quirks.refuse_field,
            ), 400
        prompt = prompt_tokens(self.request.body)
        if fault is not None and fault.kind == "context_exceeded":
            return context_error(fault.style, max(prompt, fault.window + 1), fault.window)
        window = quirks.context_window
        if window is not None and prompt >= window:
            return context_error(quirks.context_style, prompt, window)
        return None

    def _decide(self, body: dict[str, Any], fault: Fault | None) -> _Reply:
        quirks = self.model_server.quirks
        tools = body.get("tools")
        if body.get("tool_choice") == "none":
            tools = None
        decision = demo_model.decide(body["messages"], tools)
        chunks = decision.text_chunks()
        calls = [
            (f"call_{uuid.uuid4().hex[:24]}", call.name, call.arguments_json())
            for call in decision.tool_calls
        ]
        if fault is not None and fault.kind == "bad_tool_arguments" and calls:
            call_id, name, arguments = calls[0]
            calls[0] = (call_id, name, _bad_arguments(arguments))
        if fault is not None and fault.kind == "repeat":
            chunks, calls = [fault.message or ""] * fault.chunks, []
        if quirks.text_with_tool_calls and calls and not "".join(chunks):
            chunks = demo_model.split_text(PREAMBLE)
        reasoning = _reasoning_text(body, calls) if quirks.reasoning else ""
        prompt = prompt_tokens(self.request.body)
        finish = "tool_calls" if calls else "stop"
        limit = self._answer_limit(body, prompt)
        if limit is not None and _tokens(chunks, calls) > limit:
            chunks, calls, finish = _cut_chunks(chunks, limit * CHARS_PER_TOKEN), [], "length"
        if quirks.reasoning == "think":
            chunks = demo_model.split_arguments(f"<think>\n{reasoning}\n</think>\n\n") + chunks
            reasoning = ""
        completion = max(1, _tokens(chunks, calls))
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        return _Reply(chunks, calls, usage, finish, reasoning)

    def _answer_limit(self, body: dict[str, Any], prompt: int) -> int | None:
        """Tokens the answer may have: max_tokens when honoured, and what the context leaves."""
        quirks = self.model_server.quirks
        limits: list[int] = []
        if quirks.honour_max_tokens:
            for name in ("max_completion_tokens", "max_tokens"):
                value = body.get(name)
                if isinstance(value, int) and value > 0:
                    limits.append(value)
        if quirks.context_window is not None:
            limits.append(max(1, quirks.context_window - prompt))
        return min(limits) if limits else None

    async def _hang(self, *, streaming: bool) -> None:
        if streaming:
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone()
            return
        await self.gone.wait()

    def _client_gone(self) -> None:
        self.gone.set()
        if self.record is not None and not self.model_server.stopping:
            self.record.disconnected.set()

    async def _pause(self, delay: float) -> None:
        """Sleep between chunks, but wake at once when the client leaves."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gone.wait(), delay)

    def _cut(self) -> None:
        """Drop the connection mid-body, as a crashed or killed upstream would."""
        self.cutting = True
        self.gone.set()
        assert self.request.connection is not None
        self.request.connection.close()  # type: ignore[attr-defined]

    async def _complete(self, body: dict[str, Any], reply: _Reply, fault: Fault | None) -> None:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": None,
            "annotations": [],
        }
        if reply.reasoning:
            message[self.model_server.quirks.reasoning or "reasoning_content"] = reply.reasoning
        if reply.calls:
            message["tool_calls"] = [
                self._call(call_id, name, arguments) for call_id, name, arguments in reply.calls
            ]
        payload = orjson.dumps(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "system_fingerprint": "fp_kchat_demo",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": reply.usage,
            }
        )
        if fault is not None and fault.kind == "slow":
            await self._pause(fault.delay)
            if self.gone.is_set():
                return
        if fault is not None and fault.kind == "cut_after":
            self.write(payload[: len(payload) // 2])
            try:
                await self.flush()
            except StreamClosedError:
                self._client_gone()
                return
            self._cut()
            return
        self.finish(payload)

    def _call(self, call_id: str, name: str, arguments: str) -> dict[str, Any]:
        """A whole tool call; llama.cpp's come without an ``id``."""
        call: dict[str, Any] = {"type": "function",
                                "function": {"name": name, "arguments": arguments}}
        if not self.model_server.quirks.tool_calls_whole:
            call["id"] = call_id
        return call

    def _frames(self, frames: _Frames, reply: _Reply) -> Iterator[bytes]:
        """The body chunks (role, reasoning and content pieces, tool calls as headers and
        argument fragments, or whole)."""
        role = True
        field = self.model_server.quirks.reasoning
        for piece in demo_model.split_text(reply.reasoning) if reply.reasoning else ():
            delta: dict[str, Any] = {field or "reasoning_content": piece}
            yield frames.delta({"role": "assistant", "content": None, **delta} if role else delta)
            role = False
        for piece in reply.chunks:
            yield frames.content(piece, role=role)
            role = False
        whole = self.model_server.quirks.tool_calls_whole
        for index, (call_id, name, arguments) in enumerate(reply.calls):
            if whole:
                yield frames.delta(
                    {"tool_calls": [{"index": index, **self._call(call_id, name, arguments)}]}
                )
                continue
            header: dict[str, Any] = {
                "tool_calls": [
                    {"index": index, "id": call_id, "type": "function",
                     "function": {"name": name, "arguments": ""}}
                ]
            }
            if role:
                header = {"role": "assistant", "content": None, **header}
                role = False
            yield frames.delta(header)
            for fragment in demo_model.split_arguments(arguments):
                yield frames.delta(
                    {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                )
        if role:
            yield frames.content("", role=True)

    async def _stream(
        self, body: dict[str, Any], reply: _Reply, fault: Fault | None, record: RecordedRequest
    ) -> None:
        options = body.get("stream_options")
        include_usage = (
            isinstance(options, dict) and options.get("include_usage") is True
            and self.model_server.quirks.usage_chunk
        )
        frames = _Frames(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body["model"],
                         include_usage)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        delay = self.model_server.chunk_delay
        if fault is not None and fault.kind == "slow":
            delay = fault.delay
        cutting = fault is not None and fault.kind in ("cut_after", "error_after")
        limit = fault.chunks if fault is not None and cutting else None
        stall = fault.chunks if fault is not None and fault.kind == "stall_after" else None
        if fault is not None and fault.kind == "first_chunk_after":
            stall = 0
        sent = 0
        for frame in self._frames(frames, reply):
            if limit is not None and sent >= limit:
                break
            if stall is not None and sent == stall:
                assert fault is not None
                if not await self._send(b""):
                    return
                await self._pause(fault.delay)
                if self.gone.is_set():
                    return
            if not await self._send(frame):
                return
            sent += 1
            record.chunks_sent = sent
            if sent == 1:
                record.first_chunk_at = time.perf_counter()
            if delay > 0:
                await self._pause(delay)
                if self.gone.is_set():
                    return
            elif sent % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        if limit is not None:
            assert fault is not None
            frame = stream_error_frame(fault.style) if fault.kind == "error_after" else b""
            if (sent == 0 or frame) and not await self._send(frame):
                return
            self._cut()
            return
        tail = [frames.finish(reply.finish_reason)]
        if include_usage:
            tail.append(frames.usage(reply.usage))
        tail.append(DONE_FRAME)
        for frame in tail:
            if not await self._send(frame):
                return
            sent += 1
        record.chunks_sent = sent
        self.finish()

    async def _send(self, frame: bytes) -> bool:
        """Write and flush one SSE frame; False when the client has gone."""
        if self.gone.is_set():
            return False
        self.write(frame)
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone()
            return False
        return True


class _ControlFaultsHandler(_BaseHandler):
    """Queue faults from another process: ``[{"kind": "status", "code": 429}, ...]``."""

    def get(self) -> None:
        self.send_json([fault.to_json() for fault in self.model_server.faults.pending()])

    def post(self) -> None:
        try:
            data = orjson.loads(self.request.body)
            items = data if isinstance(data, list) else [data]
            faults = [Fault.from_json(item) for item in items]
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            self.send_error_body(_RequestError(400, str(exc)))
            return
        self.model_server.faults.push(*faults)
        self.send_json({"queued": len(faults), "pending": len(self.model_server.faults)})


class _PropsHandler(_BaseHandler):
    """llama.cpp's ``GET /props``: the running context size (only in the llama.cpp flavour)."""

    def get(self) -> None:
        server = self.model_server
        if server.quirks.flavour != "llama.cpp":
            self.send_json(error_body("File Not Found", "not_found_error"), 404)
            return
        try:
            self.check_api_key()
        except _RequestError as error:
            self.send_error_body(error)
            return
        self.send_json(props_body(server.model, server.quirks.context_window
                                  or REPORTED_CONTEXT))


class _OllamaShowHandler(_BaseHandler):
    """Ollama's ``POST /api/show`` (only in the ollama flavour); ``num_ctx`` is the limit set."""

    def post(self) -> None:
        server = self.model_server
        if server.quirks.flavour != "ollama":
            self.set_status(404)
            self.set_header("Content-Type", "text/plain")
            self.finish(b"404 page not found")
            return
        try:
            body = orjson.loads(self.request.body)
        except orjson.JSONDecodeError:
            body = None
        name = (body.get("model") or body.get("name")) if isinstance(body, dict) else None
        if name not in (server.model, f"{server.model}:latest"):
            self.send_json({"error": f"model '{name}' not found"}, 404)
            return
        quirks = server.quirks
        self.send_json(ollama_show_body(quirks.context_window if quirks.modelfile_num_ctx
                                        else None))


class _OllamaPsHandler(_BaseHandler):
    """Ollama's ``GET /api/ps`` (only in the ollama flavour): the model once it has answered."""

    def get(self) -> None:
        server = self.model_server
        if server.quirks.flavour != "ollama":
            self.set_status(404)
            self.set_header("Content-Type", "text/plain")
            self.finish(b"404 page not found")
            return
        if not server.requests:
            self.send_json({"models": []})
            return
        self.send_json(ollama_ps_body(server.model, server.quirks.context_window))


class _ControlQuirksHandler(_BaseHandler):
    """Change the server's quirks from another process: ``{"context_window": 4096, ...}``."""

    def get(self) -> None:
        self.send_json(self.model_server.quirks.to_json())

    def post(self) -> None:
        try:
            quirks = self.model_server.quirks.updated(orjson.loads(self.request.body))
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            self.send_error_body(_RequestError(400, str(exc)))
            return
        self.model_server.quirks = quirks
        self.send_json(quirks.to_json())


class _ControlRequestsHandler(_BaseHandler):
    def get(self) -> None:
        records = list(self.model_server.requests)
        if self.get_query_argument("detail", "") in ("1", "true", "yes"):
            self.send_json([record.summary() for record in records])
        else:
            self.send_json([record.body for record in records])


class _ControlResetHandler(_BaseHandler):
    def post(self) -> None:
        self.model_server.reset()
        self.send_json({"reset": True})


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
            (r"/v1/models", _ModelsHandler, {"server": self}),
            (r"/v1/models/([^/]+)", _ModelsHandler, {"server": self}),
            (r"/v1/chat/completions", _ChatCompletionsHandler, {"server": self}),
            (r"/props", _PropsHandler, {"server": self}),
            (r"/api/show", _OllamaShowHandler, {"server": self}),
            (r"/api/ps", _OllamaPsHandler, {"server": self}),
            (r"/_control/faults", _ControlFaultsHandler, {"server": self}),
            (r"/_control/quirks", _ControlQuirksHandler, {"server": self}),
            (r"/_control/requests", _ControlRequestsHandler, {"server": self}),
            (r"/_control/reset", _ControlResetHandler, {"server": self}),
        ]
        return Application(
            routes,
            default_handler_class=_NotFoundHandler,
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

    def _record(self, request: Any) -> RecordedRequest:
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
