"""llama.cpp's and Ollama's own endpoints, served only in their flavour (404 as they do otherwise).

kchat reads the running context size from them: llama.cpp's ``GET /props``, Ollama's
``POST /api/show`` and ``GET /api/ps``.
"""

from __future__ import annotations

import orjson

from ..model_faults import REPORTED_CONTEXT, ollama_ps_body, ollama_show_body, props_body
from .errors import RequestError, error_body
from .handlers import BaseHandler


class PropsHandler(BaseHandler):
    """llama.cpp's ``GET /props``: the running context size (only in the llama.cpp flavour)."""

    def get(self) -> None:
        server = self.model_server
        if server.quirks.flavour != "llama.cpp":
            self.send_json(error_body("File Not Found", "not_found_error"), 404)
            return
        try:
            self.check_api_key()
        except RequestError as error:
            self.send_error_body(error)
            return
        self.send_json(props_body(server.model, server.quirks.context_window
                                  or REPORTED_CONTEXT))


class OllamaShowHandler(BaseHandler):
    """Ollama's ``POST /api/show`` (only in the ollama flavour); ``num_ctx`` is the limit set."""

    def post(self) -> None:
        server = self.model_server
        if server.quirks.flavour != "ollama":
            self.set_status(404)
            self.set_header("Content-Type", "text/plain")
            self.finish(b"404 page not found")
            return
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


class OllamaPsHandler(BaseHandler):
    """Ollama's ``GET /api/ps`` (only in the ollama flavour): the model once it has answered."""

    def get(self) -> None:
        server = self.model_server
        if server.quirks.flavour != "ollama":
            self.set_status(404)
            self.set_header("Content-Type", "text/plain")
            self.finish(b"404 page not found")
            return
        if not server.requests:
            self.send_json({"models": []})
            return
        self.send_json(ollama_ps_body(server.model, server.quirks.context_window))
