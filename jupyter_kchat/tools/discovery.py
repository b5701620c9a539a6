"""Which kinds a cluster serves, from its API discovery, and what kubectl would take for a kind.

The discovery documents are read once per cluster and cached: aggregated discovery (all groups in
two requests, as kubectl reads it from Kubernetes 1.26 on), else ``/api/v1``, ``/apis`` and
each group's preferred version; a kind that is not in the cache triggers one fresh read, so a CRD
installed a minute ago resolves without a restart. Names resolve as kubectl resolves them:
plural, singular, Kind or short name, case-insensitive, optionally qualified with a group
(``certificates.cert-manager.io``) or version and group (``deployments.v1.apps``); the core
group wins ties, then the server's own group order.
"""

from __future__ import annotations

import difflib
import threading
import time
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import msgspec

from .errors import ToolError
from .kube import KubeCluster

MAX_AGE = 600.0
"""Seconds a discovery read is trusted before it is read again even without a miss."""
PARALLEL_READS = 8
"""Group documents read at once (a real cluster serves 20-40 groups)."""


class _GroupVersion(msgspec.Struct, rename="camel"):
    group_version: str = ""
    version: str = ""


class _Group(msgspec.Struct, rename="camel"):
    name: str = ""
    versions: list[_GroupVersion] = []
    preferred_version: _GroupVersion | None = None


class _Resource(msgspec.Struct, rename="camel"):
    name: str = ""
    singular_name: str = ""
    namespaced: bool = False
    kind: str = ""
    verbs: list[str] = []
    short_names: list[str] = []
    categories: list[str] = []


class _ResourceList(msgspec.Struct, rename="camel"):
    group_version: str = ""
    resources: list[_Resource] = []


AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
"""What kubectl asks ``/api`` and ``/apis`` for: every group's resources in one document
(Kubernetes 1.26+), else the plain group list."""


class _Kind(msgspec.Struct):
    kind: str = ""


class _Subresource(msgspec.Struct):
    subresource: str = ""


class _DiscoveredResource(msgspec.Struct, rename="camel"):
    resource: str = ""
    response_kind: _Kind = msgspec.field(default_factory=_Kind)
    scope: str = ""
    singular_resource: str = ""
    verbs: list[str] = []
    short_names: list[str] = []
    categories: list[str] = []
    subresources: list[_Subresource] = []


class _DiscoveredVersion(msgspec.Struct):
    version: str = ""
    resources: list[_DiscoveredResource] = []
    freshness: str = ""


class _Name(msgspec.Struct):
    name: str = ""


class _DiscoveredGroup(msgspec.Struct):
    metadata: _Name = msgspec.field(default_factory=_Name)
    versions: list[_DiscoveredVersion] = []


class _Aggregated(msgspec.Struct):
    """``APIGroupDiscoveryList``, or a legacy document (then ``kind`` says which)."""

    kind: str = ""
    items: list[_DiscoveredGroup] = []
    groups: list[_Group] = []


@dataclass(frozen=True)
class Kind:
    """One resource the server serves, at its group's preferred version."""

    resource: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: frozenset[str] = frozenset()
    subresources: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        """``pods``, ``deployments.apps``, ``certificates.cert-manager.io``: what kubectl takes."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        """Whether objects carry a status worth reading (a ``status`` subresource is served)."""
        return "status" in self.subresources

    def names(self) -> set[str]:
        return {self.resource, self.singular, self.kind.lower(), *self.short_names}

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of the list, or of one object (namespace ignored for cluster kinds)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.resource}"
        if name:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base


def _aggregated_kinds(found: _DiscoveredGroup) -> list[Kind]:
    """A group's kinds at its preferred (first) version, from aggregated discovery."""
    version = found.versions[0]
    return [
        Kind(
            resource=res.resource,
            singular=res.singular_resource or res.response_kind.kind.lower(),
            kind=res.response_kind.kind,
            group=found.metadata.name,
            version=version.version,
            namespaced=res.scope == "Namespaced",
            short_names=tuple(s.lower() for s in res.short_names),
            verbs=frozenset(res.verbs),
            subresources=frozenset(s.subresource for s in res.subresources),
            categories=tuple(res.categories),
        )
        for res in version.resources
    ]


def _kinds(group: str, listed: _ResourceList) -> list[Kind]:
    version = listed.group_version.rpartition("/")[2]
    subresources: dict[str, set[str]] = {}
    for res in listed.resources:
        parent, _, sub = res.name.partition("/")
        if sub:
            subresources.setdefault(parent, set()).add(sub)
    return [
        Kind(
            resource=res.name,
            singular=res.singular_name or res.kind.lower(),
            kind=res.kind,
            group=group,
            version=version,
            namespaced=res.namespaced,
            short_names=tuple(s.lower() for s in res.short_names),
            verbs=frozenset(res.verbs),
            subresources=frozenset(subresources.get(res.name, ())),
            categories=tuple(res.categories),
        )
        for res in listed.resources
        if "/" not in res.name
    ]


