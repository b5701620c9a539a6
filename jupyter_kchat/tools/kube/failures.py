"""API error statuses and transport failures as :class:`ToolError` messages with advice.

Each message says what happened and what to do next, for the model and the user alike.
"""

from __future__ import annotations

from typing import Any

import msgspec
import urllib3

from ..errors import ToolError
from ..rbac import rbac_advice


class KubeConfigError(ToolError):
    """No usable cluster configuration: the message says exactly what to set."""


class ApiFailure(ToolError):
    """The API server answered with an error status; ``status`` and ``reason`` are kept for
    callers that handle one case themselves (a 404 that means "already gone")."""

    def __init__(self, message: str, status: int, reason: str = "", api_message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.api_message = api_message


class _Status(msgspec.Struct):
    """The ``Status`` body of an API error."""

    message: str = ""
    reason: str = ""
    code: int = 0
    details: dict[str, Any] | None = None


def _parse_status(body: bytes) -> _Status:
    try:
        return msgspec.json.decode(body, type=_Status)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Status()


def status_error(status: int, body: bytes, *, context: str, not_found: str | None) -> ApiFailure:
    """The failure for an error status of context ``context`` (``not_found`` replaces the
    generic 404 text)."""
    detail = _parse_status(body)
    message = detail.message or body[:300].decode(errors="replace").strip()
    reason = detail.reason
    if status == 401:
        text = (
            f"the API server rejected kchat's credentials (401 Unauthorized) for context "
            f"{context!r}: the token or client certificate in the kubeconfig is missing, "
            "wrong or expired. Refresh them (log in to your cloud provider again, or "
            "regenerate the kubeconfig) and retry."
        )
    elif status == 403:
        text = f"forbidden (403): {message}. {rbac_advice(message)}"
    elif status == 404:
        text = not_found or (
            f"{message or 'not found'} (404). Check the name and namespace with the list "
            "tools (list_namespaces, list_pods, list_deployments)."
        )
    elif status == 409:
        text = (
            f"conflict (409): {message}. The object changed or already exists; read it "
            "again and retry the change if it is still needed."
        )
    elif status == 410:
        text = f"the list expired while it was read (410 Gone: {message}); call the tool again."
    elif status == 422:
        text = f"the API server refused the change as invalid (422): {message}."
    elif status == 400:
        text = (
            f"the API server refused the request (400 Bad Request): {message}. Check the "
            "arguments (names; selectors are comma-separated key=value or key!=value terms)."
        )
    elif status == 429:
        text = (
            f"the API server is rate limiting requests (429: {message}); wait a moment and "
            "retry, with a narrower request (one namespace) if possible."
        )
    elif status >= 500:
        text = (
            f"the API server failed ({status} {reason or 'server error'}: {message}). It may "
            "be overloaded or unhealthy; retry shortly, or narrow the request (one "
            "namespace, a label_selector)."
        )
    else:
        text = f"the API server answered {status} {reason}: {message}"
    return ApiFailure(text, status, reason, message)


def transport_error(
    exc: urllib3.exceptions.HTTPError,
    timeout: float,
    *,
    server: str,
    context: str,
    in_cluster: bool,
) -> ToolError:
    """The failure for a request to ``server`` that got no HTTP answer."""
    cause: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        cause = exc.reason
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        return ToolError(
            f"cannot connect to the API server at {server} ({_short(cause)}). Is the "
            f"cluster running and reachable from here, and is the server of context "
            f"{context!r} right?"
        )
    if isinstance(cause, urllib3.exceptions.TimeoutError):
        return ToolError(
            f"the API server did not answer within {timeout:g} s ({server}). The "
            "cluster may be overloaded or unreachable; retry, or narrow the request (one "
            "namespace, a label_selector)."
        )
    if isinstance(cause, urllib3.exceptions.SSLError):
        trusted = (
            "the CA the pod's service account mounts (ca.crt), and the Service address in "
            "KUBERNETES_SERVICE_HOST"
            if in_cluster
            else f"the kubeconfig's certificate-authority data for context {context!r}"
        )
        return ToolError(f"TLS to the API server at {server} failed ({cause}). Check {trusted}.")
    if isinstance(cause, urllib3.exceptions.ProtocolError):
        return ToolError(
            f"the connection to the API server at {server} broke ({_short(cause)}); "
            "retry, and check the network if it keeps happening."
        )
    return ToolError(f"the request to the API server at {server} failed: {_short(cause)}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:200]
