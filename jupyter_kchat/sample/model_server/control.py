"""``/_control/*``: faults, quirks, recorded requests and reset, from another process."""

from __future__ import annotations

import orjson

from ..model_faults import Fault
from .errors import RequestError
from .handlers import BaseHandler


class ControlFaultsHandler(BaseHandler):
    """Queue faults from another process: ``[{"kind": "status", "code": 429}, ...]``."""

    def get(self) -> None:
        self.send_json([fault.to_json() for fault in self.model_server.faults.pending()])

    def post(self) -> None:
        try:
            data = orjson.loads(self.request.body)
            items = data if isinstance(data, list) else [data]
            faults = [Fault.from_json(item) for item in items]
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            self.send_error_body(RequestError(400, str(exc)))
            return
        self.model_server.faults.push(*faults)
        self.send_json({"queued": len(faults), "pending": len(self.model_server.faults)})


class ControlQuirksHandler(BaseHandler):
    """Change the server's quirks from another process: ``{"context_window": 4096, ...}``."""

    def get(self) -> None:
        self.send_json(self.model_server.quirks.to_json())

    def post(self) -> None:
        try:
            quirks = self.model_server.quirks.updated(orjson.loads(self.request.body))
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            self.send_error_body(RequestError(400, str(exc)))
            return
        self.model_server.quirks = quirks
        self.send_json(quirks.to_json())


class ControlRequestsHandler(BaseHandler):
    """The recorded request bodies; ``?detail=1``: each request's summary."""

    def get(self) -> None:
        records = list(self.model_server.requests)
        if self.get_query_argument("detail", "") in ("1", "true", "yes"):
            self.send_json([record.summary() for record in records])
        else:
            self.send_json([record.body for record in records])


class ControlResetHandler(BaseHandler):
    """Forget requests and faults, back to the first quirks (between tests sharing a server)."""

    def post(self) -> None:
        self.model_server.reset()
        self.send_json({"reset": True})
