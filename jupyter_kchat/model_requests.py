"""A turn's model requests: each fitted to the context window, counted, retried once if too big.

The engine's loop stays about the protocol; this is where a request meets the window. A
``context_exceeded`` answer teaches :class:`ContextWindows` the real size, then the request is
fitted harder and sent once more; a second refusal is an error that says what to change. Every
finished request adds to the turn's usage (the server's counts, else our estimate).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from .context import (
    MIN_TOOL_CHARS,
    ContextTooSmall,
    ContextWindows,
    Fitted,
    answer_reserve,
    fit_request,
    tool_budget,
)
from .llm import Completion, ModelClient, ModelError
from .tokens import TokenCounter
from .usage import TurnUsage, price_of

log = logging.getLogger(__name__)

WINDOW_ADVICE = (
    "give the model a larger context: set c.KChat.context_window to the model's real size, or "
    "raise the server's context size (llama.cpp: -c / --ctx-size; Ollama: the num_ctx "
    "parameter; vLLM: --max-model-len; LM Studio: the model's context length)."
)


class FittedModel:
    """The model as one turn uses it: fitted requests, usage, and notices for cut answers."""

    def __init__(
        self,
        client: ModelClient,
        windows: ContextWindows,
        *,
        name: str,
        max_answer_tokens: int | None,
        prices: dict[str, list[float]],
    ) -> None:
        self.client = client
        self.windows = windows
        self.name = name
        self.max_answer_tokens = max_answer_tokens
        self.prices = prices
        self.counter = TokenCounter.for_model(name)
        self.usage = TurnUsage()
        self.window = 0

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[Any]:
        """One request's chunks (text, reasoning, then the ``Completion``), fitted first."""
        harder = False
        for attempt in range(2):
            self.window = await self.windows.size(self.name)
            fitted = self.fit(messages, tools, harder=harder)
            extra: dict[str, Any] = {}
            if self.max_answer_tokens:
                extra["max_tokens"] = min(self.max_answer_tokens, self.window - fitted.tokens)
            streamed = False
            try:
                async for item in self.client.stream(
                    model=self.name, messages=fitted.messages, tools=fitted.tools, **extra
                ):
                    if isinstance(item, Completion):
                        self._account(item, fitted)
                    streamed = True
                    yield item
                return
            except ModelError as exc:
                if exc.code != "context_exceeded" or streamed:
                    raise
                self.windows.learn_from_error(
                    self.name, exc.context_window, exc.prompt_tokens, self._unscaled(fitted)
                )
                harder = await self.windows.size(self.name) >= self.window
                if attempt:
                    raise ModelError(
                        "context_exceeded",
                        _too_big(exc.context_window or self.window, exc.prompt_tokens),
                        retryable=True,
                        context_window=exc.context_window,
                        prompt_tokens=exc.prompt_tokens,
                    ) from exc
                log.info("%s: context exceeded (%s); fitting harder", self.name, exc.message)

    def fit(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        harder: bool = False,
    ) -> Fitted:
        """``messages`` fitted to the window, or a ``context_exceeded`` error when they cannot."""
        reserve = answer_reserve(self.window, self.max_answer_tokens)
        scale = self.windows.info(self.name).scale
        try:
            try:
                return fit_request(
                    messages, tools, counter=self.counter, window=self.window, reserve=reserve,
                    scale=scale, harder=harder,
                )
            except ContextTooSmall:
                if not harder:
                    raise
                return fit_request(
                    messages, tools, counter=self.counter, window=self.window, reserve=reserve,
                    scale=scale,
                )
        except ContextTooSmall as exc:
            raise ModelError(
                "context_exceeded",
                f"This request needs about {exc.needed} tokens, but the model's context window "
                f"is {exc.window} ({reserve} of them kept for the answer): the system prompt, "
                "the tool descriptions and this message alone do not fit. Send a shorter "
                f"message, or {WINDOW_ADVICE}",
                retryable=False,
            ) from None

    def tool_budget(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        calls: int,
        ceiling: int,
    ) -> int:
        """Characters each of this round's ``calls`` results may use: a share of the room the
        next request has left, ``ceiling`` (``c.KChat.tool_result_budget``) at most."""
        try:
            fitted = self.fit(messages, tools)
        except ModelError:
            return min(ceiling, MIN_TOOL_CHARS)
        return tool_budget(fitted, calls, self.counter, ceiling)

    def stop_notice(self, finish_reason: str | None) -> str | None:
        """A visible line when the model was stopped before it finished its answer."""
        if finish_reason == "length":
            limit = self.max_answer_tokens
            where = f"c.KChat.max_answer_tokens = {limit}" if limit else "the model server's"
            return (
                f"*(The answer was cut off at the length limit ({where}). Raise "
                "c.KChat.max_answer_tokens for longer answers, or ask for a shorter one.)*"
            )
        if finish_reason == "repetition":
            return (
                "*(The answer was stopped because it kept repeating the same text. Ask again, "
                "perhaps more narrowly.)*"
            )
        return None

    def usage_data(self) -> dict[str, Any] | None:
        """``complete.data.usage`` for the turn so far (None before any request finished)."""
        return self.usage.data(window=self.window, price=price_of(self.name, self.prices))

    def _unscaled(self, fitted: Fitted) -> int:
        return int(fitted.tokens / self.windows.info(self.name).scale)

    def _account(self, completion: Completion, fitted: Fitted) -> None:
        calls = "".join(c.name + c.arguments for c in completion.tool_calls)
        self.usage.add(
            completion.usage, fitted.tokens, self.counter.count(completion.text + calls)
        )
        reported = (completion.usage or {}).get("prompt_tokens")
        self.windows.calibrate(self.name, reported, self._unscaled(fitted))


def _too_big(window: int, prompt_tokens: int | None) -> str:
    counted = f"; the server counted {prompt_tokens:,}" if prompt_tokens else ""
    return (
        "The request did not fit the model's context window even after kchat left out older "
        f"messages and tool results ({window:,} tokens{counted}). To fix it, {WINDOW_ADVICE} "
        "The next question is fitted more tightly; a new conversation also starts small."
    )
