"""What the demo model server does wrong or differently, as the real servers do it.

``Fault``: one scripted misbehaviour consumed by the next chat-completions request (a status, a
cut, a hang, a slow or stalled stream, a late first chunk, a context error, a looping answer).
``Quirks``: how the server behaves on every request, one real server's flavour at a time (a
context limit and the error text it answers with, reasoning deltas or ``<think>`` blocks, tool
calls in one piece without ids, no usage chunk, text next to tool calls, max_tokens honoured,
llama.cpp's ``/props`` or Ollama's ``/api/show``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

FaultKind = Literal[
    "status", "cut_after", "bad_tool_arguments", "hang", "slow", "first_chunk_after",
    "stall_after", "context_exceeded", "repeat", "error_after",
]
FAULT_KINDS: tuple[str, ...] = (
    "status", "cut_after", "bad_tool_arguments", "hang", "slow", "first_chunk_after",
    "stall_after", "context_exceeded", "repeat", "error_after",
)
ContextStyle = Literal["llama.cpp", "llama.cpp-old", "openai", "vllm", "ollama"]
CONTEXT_STYLES: tuple[str, ...] = ("llama.cpp", "llama.cpp-old", "openai", "vllm", "ollama")
ReasoningStyle = Literal["reasoning_content", "reasoning", "think"]
Flavour = Literal["openai", "llama.cpp", "ollama", "vllm"]
REPORTED_CONTEXT = 4096
"""The context ``/props`` and vLLM's ``/v1/models`` report when ``context_window`` is unset."""


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next chat-completions request.

    Build them with the class methods; ``code``/``message``/``retry_after_ms`` belong to
    ``status``, ``chunks`` to ``cut_after``/``stall_after``/``repeat``, ``delay`` to ``slow``,
    ``first_chunk_after`` and ``stall_after``, ``style``/``window`` to ``context_exceeded``,
    ``message`` to ``repeat`` (the repeated text) and ``chunks``/``style`` to ``error_after``.
    """

    kind: FaultKind
    code: int = 500
    message: str | None = None
    retry_after_ms: int | None = None
    chunks: int = 0
    delay: float = 0.0
    style: ContextStyle = "llama.cpp"
    window: int = 0

    @classmethod
    def status(
        cls, code: int, *, message: str | None = None, retry_after_ms: int | None = 10
    ) -> Fault:
        """Answer with this HTTP status and an OpenAI error body.

        ``retry-after-ms`` (default 10 ms) keeps the SDK's own retries of 429/5xx fast;
        pass None to leave the header out and get the SDK's exponential backoff.
        """
        return cls("status", code=code, message=message, retry_after_ms=retry_after_ms)

    @classmethod
    def cut_after(cls, chunks: int) -> Fault:
        """Stream ``chunks`` chunks, then drop the connection: no finish_reason, no [DONE]."""
        return cls("cut_after", chunks=chunks)

    @classmethod
    def bad_tool_arguments(cls) -> Fault:
        """The first tool call of the response gets truncated, invalid JSON arguments."""
        return cls("bad_tool_arguments")

    @classmethod
    def hang(cls) -> Fault:
        """Send the response headers and nothing more until the client disconnects."""
        return cls("hang")

    @classmethod
    def slow(cls, chunk_delay: float) -> Fault:
        """Wait ``chunk_delay`` seconds between chunks (once, before a non-streamed answer)."""
        return cls("slow", delay=chunk_delay)

    @classmethod
    def first_chunk_after(cls, seconds: float) -> Fault:
        """Headers at once, then nothing for ``seconds`` (a CPU reading a long prompt)."""
        return cls("first_chunk_after", delay=seconds)

    @classmethod
    def stall_after(cls, chunks: int, seconds: float = 3600.0) -> Fault:
        """Stream ``chunks`` chunks, then send nothing for ``seconds``, then go on."""
        return cls("stall_after", chunks=chunks, delay=seconds)

    @classmethod
    def context_exceeded(cls, style: ContextStyle = "llama.cpp", window: int = 4096) -> Fault:
        """Refuse this request as too long for a ``window``-token context, in ``style``."""
        if style not in CONTEXT_STYLES:
            raise ValueError(f"a context error style is one of {', '.join(CONTEXT_STYLES)}")
        return cls("context_exceeded", code=400, style=style, window=window)

    @classmethod
    def repeat(cls, text: str, times: int) -> Fault:
        """Answer ``text`` ``times`` times over, as a small model caught in a loop does."""
        return cls("repeat", message=text, chunks=times)

    @classmethod
    def error_after(cls, chunks: int, style: Literal["openai", "llama.cpp"] = "openai") -> Fault:
        """Stream ``chunks`` chunks, then an error event and close: OpenAI's
        ``data: {"error": ...}`` or llama.cpp's ``error: {...}`` line."""
        return cls("error_after", chunks=chunks, style=style)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """A fault from its JSON form, e.g. ``{"kind": "status", "code": 429}``."""
        if not isinstance(data, dict) or data.get("kind") not in FAULT_KINDS:
            raise ValueError(f"a fault needs a 'kind' out of {', '.join(FAULT_KINDS)}: {data!r}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if data["kind"] == "status" and "retry_after_ms" not in data:
            data = {**data, "retry_after_ms": 10}
        return cls(**data)


class FaultQueue:
    """FIFO of pending faults; safe to push from another thread than the server's."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()

    def push(self, *faults: Fault) -> None:
        self._queue.extend(faults)

    def pop(self) -> Fault | None:
        try:
            return self._queue.popleft()
        except IndexError:
            return None

    def clear(self) -> None:
        self._queue.clear()

    def pending(self) -> list[Fault]:
        return list(self._queue)

    def __len__(self) -> int:
        return len(self._queue)


@dataclass(frozen=True)
class Quirks:
    """How the server behaves on every request; the default is OpenAI's own API.

    ``context_window``: refuse prompts of more tokens (the server's estimate, the one its usage
    reports) with ``context_style``'s error. ``reasoning``: stream a short reasoning before each
    answer as that delta field or a ``<think>`` block. ``tool_calls_whole``: each call in one
    delta with its whole arguments and no ``id`` (llama.cpp). ``usage_chunk``: False sends none
    even when asked. ``text_with_tool_calls``: a sentence before the tool calls of a message.
    ``honour_max_tokens``: cut answers at ``max_tokens``/``max_completion_tokens`` with
    ``finish_reason: "length"`` (off by default so scripted long streams stay whole).
    ``refuse_field``: answer 400 "Unsupported parameter" to that field, as OpenAI's reasoning
    models do to ``max_tokens``. ``flavour``: which native endpoints answer besides ``/v1``:
    llama.cpp's ``GET /props``, Ollama's ``POST /api/show`` and ``GET /api/ps`` (the model is
    loaded once it has answered); vLLM's ``/v1/models`` entries carry ``max_model_len``.
    ``modelfile_num_ctx``: Ollama's model sets ``num_ctx`` (else ``context_window`` is the
    server-wide OLLAMA_CONTEXT_LENGTH, which only ``/api/ps`` tells).
    """

    context_window: int | None = None
    context_style: ContextStyle = "llama.cpp"
    reasoning: ReasoningStyle | None = None
    tool_calls_whole: bool = False
    usage_chunk: bool = True
    text_with_tool_calls: bool = False
    honour_max_tokens: bool = False
    refuse_field: Literal["max_tokens", "max_completion_tokens"] | None = None
    flavour: Flavour = "openai"
    modelfile_num_ctx: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, data: Any) -> Quirks:
        """These quirks with some fields changed, from JSON (``POST /_control/quirks``)."""
        if not isinstance(data, dict):
            raise TypeError("quirks are a JSON object of fields")
        unknown = set(data) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown quirks: {', '.join(sorted(unknown))}")
        for name, allowed in _CHOICES.items():
            if name in data and data[name] not in allowed:
                raise ValueError(f"{name} is one of {', '.join(map(repr, allowed))}")
        return replace(self, **data)


_CHOICES: dict[str, tuple[Any, ...]] = {
    "context_style": CONTEXT_STYLES,
    "reasoning": (None, *get_args(ReasoningStyle)),
    "refuse_field": (None, "max_tokens", "max_completion_tokens"),
    "flavour": get_args(Flavour),
}


def context_error(style: ContextStyle, prompt: int, window: int) -> tuple[dict[str, Any], int]:
    """The body and status a real server answers a too-long prompt with."""
    llama = (
        f"request ({prompt} tokens) exceeds the available context size ({window} tokens), "
        "try increasing it"
    )
    if style == "llama.cpp":
        return {"error": {"code": 400, "message": llama, "type": "exceed_context_size_error",
                          "n_prompt_tokens": prompt, "n_ctx": window}}, 400
    if style == "llama.cpp-old":
        return {"error": {"code": 400, "message": llama, "type": "invalid_request_error"}}, 400
    if style == "openai":
        return {"error": {
            "message": f"This model's maximum context length is {window} tokens. However, your "
            f"messages resulted in {prompt} tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded"}}, 400
    if style == "vllm":
        return {"error": {
            "message": f"This model's maximum context length is {window} tokens. However, your "
            f"request has {prompt} input tokens. Please reduce the length of the input messages.",
            "type": "BadRequestError", "param": None, "code": 400}}, 400
    return {"error": {"message": "the input length exceeds the context length",
                      "type": "api_error", "param": None, "code": None}}, 400


def stream_error_frame(style: str) -> bytes:
    """The SSE frame a server sends when generation fails mid-stream."""
    if style == "llama.cpp":
        return b'error: {"code":500,"message":"failed to decode the batch","type":"server_error"}\n\n'
    return (b'data: {"error":{"message":"The server had an error while processing your request. '
            b'Sorry about that!","type":"server_error","param":null,"code":null}}\n\n')


def props_body(model: str, n_ctx: int) -> dict[str, Any]:
    """llama.cpp's ``GET /props`` (the fields clients read, in its shape)."""
    return {
        "default_generation_settings": {
            "id": 0, "id_task": -1, "n_ctx": n_ctx, "speculative": False,
            "is_processing": False,
            "params": {"n_predict": -1, "temperature": 0.8, "top_k": 40, "top_p": 0.95},
        },
        "total_slots": 1,
        "model_path": f"/models/{model}.gguf",
        "chat_template": "{% for message in messages %}...{% endfor %}",
        "modalities": {"vision": False, "audio": False},
        "build_info": "b6000-kchatdemo",
    }


