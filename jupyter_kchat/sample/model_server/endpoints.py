"""llama.cpp's and Ollama's own endpoints, served only in their flavour (404 as they do otherwise).

kchat reads the running context size from them: llama.cpp's ``GET /props``, Ollama's
``POST /api/show`` and ``GET /api/ps``.
"""

from __future__ import annotations

from typing import ClassVar

import orjson

from ..model_faults import REPORTED_CONTEXT, Flavour, ollama_ps_body, ollama_show_body, props_body
from .errors import RequestError, error_body
from .handlers import BaseHandler

# The 404 each server's own routes answer with outside their flavour: the body and its type.
_NOT_FOUND: dict[Flavour, tuple[bytes, str]] = {
    "llama.cpp": (
        orjson.dumps(error_body("File Not Found", "not_found_error")),
        "application/json",
    ),
    # Go's net/http mux, which Ollama serves with.
    "ollama": (b"404 page not found", "text/plain"),
}


class FlavourHandler(BaseHandler):
    """A route only ``flavour``'s server has: 404 unless the demo server runs as that one."""

    flavour: ClassVar[Flavour]

    def prepare(self) -> None:
        if self.model_server.quirks.flavour != self.flavour:
            body, content_type = _NOT_FOUND[self.flavour]
            self.set_status(404)
            self.set_header("Content-Type", content_type)
            self.finish(body)


class PropsHandler(FlavourHandler):
    """llama.cpp's ``GET /props``: the running context size."""

    flavour = "llama.cpp"

    def get(self) -> None:
        try:
            self.check_api_key()
        except RequestError as error:
            self.send_error_body(error)
            return
        server = self.model_server
        self.send_json(props_body(server.model, server.quirks.context_window or REPORTED_CONTEXT))


class OllamaShowHandler(FlavourHandler):
    """Ollama's ``POST /api/show``; ``num_ctx`` is the limit set."""

    flavour = "ollama"

    def post(self) -> None:
        server = self.model_server
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


class OllamaPsHandler(FlavourHandler):
    """Ollama's ``GET /api/ps``: the model once it has answered."""

    flavour = "ollama"

    def get(self) -> None:
        server = self.model_server
        if not server.requests:
            self.send_json({"models": []})
            return
        self.send_json(ollama_ps_body(server.model, server.quirks.context_window))
