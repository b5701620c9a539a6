"""Every server's way of saying a prompt did not fit reads as ``context_exceeded``, with the
sizes the server named shown to the user; other faults do not."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_kchat.llm.errors import context_exceeded


@pytest.mark.parametrize(
    ("text", "body", "window", "prompt"),
    [
        (
            (
                "request (5000 tokens) exceeds the available context size (4096 tokens), "
                "try increasing it"
            ),
            None,
            4096,
            5000,
        ),
        ("the request exceeds the available context size, try increasing it", None, None, None),
        (
            (
                "This model's maximum context length is 8192 tokens. However, your messages "
                "resulted in 9000 tokens. Please reduce the length of the messages."
            ),
            None,
            8192,
            9000,
        ),
        (
            (
                "This model's maximum context length is 2048 tokens. However, your request has "
                "3000 input tokens. Please reduce the length of the input messages."
            ),
            None,
            2048,
            3000,
        ),
        (
            (
                "This model's maximum context length is 4097 tokens. However, you requested 4162 "
                "tokens (4034 in the messages, 128 in the completion)."
            ),
            None,
            4097,
            4034,
        ),
        ("the input length exceeds the context length", None, None, None),
        ("Your input exceeds the context window of this model.", None, None, None),
        ("bad request", {"error": {"code": "context_length_exceeded"}}, None, None),
        (
            "bad request",
            {"error": {"type": "exceed_context_size_error", "n_ctx": 512, "n_prompt_tokens": 600}},
            512,
            600,
        ),
    ],
)
def test_each_servers_wording_is_context_exceeded_with_its_sizes(
    text: str, body: Any, window: int | None, prompt: int | None
) -> None:
    error = context_exceeded(text, body)
    assert error is not None and error.code == "context_exceeded" and error.retryable
    assert (error.context_window, error.prompt_tokens) == (window, prompt)
    if window and prompt:
        assert f"({prompt:,} tokens asked, {window:,} available)" in error.message
    assert "c.KChat.context_window" in error.message


@pytest.mark.parametrize(
    "text", ["failed to decode the batch", "model 'x' not found", "Invalid API key"]
)
def test_other_faults_are_not_context_exceeded(text: str) -> None:
    assert context_exceeded(text, {"error": {"message": text, "code": 400}}) is None