def ollama_ps_body(model: str, n_ctx: int | None) -> dict[str, Any]:
    """Ollama's ``GET /api/ps`` with ``model`` loaded, at its running context."""
    return {"models": [{
        "name": f"{model}:latest", "model": f"{model}:latest", "size": 3338801152,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M"},
        "expires_at": "2026-01-01T00:05:00Z", "size_vram": 3338801152,
        "context_length": n_ctx or REPORTED_CONTEXT,
    }]}


def ollama_show_body(n_ctx: int | None) -> dict[str, Any]:
    """Ollama's ``POST /api/show``: ``num_ctx`` only when the model sets it."""
    parameters = 'stop                           "<|eot_id|>"'
    if n_ctx is not None:
        parameters = f"num_ctx                        {n_ctx}\n{parameters}"
    return {
        "modelfile": "FROM /root/.ollama/models/blobs/sha256-demo\n",
        "parameters": parameters,
        "template": "{{ .Prompt }}",
        "details": {"parent_model": "", "format": "gguf", "family": "llama",
                    "families": ["llama"], "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "llama", "general.parameter_count": 3212749888,
                       "llama.context_length": 131072, "llama.embedding_length": 3072},
        "capabilities": ["completion", "tools"],
        "modified_at": "2026-01-01T00:00:00Z",
    }