class Discovery:
    """The cached discovery of one cluster; thread-safe (tool calls share it)."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self._kinds: list[Kind] = []
        self._groups: set[str] = set()
        self.unavailable: list[str] = []
        """Groups whose discovery failed at the last read (an aggregated API that is down)."""
        self._read_at = 0.0
        self._lock = threading.Lock()

    def kinds(self, timeout: float = 30.0) -> list[Kind]:
        """Every served kind (read now if never read, or older than :data:`MAX_AGE`)."""
        with self._lock:
            if not self._read_at or time.monotonic() - self._read_at > MAX_AGE:
                self._read(timeout)
            return self._kinds

    def serves_group(self, group: str, timeout: float = 30.0) -> bool:
        self.kinds(timeout)
        return group in self._groups

    def refresh(self, timeout: float = 30.0) -> list[Kind]:
        with self._lock:
            self._read(timeout)
            return self._kinds

    def resolve(self, text: str, timeout: float = 30.0) -> Kind:
        """The kind ``text`` names, as kubectl would resolve it (also a plural of a short name
        or Kind: ``pvcs``); a :class:`ToolError` naming close matches when nothing is called
        that."""
        wanted = text.strip()
        found = match(self.kinds(timeout), wanted)
        if found is None:
            found = match(self.refresh(timeout), wanted)
        if found is None and wanted.lower().endswith("s"):
            found = match(self._kinds, wanted[:-1]) or match(self._kinds, wanted[:-2])
        if found is None:
            raise ToolError(self._unknown(wanted))
        return found

    def _unknown(self, wanted: str) -> str:
        names = sorted({n for k in self._kinds for n in (k.resource, k.qualified)})
        close = difflib.get_close_matches(wanted.lower(), names, n=5, cutoff=0.6)
        text = f"the cluster serves no kind called {wanted!r} (checked its API discovery just now)."
        if close:
            text += f" Did you mean {', '.join(close)}?"
        text += (
            " A kind may be given as kubectl takes it: plural, singular, Kind or short name, "
            "optionally with its group (resource.group); list_resources kind=crd lists the "
            "custom resource definitions."
        )
        if self.unavailable:
            text += f" (Discovery failed for {', '.join(self.unavailable)}.)"
        return text

    def _read(self, timeout: float) -> None:
        cluster = self.cluster
        core = cluster.get("/api", _Aggregated, accept=AGGREGATED, timeout=timeout)
        apis = cluster.get("/apis", _Aggregated, accept=AGGREGATED, timeout=timeout)
        if core.kind == apis.kind == "APIGroupDiscoveryList":
            self._read_aggregated([*core.items, *apis.items])
        else:
            self._read_legacy(apis.groups, timeout)
        self._read_at = time.monotonic()

    def _read_aggregated(self, groups: list[_DiscoveredGroup]) -> None:
        """One document for all groups; a version marked Stale is an API that is down."""
        kinds: list[Kind] = []
        unavailable = []
        for found in groups:
            if not found.versions:
                continue
            if found.versions[0].freshness == "Stale":
                unavailable.append(found.metadata.name)
                continue
            kinds.extend(_aggregated_kinds(found))
        self._kinds = kinds
        self._groups = {g.metadata.name for g in groups if g.versions} - {"", *unavailable}
        self.unavailable = unavailable

    def _read_legacy(self, groups: list[_Group], timeout: float) -> None:
        """``/api/v1``, then each group's preferred version (read in parallel)."""
        cluster = self.cluster
        core = cluster.get("/api/v1", _ResourceList, timeout=timeout)
        wanted = [
            (g.name, (g.preferred_version or (g.versions or [_GroupVersion()])[0]).group_version)
            for g in groups
            if g.versions or g.preferred_version
        ]

        def read(item: tuple[str, str]) -> list[Kind] | ToolError:
            name, group_version = item
            try:
                listed = cluster.get(f"/apis/{group_version}", _ResourceList, timeout=timeout)
            except ToolError as exc:
                return exc
            return _kinds(name, listed)

        with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
            results = list(pool.map(read, wanted))
        kinds = _kinds("", core)
        unavailable = []
        for (name, _), result in zip(wanted, results, strict=True):
            if isinstance(result, ToolError):
                unavailable.append(name)
            else:
                kinds.extend(result)
        self._kinds = kinds
        self._groups = {name for name, _ in wanted} - set(unavailable)
        self.unavailable = unavailable


def _candidates(text: str) -> Iterable[tuple[str, str | None, str | None]]:
    """(resource, version, group) readings of a kind argument, most literal first."""
    low = text.lower()
    yield low, None, None
    head, dot, rest = low.partition(".")
    if not dot:
        return
    version, dot2, group = rest.partition(".")
    if dot2 and version[:1] == "v" and version[1:2].isdigit():
        yield head, version, group
    yield head, None, rest


def match(kinds: list[Kind], text: str) -> Kind | None:
    """The first kind (discovery order: core, then the server's group order) ``text`` names."""
    for name, version, group in _candidates(text):
        named = [k for k in kinds if name in k.names()]
        if group is None:
            if named:
                return named[0]
            continue
        exact = [k for k in named if k.group == group and version in (None, k.version)]
        if exact:
            return exact[0]
        prefixed = {k.group for k in named if k.group.startswith(group + ".")}
        if len(prefixed) == 1:
            return next(k for k in named if k.group in prefixed)
    return None


_registry: weakref.WeakKeyDictionary[KubeCluster, Discovery] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def discovery(cluster: KubeCluster) -> Discovery:
    """The shared discovery cache of ``cluster`` (one per cluster object)."""
    with _registry_lock:
        found = _registry.get(cluster)
        if found is None:
            found = _registry[cluster] = Discovery(cluster)
        return found


def resolve_kind(cluster: KubeCluster, text: str, timeout: float = 30.0) -> Kind:
    """Shorthand for ``discovery(cluster).resolve(text)``."""
    return discovery(cluster).resolve(text, timeout)
