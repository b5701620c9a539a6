"""The demo model server's JSON routes: the base every route shares, unknown URLs, /v1/models."""

from __future__ import annotations

import hmac
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from tornado.web import RequestHandler

from ..model_faults import REPORTED_CONTEXT
from .errors import STATUS_ERRORS, RequestError, error_body

if TYPE_CHECKING:
    from .server import ModelServer

OWNER = "kchat"


class BaseHandler(RequestHandler):
    """JSON responses and OpenAI-style errors for every route."""

    model_server: ModelServer

    def initialize(self, server: ModelServer) -> None:
        self.model_server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("x-request-id", f"req_{uuid.uuid4().hex}")

    def check_xsrf_cookie(self) -> None:
        """API clients send no XSRF cookie; this is a loopback test double."""

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(orjson.dumps(data))

    def send_error_body(self, error: RequestError, headers: dict[str, str] | None = None) -> None:
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.send_json(
            error_body(error.message, error.error_type, error.code, error.param), error.status
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message, error_type, code = STATUS_ERRORS.get(
            status_code, (self._reason, "invalid_request_error", None)
        )
        if status_code == 405:
            message = f"Method not allowed ({self.request.method} {self.request.path})"
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(error_body(message.replace("{model}", "?"), error_type, code)))

    def check_api_key(self) -> None:
        """401 unless ``Authorization: Bearer <key>`` matches the server's key (when it has one)."""
        expected = self.model_server.api_key
        if not expected:
            return
        header = self.request.headers.get("Authorization", "")
        if not header:
            raise RequestError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        given = header[7:] if header.lower().startswith("bearer ") else header
        if not hmac.compare_digest(given.encode(), expected.encode()):
            shown = f"{given[:3]}***{given[-4:]}" if len(given) > 8 else "***"
            raise RequestError(
                401,
                f"Incorrect API key provided: {shown}. Check the key the client is "
                "configured with.",
                code="invalid_api_key",
            )


class NotFoundHandler(BaseHandler):
    """OpenAI's answer for unknown routes."""

    def prepare(self) -> None:
        self.send_json(
            error_body(f"Invalid URL ({self.request.method} {self.request.path})",
                       "invalid_request_error"),
            404,
        )


class ModelsHandler(BaseHandler):
    def get(self, model_id: str | None = None) -> None:
        try:
            self.check_api_key()
        except RequestError as error:
            self.send_error_body(error)
            return
        entry: dict[str, Any] = {
            "id": self.model_server.model,
            "object": "model",
            "created": self.model_server.created,
            "owned_by": OWNER,
        }
        quirks = self.model_server.quirks
        if quirks.flavour == "vllm":
            entry.update(owned_by="vllm", root=entry["id"], parent=None, permission=[],
                         max_model_len=quirks.context_window or REPORTED_CONTEXT)
        if model_id is None:
            self.send_json({"object": "list", "data": [entry]})
        elif model_id == entry["id"]:
            self.send_json(entry)
        else:
            self.send_error_body(
                RequestError(404, f"The model '{model_id}' does not exist", code="model_not_found")
            )

