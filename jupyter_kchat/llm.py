"""The model side: an ``openai`` client for any OpenAI-compatible endpoint, streamed into deltas.

Retries of 429/5xx/connection failures before the stream starts are the SDK's own (exponential
backoff, Retry-After honoured). Everything that still goes wrong becomes a ``ModelError`` with a
code, a message a user can act on and whether trying again may help.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI


class ModelError(Exception):
    """A model fault the user sees as an ``error`` event."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass
class ToolCallRequest:
    """A tool call as the model asked for it; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """One model response, assembled from its stream."""

    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None


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
    ) -> None:
        self.base_url = base_url
        self.configured = bool(api_key or base_url)
        self._client = AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url,
            default_headers=extra_headers or None,
            max_retries=max_retries,
            timeout=timeout,
        )

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
    ) -> AsyncIterator[str | Completion]:
        """Yield text chunks as they arrive, then the assembled ``Completion`` last.

        Leaving the iteration early (cancel) closes the HTTP response, so the upstream request
        stops at once.
        """
        if not self.configured:
            raise ModelError(
                "model_not_configured",
                "No model endpoint is configured: set OPENAI_API_KEY, or OPENAI_BASE_URL for an "
                "OpenAI-compatible server (Ollama, vLLM, LiteLLM, Azure OpenAI), or "
                "c.KChat.api_key / c.KChat.base_url.",
                retryable=False,
            )
        request: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = tools
        try:
            stream = await self._client.chat.completions.create(**request)
        except openai.APIError as exc:
            raise self._translate(exc, model) from exc
        text: list[str] = []
        calls: dict[int, ToolCallRequest] = {}
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        try:
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage.model_dump(
                            include={"prompt_tokens", "completion_tokens", "total_tokens"}
                        )
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            text.append(delta.content)
                            yield delta.content
                        for fragment in delta.tool_calls or ():
                            call = calls.setdefault(fragment.index, ToolCallRequest("", "", ""))
                            if fragment.id:
                                call.id = fragment.id
                            if fragment.function is not None:
                                call.name += fragment.function.name or ""
                                call.arguments += fragment.function.arguments or ""
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except openai.APIError as exc:
            raise self._interrupted(exc) from exc
        if finish_reason is None:
            raise self._interrupted(None)
        tool_calls = [calls[i] for i in sorted(calls)]
        for position, call in enumerate(tool_calls):
            call.id = call.id or f"call_{position}"
        yield Completion("".join(text), tool_calls, finish_reason, usage)

    def _interrupted(self, exc: Exception | None) -> ModelError:
        detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return ModelError(
            "model_stream_interrupted",
            "The model's answer was cut off before it finished"
            f"{detail}. What arrived is kept; ask again to continue.",
            retryable=True,
        )

    def _translate(self, exc: Exception, model: str) -> ModelError:
        where = self.endpoint
        if isinstance(exc, openai.AuthenticationError):
            return ModelError(
                "model_auth",
                f"The model endpoint {where} rejected the API key (401). "
                "Check OPENAI_API_KEY or c.KChat.api_key.",
                retryable=False,
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return ModelError(
                "model_forbidden",
                f"The model endpoint refused access (403): {_detail(exc)}",
                retryable=False,
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelError(
                "model_not_found",
                f"Model {model!r} was not found at {where} (404). "
                "Check c.KChat.model or pick another model.",
                retryable=False,
            )
        if isinstance(exc, openai.RateLimitError):
            return ModelError(
                "rate_limited",
                "The model endpoint is rate limiting requests (429) and retries did not help. "
                f"Wait a moment and ask again. {_detail(exc)}",
                retryable=True,
            )
        if isinstance(exc, openai.BadRequestError):
            return ModelError(
                "model_bad_request",
                f"The model endpoint refused the request (400): {_detail(exc)}",
                retryable=False,
            )
        if isinstance(exc, openai.APIStatusError):
            return ModelError(
                "model_unavailable",
                f"The model endpoint failed ({exc.status_code}) and retries did not help: "
                f"{_detail(exc)}",
                retryable=exc.status_code >= 500,
            )
        if isinstance(exc, openai.APITimeoutError):
            return ModelError(
                "model_timeout",
                f"The model endpoint {where} did not answer in time.",
                retryable=True,
            )
        if isinstance(exc, openai.APIConnectionError):
            return ModelError(
                "model_unreachable",
                f"Could not reach the model endpoint {where}. Is it running, and is "
                "c.KChat.base_url / OPENAI_BASE_URL right?",
                retryable=True,
            )
        return ModelError("model_error", f"{type(exc).__name__}: {exc}", retryable=True)


def _detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
    return str(exc)[:500]
