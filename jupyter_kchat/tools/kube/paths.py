"""REST paths of Kubernetes resources, objects and subresources."""

from __future__ import annotations

from urllib.parse import quote


def _quote(part: str) -> str:
    return quote(part, safe="")


def api_path(
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    *,
    group: str = "",
    subresource: str | None = None,
    version: str = "v1",
) -> str:
    """The REST path of a resource, an object or a subresource (all parts URL-quoted)."""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base += f"/namespaces/{_quote(namespace)}"
    base += f"/{resource}"
    if name:
        base += f"/{_quote(name)}"
    if subresource:
        base += f"/{subresource}"
    return base
