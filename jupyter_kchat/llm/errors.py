"""What goes wrong with a model endpoint, as ``ModelError`` codes a user can act on.

Every endpoint words its faults differently; this module is the one place that reads their
texts (OpenAI, llama.cpp old and new, vLLM, Ollama) and turns them into one vocabulary.
"""

from __future__ import annotations

import re
from typing import Any

import openai

CONTEXT_HINT = (
    "Raise c.KChat.context_window and the server's context size (llama.cpp -c, Ollama num_ctx, "
    "vLLM --max-model-len), or start a new conversation."
)

_CONTEXT_PHRASES = (
    "exceeds the available context size",  # llama.cpp
    "exceed_context_size_error",  # llama.cpp's error type
    "maximum context length",  # OpenAI, vLLM, DeepSeek, LiteLLM
    "context_length_exceeded",  # OpenAI's code
    "input length exceeds the context length",  # Ollama
    "exceeds the context window",  # OpenAI's newer wording
    "prompt is too long",
)
_WINDOW_PATTERNS = (
    re.compile(r"available context size \((\d+) tokens\)"),
    re.compile(r"maximum context length is (\d+) tokens"),
)
_PROMPT_PATTERNS = (
    re.compile(r"request \((\d+) tokens\) exceeds"),
    re.compile(r"your messages resulted in (\d+) tokens"),
    re.compile(r"requested \d+ tokens \((\d+) in the messages"),
    re.compile(r"your request has (\d+) input tokens"),
)


class ModelError(Exception):
    """A model fault the user sees as an ``error`` event.

    ``context_window`` and ``prompt_tokens`` are set on ``context_exceeded`` when the endpoint
    said them (None when it did not).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        context_window: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.context_window = context_window
        self.prompt_tokens = prompt_tokens


def not_configured() -> ModelError:
    return ModelError(
        "model_not_configured",
        "No model endpoint is configured: set OPENAI_API_KEY, or OPENAI_BASE_URL for an "
        "OpenAI-compatible server (Ollama, vLLM, LiteLLM, Azure OpenAI), or "
        "c.KChat.api_key / c.KChat.base_url.",
        retryable=False,
    )


def first_token_timeout(endpoint: str, seconds: float) -> ModelError:
    return ModelError(
        "model_timeout",
        f"The model at {endpoint} sent nothing within {seconds:g} s. Local models on a CPU can "
        "need minutes for a long prompt: raise c.KChat.first_token_timeout, use a smaller model, "
        "or ask again.",
        retryable=True,
    )


def stalled(seconds: float, *, kept: bool) -> ModelError:
    return ModelError(
        "model_stalled",
        f"The model stopped sending for {seconds:g} s in the middle of its answer"
        f"{_kept(kept)} (c.KChat.stream_stall_timeout sets how long kchat waits).",
        retryable=True,
    )


def interrupted(detail: str, *, kept: bool) -> ModelError:
    """The stream broke: ``model_stream_interrupted`` only when some answer had arrived."""
    if not kept:
        return ModelError(
            "model_unavailable",
            f"The model endpoint closed its answer before sending anything{detail}. Ask again.",
            retryable=True,
        )
    return ModelError(
        "model_stream_interrupted",
        f"The model's answer was cut off before it finished{detail}{_kept(True)}.",
        retryable=True,
    )


def _kept(kept: bool) -> str:
    return ". What arrived is kept; ask again to continue" if kept else ". Ask again"


def context_exceeded(text: str, body: Any = None) -> ModelError | None:
    """``context_exceeded`` when the error says the request did not fit, else None."""
    inner = _inner(body)
    code = str(inner.get("code") or "")
    kind = str(inner.get("type") or "")
    lowered = text.lower()
    if not (
        code == "context_length_exceeded"
        or kind == "exceed_context_size_error"
        or any(phrase in lowered for phrase in _CONTEXT_PHRASES)
    ):
        return None
    window = _int(inner.get("n_ctx")) or _first_number(_WINDOW_PATTERNS, text)
    prompt = _int(inner.get("n_prompt_tokens")) or _first_number(_PROMPT_PATTERNS, text)
    sizes = ""
    if prompt and window:
        sizes = f" ({prompt:,} tokens asked, {window:,} available)"
    elif window:
        sizes = f" ({window:,} tokens available)"
    return ModelError(
        "context_exceeded",
        f"The conversation no longer fits the model's context window{sizes}. {CONTEXT_HINT}",
        retryable=True,
        context_window=window,
        prompt_tokens=prompt,
    )


def translate(exc: Exception, *, endpoint: str, model: str) -> ModelError:
    """The ``ModelError`` for an exception the ``openai`` client raised."""
    detail = error_detail(exc)
    if isinstance(exc, openai.APIStatusError):
        overflow = context_exceeded(detail, getattr(exc, "body", None))
        if overflow is not None and exc.status_code in (400, 413, 422, 500):
            return overflow
    if isinstance(exc, openai.AuthenticationError):
        return ModelError(
            "model_auth",
            f"The model endpoint {endpoint} rejected the API key (401). "
            "Check OPENAI_API_KEY or c.KChat.api_key.",
            retryable=False,
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return ModelError(
            "model_forbidden", f"The model endpoint refused access (403): {detail}",
            retryable=False,
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelError(
            "model_not_found",
            f"Model {model!r} was not found at {endpoint} (404). "
            "Check c.KChat.model or pick another model.",
            retryable=False,
        )
    if isinstance(exc, openai.RateLimitError):
        return ModelError(
            "rate_limited",
            "The model endpoint is rate limiting requests (429) and retries did not help. "
            f"Wait a moment and ask again. {detail}",
            retryable=True,
        )
    if isinstance(exc, openai.BadRequestError):
        return ModelError(
            "model_bad_request", f"The model endpoint refused the request (400): {detail}",
            retryable=False,
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelError(
            "model_unavailable",
            f"The model endpoint failed ({exc.status_code}) and retries did not help: {detail}",
            retryable=exc.status_code >= 500,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ModelError(
            "model_timeout", f"The model endpoint {endpoint} did not answer in time.",
            retryable=True,
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelError(
            "model_unreachable",
            f"Could not reach the model endpoint {endpoint}. Is it running, and is "
            "c.KChat.base_url / OPENAI_BASE_URL right?",
            retryable=True,
        )
    return ModelError("model_error", f"{type(exc).__name__}: {exc}", retryable=True)


def stream_error(payload: Any, *, kept: bool) -> ModelError:
    """An error the server sent inside the stream (``data: {"error": ...}`` or ``error:``)."""
    inner = _inner(payload)
    text = str(inner.get("message") or payload)[:500]
    overflow = context_exceeded(text, payload)
    if overflow is not None:
        return overflow
    return interrupted(f" (the endpoint reported: {text})", kept=kept)


def error_detail(exc: Exception) -> str:
    """The endpoint's own message: OpenAI's ``{"error": {"message"}}``, vLLM's and Ollama's."""
    body = getattr(exc, "body", None)
    inner = _inner(body)
    if inner.get("message"):
        return str(inner["message"])[:500]
    if isinstance(body, str) and body:
        return body[:500]
    return str(exc)[:500]


def _inner(body: Any) -> dict[str, Any]:
    """The error object of a body: ``{"error": {...}}``, ``{"error": "text"}`` or flat."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("error", body)
    if isinstance(inner, str):
        return {"message": inner}
    return inner if isinstance(inner, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None
