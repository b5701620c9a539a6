"""Errors as the API server words them: every failure is a ``Status`` object."""

from __future__ import annotations

from typing import ClassVar

import orjson

from ..cluster import Obj
from .resources import Resource


class ApiError(Exception):
    """An error the API answers with a ``Status`` object."""

    REASONS: ClassVar[dict[int, str]] = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        406: "NotAcceptable",
        409: "Conflict",
        410: "Expired",
        415: "UnsupportedMediaType",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }

    def __init__(
        self,
        code: int,
        message: str,
        details: Obj | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.reason = self.REASONS.get(code, "Unknown") if reason is None else reason
        self.headers = headers or {}

    def body(self) -> bytes:
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return orjson.dumps(status)


def details(resource: Resource, name: str | None) -> Obj:
    out: Obj = {}
    if name:
        out["name"] = name
    if resource.group:
        out["group"] = resource.group
    out["kind"] = resource.name
    return out


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, f'{resource.qualified} "{name}" not found', details(resource, name))


def forbidden(
    user: str,
    verb: str,
    resource: Resource,
    namespace: str | None,
    name: str | None,
    subresource: str | None = None,
) -> ApiError:
    """The RBAC denial exactly as the API server words it."""
    what = resource.name + (f"/{subresource}" if subresource else "")
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    reason = (
        f'User "{user}" cannot {verb} resource "{what}" in API group "{resource.group}" {scope}'
    )
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    return ApiError(403, f"{subject} is forbidden: {reason}", details(resource, name))


def invalid(
    kind: str, name: str, field_path: str, detail: str, reason: str = "FieldValueInvalid"
) -> ApiError:
    """A 422 for one bad field; ``kind`` is qualified like ``Deployment.apps``."""
    return ApiError(
        422,
        f'{kind} "{name}" is invalid: {field_path}: {detail}',
        {
            "name": name,
            "group": kind.split(".", 1)[1] if "." in kind else "",
            "kind": kind.split(".", 1)[0],
            "causes": [{"reason": reason, "message": detail, "field": field_path}],
        },
    )


def no_route() -> ApiError:
    """The 404 for a path no resource serves."""
    return ApiError(404, "the server could not find the requested resource", {}, reason="NotFound")
