"""How big a model's context window is, asked of the endpoint where it tells.

vLLM lists ``max_model_len`` in ``GET /v1/models``, llama.cpp answers ``GET /props``
(``default_generation_settings.n_ctx``, the running context). Ollama's ``GET /api/ps`` has the
running context of a loaded model; before it is loaded, ``POST /api/show`` has ``num_ctx`` when
the model sets it, else only the model's own ``<arch>.context_length``, of which Ollama runs its
default unless told more. Other endpoints (OpenAI, LiteLLM, LM Studio) say nothing here: None.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import openai

OLLAMA_DEFAULT_CONTEXT = 4096
"""What Ollama runs a model with when neither ``num_ctx`` nor OLLAMA_CONTEXT_LENGTH says more."""
CLOUD_HOSTS = ("api.openai.com", "openai.azure.com", "api.deepseek.com", "openrouter.ai")
_NUM_CTX = re.compile(r"^num_ctx\s+(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Asked:
    """What the endpoint told; not ``settled`` when it was Ollama's default for a model it has
    not loaded yet (ask again once it has answered)."""

    size: int | None
    settled: bool = True


async def ask(client: openai.AsyncOpenAI, base_url: str, model: str) -> Asked:
    """Ask the endpoint with the ``openai`` client's own HTTP client and auth, no retries."""
    root = server_root(base_url)
    if root is None:
        return Asked(None)
    options: Any = {"max_retries": 0, "timeout": 10.0}
    with contextlib.suppress(openai.APIError, ValueError):
        size = from_models(await client.get("/models", cast_to=object, options=options), model)
        if size:
            return Asked(size)
    with contextlib.suppress(openai.APIError, ValueError):
        size = from_props(await client.get(f"{root}/props", cast_to=object, options=options))
        if size:
            return Asked(size)
    with contextlib.suppress(openai.APIError, ValueError):
        shown = await client.post(
            f"{root}/api/show", body={"model": model}, cast_to=object, options=options
        )
        size = from_ollama_show(shown)
        if size:
            with contextlib.suppress(openai.APIError, ValueError):
                running = from_ollama_ps(
                    await client.get(f"{root}/api/ps", cast_to=object, options=options), model
                )
                if running:
                    return Asked(running)
            return Asked(size, settled=_sets_num_ctx(shown))
    return Asked(None)


def server_root(base_url: str) -> str | None:
    """The server's root for its own endpoints (``.../v1`` dropped); None for cloud services."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if any(host == cloud or host.endswith("." + cloud) for cloud in CLOUD_HOSTS):
        return None
    path = parts.path.rstrip("/").removesuffix("/v1")
    return f"{parts.scheme}://{parts.netloc}{path}"


def from_models(body: Any, model: str) -> int | None:
    """vLLM's ``/v1/models``: ``max_model_len`` of the entry for ``model``."""
    entries = body.get("data") if isinstance(body, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("id") == model:
            return _positive(entry.get("max_model_len"))
    return None


def from_props(body: Any) -> int | None:
    """llama.cpp's ``/props``: the context each slot really has."""
    settings = body.get("default_generation_settings") if isinstance(body, dict) else None
    return _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None


def _sets_num_ctx(body: Any) -> bool:
    parameters = body.get("parameters") if isinstance(body, dict) else None
    return isinstance(parameters, str) and bool(_NUM_CTX.search(parameters))


def from_ollama_show(body: Any) -> int | None:
    """Ollama's ``/api/show``: ``num_ctx`` when the model sets it, else the default it runs."""
    if not isinstance(body, dict):
        return None
    parameters = body.get("parameters")
    if isinstance(parameters, str):
        match = _NUM_CTX.search(parameters)
        if match:
            return _positive(int(match.group(1)))
    info = body.get("model_info")
    if not isinstance(info, dict):
        return None
    trained = _positive(info.get(f"{info.get('general.architecture')}.context_length"))
    return min(trained, OLLAMA_DEFAULT_CONTEXT) if trained else None


def from_ollama_ps(body: Any, model: str) -> int | None:
    """Ollama's ``/api/ps``: the context the loaded ``model`` runs with."""
    entries = body.get("models") if isinstance(body, dict) else None
    names = (model, f"{model}:latest")
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and (entry.get("name") in names or entry.get("model") in names):
            return _positive(entry.get("context_length"))
    return None


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
