"""What a turn cost, for people: tokens, the share of the context window, dollars where known.

Servers that send no usage chunk (some local ones) are counted with our own tokenizer and the
result says ``estimated``. Prices are USD per million tokens, from ``c.KChat.model_prices`` or a
short table of well-known models; no price, no ``cost_usd``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KNOWN_PRICES: tuple[tuple[str, float, float], ...] = (
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("o4-mini", 1.10, 4.40),
    ("o3-mini", 1.10, 4.40),
)
"""(name prefix, USD per 1M prompt tokens, per 1M completion tokens), most specific first."""


def price_of(model: str, configured: Mapping[str, Sequence[float]]) -> tuple[float, float] | None:
    """USD per million prompt and completion tokens for ``model``, or None when unknown."""
    if model in configured:
        prompt, completion = configured[model]
        return float(prompt), float(completion)
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, prompt, completion in KNOWN_PRICES:
        if name.startswith(prefix):
            return prompt, completion
    return None


@dataclass
class TurnUsage:
    """Tokens of every model request of one turn, and of the last one (the context in use)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_prompt: int = 0
    last_completion: int = 0
    estimated: bool = False
    requests: int = 0

    def add(self, reported: Mapping[str, Any] | None, prompt_estimate: int,
            completion_estimate: int) -> None:
        """One finished request: the server's counts when it sent them, else our estimates."""
        prompt = int((reported or {}).get("prompt_tokens") or 0)
        completion = int((reported or {}).get("completion_tokens") or 0)
        if not reported or not prompt:
            prompt, completion, self.estimated = prompt_estimate, completion_estimate, True
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.last_prompt, self.last_completion = prompt, completion
        self.requests += 1

    def data(self, *, window: int, price: tuple[float, float] | None) -> dict[str, Any] | None:
        """``complete.data.usage``: None when no request finished."""
        if not self.requests:
            return None
        used = (self.last_prompt + self.last_completion) / window if window else 0.0
        data: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "context_window": window,
            "context_used": round(min(1.0, used), 3),
        }
        if price is not None:
            cost = (self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6
            data["cost_usd"] = round(cost, 6)
        if self.estimated:
            data["estimated"] = True
        return data
