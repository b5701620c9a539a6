"""What a request addresses: discovery or a resource (group, version, namespace, name,
subresource), and the representation its Accept header asks for."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from ..cluster import Obj
from . import discovery
from .errors import ApiError, no_route
from .resources import Catalog, Resource
from .selectors import Requirement


class Seen(NamedTuple):
    """A request the emulation received, for tests to assert on."""

    method: str
    path: str
    query: dict[str, str]
    user: str = ""
    """Who the bearer token says sent it ("" when the token is missing or unknown)."""


@dataclass
class Route:
    """What a request path addresses."""

    resource: Resource | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    discovery: Callable[[], Obj] | None = None
    aggregated: Callable[[], Obj] | None = None
    """The apidiscovery v2 document, for ``/api`` and ``/apis`` only."""


@dataclass
class Watcher:
    """An open watch: where to send changes and which objects it wants."""

    resource: Resource
    namespace: str | None
    labels: list[Requirement]
    fields: list[tuple[str, bool, str]]
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


def resolve(catalog: Catalog, port: int, path: str) -> Route:
    """Resolve a request path to discovery or a resource address, or raise 404."""
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return Route(discovery=discovery.version_info)
    if parts == ["api"]:
        return Route(
            discovery=lambda: discovery.api_versions(port),
            aggregated=lambda: discovery.aggregated(catalog, legacy=True),
        )
    if parts == ["apis"]:
        return Route(
            discovery=lambda: discovery.api_group_list(catalog),
            aggregated=lambda: discovery.aggregated(catalog, legacy=False),
        )
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
        if version != "v1":
            raise no_route()
    elif parts[:1] == ["apis"] and len(parts) >= 2:
        known = catalog.group(parts[1])
        if known is None or not parts[1]:
            raise no_route()
        if len(parts) == 2:
            return Route(discovery=lambda: discovery.api_group(known))
        group, version, rest = parts[1], parts[2], parts[3:]
        if version not in known.versions:
            raise no_route()
    else:
        raise no_route()
    if not rest:
        return Route(discovery=lambda: discovery.resource_list(catalog, group, version))
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = catalog.lookup(group, version, rest[0])
    if resource is None or (namespace is not None and not resource.namespaced):
        raise no_route()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3 or (sub and sub not in resource.subresources):
        raise no_route()
    if name is not None and resource.namespaced and namespace is None:
        raise no_route()
    return Route(resource, namespace, name, sub)


def int_param(query: dict[str, str], name: str) -> int | None:
    """An integer query parameter, with the API server's parse error."""
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def negotiate(accept: str) -> str | None:
    """Pick "json", "table", "meta" or "aggregated" from an Accept header as the API server
    would; None: 406."""
    if not accept.strip():
        return "json"
    for part in accept.split(","):
        media, *raw = [p.strip() for p in part.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        if media.lower() not in ("application/json", "*/*", "application/*"):
            continue
        as_kind = params.get("as")
        if as_kind is None:
            return "json"
        if (
            as_kind == "APIGroupDiscoveryList"
            and params.get("g") == "apidiscovery.k8s.io"
            and params.get("v") == "v2"
        ):
            return "aggregated"
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if as_kind == "Table":
            return "table"
        if as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return "meta"
    return None
