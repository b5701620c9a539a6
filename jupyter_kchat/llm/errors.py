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

# How each server says a request did not fit, searched for in any case in the error text and in
# the body's ``code`` and ``type``. The named groups, where a server says them: ``window`` is the
# context size, ``prompt`` the tokens the request had. Most telling first: a number is taken
# from the first wording that names it.
_OVERFLOWS: dict[str, str] = {
    # "request (N tokens) exceeds the available context size (M tokens), try increasing it";
    # older builds: "the request exceeds the available context size, try increasing it"
    "llama.cpp": r"(?:request \((?P<prompt>\d+) tokens\) )?exceeds the available context size"
    r"(?: \((?P<window>\d+) tokens\))?",
    "llama.cpp error type": r"exceed_context_size_error",
    "OpenAI": r"maximum context length is (?P<window>\d+) tokens\. However, your messages "
    r"resulted in (?P<prompt>\d+) tokens",
    "vLLM": r"maximum context length is (?P<window>\d+) tokens\. However, your request has "
    r"(?P<prompt>\d+) input tokens",
    "vLLM and OpenAI, older": r"maximum context length is (?P<window>\d+) tokens\. However, you "
    r"requested \d+ tokens \((?P<prompt>\d+) in the messages",
    "DeepSeek, LiteLLM": r"maximum context length(?: is (?P<window>\d+) tokens)?",
    "OpenAI error code": r"context_length_exceeded",
    "OpenAI, newer": r"exceeds the context window",
    "Ollama": r"input length exceeds the context length",
    "Anthropic-compatible": r"prompt is too long",
}


def _read_overflow(text: str) -> dict[str, int] | None:
    """The sizes the text names (``window``, ``prompt``) when it says a request did not fit,
    else None."""
    found = [re.search(pattern, text, re.IGNORECASE) for pattern in _OVERFLOWS.values()]
    matches = [match for match in found if match is not None]
    if not matches:
        return None
    sizes: dict[str, int] = {}
    for match in matches:
        for name, value in match.groupdict().items():
            if value is not None:
                sizes.setdefault(name, int(value))
    return sizes


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
    said = _read_overflow(f"{text} {inner.get('code') or ''} {inner.get('type') or ''}")
    if said is None:
        return None
    window = _int(inner.get("n_ctx")) or said.get("window")
    prompt = _int(inner.get("n_prompt_tokens")) or said.get("prompt")
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

