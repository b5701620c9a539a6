"""Objects as the API stores them: serialized once, sorted by key, lists cached until a write."""

from __future__ import annotations

import base64
import binascii
import bisect
from itertools import accumulate
from typing import Any

import orjson

from ..cluster import Key, Obj
from .errors import ApiError
from .printers.common import Cells, resolve, resolve_span
from .resources import Resource, field_values
from .selectors import Requirement


class Entry:
    """One object with its serialized bytes and the values selectors look at."""

    __slots__ = ("_full", "_meta", "_printed", "_row", "fields", "item", "labels", "obj")

    def __init__(self, resource: Resource, obj: Obj) -> None:
        self.obj = obj
        full = orjson.dumps(obj)
        prefix = b'{"kind":"%s","apiVersion":"%s",' % (
            resource.kind.encode(),
            resource.api_version.encode(),
        )
        if full.startswith(prefix):
            self.item = b"{" + full[len(prefix) :]
        else:
            self.item = orjson.dumps(
                {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
            )
        self.labels: dict[str, str] = obj["metadata"].get("labels") or {}
        self.fields = field_values(resource, obj)
        self._meta: bytes | None = None
        self._full: tuple[str, bytes] | None = None
        self._row: tuple[Cells, list[Any]] | None = None
        self._printed: tuple[Cells, float, float, bytes] | None = None

    def full(self, resource: Resource) -> bytes:
        """The object as a single GET returns it (with kind and apiVersion), kept once built."""
        if self._full is None or self._full[0] != resource.api_version:
            head = b'{"kind":"%s","apiVersion":"%s"' % (
                resource.kind.encode(),
                resource.api_version.encode(),
            )
            body = head + (b"," + self.item[1:] if len(self.item) > 2 else b"}")
            self._full = (resource.api_version, body)
        return self._full[1]

    def row(self, cells: Cells) -> list[Any]:
        """The object's Table cells (clock-reading ones unresolved), kept once computed."""
        if self._row is None or self._row[0] is not cells:
            self._row = (cells, cells(self.obj))
        return self._row[1]

    def printed(self, cells: Cells, now: float) -> bytes:
        """The object's Table cells as JSON, printed for ``now``: kept while its age cells read
        the same, so listing 10,000 objects again joins bytes instead of printing every row."""
        cached = self._printed
        if cached is not None and cached[0] is cells and cached[1] <= now < cached[2]:
            return cached[3]
        row = self.row(cells)
        body = orjson.dumps(resolve(row, now))
        self._printed = (cells, *resolve_span(row, now), body)
        return body

    def printed_span(self) -> tuple[float, float]:
        """The times during which :meth:`printed`'s last bytes stay right."""
        cached = self._printed
        return (cached[1], cached[2]) if cached is not None else (float("inf"), float("-inf"))

    def metadata(self) -> bytes:
        """The object as a PartialObjectMetadata: metadata only, never data or spec."""
        if self._meta is None:
            self._meta = orjson.dumps(
                {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": self.obj["metadata"],
                }
            )
        return self._meta

    def matches(self, labels: list[Requirement], fields: list[tuple[str, bool, str]]) -> bool:
        """Whether the object passes a parsed label and field selector."""
        for requirement in labels:
            if not requirement(self.labels):
                return False
        values = self.fields
        return all((values.get(name, "") == value) == equal for name, equal, value in fields)


class Store:
    """A resource's objects sorted by key (as etcd lists them), with cached full lists."""

    def __init__(self, resource: Resource, objects: dict[Key, Obj]) -> None:
        self.resource = resource
        self.entries = {key: Entry(resource, obj) for key, obj in objects.items()}
        self.keys = sorted(self.entries)
        self._cache: dict[str | None, tuple[bytes, int]] = {}
        self._rows: dict[tuple[str | None, str, str], TableRows] = {}

    def put(self, key: Key, obj: Obj | None) -> None:
        if obj is None:
            if self.entries.pop(key, None) is not None:
                self.keys.pop(bisect.bisect_left(self.keys, key))
        else:
            if key not in self.entries:
                bisect.insort(self.keys, key)
            self.entries[key] = Entry(self.resource, obj)
        self._cache.clear()
        self._rows.clear()

    def span(self, namespace: str | None) -> tuple[int, int]:
        """Index range of the keys in one namespace (or all of them)."""
        if namespace is None:
            return 0, len(self.keys)
        return (
            bisect.bisect_left(self.keys, (namespace,)),
            bisect.bisect_left(self.keys, (namespace + "\x00",)),
        )

    def joined(self, namespace: str | None) -> tuple[bytes, int]:
        """All items of a namespace (or all), comma-joined; cached until the next write."""
        cached = self._cache.get(namespace)
        if cached is None:
            lo, hi = self.span(namespace)
            entries = self.entries
            cached = (b",".join([entries[k].item for k in self.keys[lo:hi]]), hi - lo)
            self._cache[namespace] = cached
        return cached

    def table_rows(
        self, resource: Resource, namespace: str | None, include: str, cells: Cells, now: float
    ) -> TableRows:
        """Every Table row of a namespace (or all) as :func:`row_parts` prints them, joined
        once and kept until the next write or until an age cell's wording changes, so a page
        is a slice of bytes as a plain list is."""
        key = (namespace, include, resource.api_version)
        cached = self._rows.get(key)
        if cached is None or not cached.fresh(cells, now):
            lo, hi = self.span(namespace)
            entries = self.entries
            cached = TableRows(
                resource, [entries[k] for k in self.keys[lo:hi]], include, cells, now, lo
            )
            self._rows[key] = cached
        return cached


ROW_OPEN = b'{"cells":'
ROW_OBJECT = b',"object":'
ROW_CLOSE = b"},"


def row_parts(
    resource: Resource, entries: list[Entry], include: str, cells: Cells, now: float
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """The Table rows of ``entries``, each ``{"cells":[...],"object":...}`` followed by a
    comma, as parts to join; and each row's printed cells and object (the object as
    ``includeObject`` asks: None, Metadata (the default) or Object)."""
    count = len(entries)
    printed = [entry.printed(cells, now) for entry in entries]
    if include == "None":
        objects = [b""] * count
    elif include == "Object":
        objects = [entry.full(resource) for entry in entries]
    else:
        objects = [entry.metadata() for entry in entries]
    step = 3 if include == "None" else 5
    parts = [ROW_CLOSE] * (count * step)
    parts[0::step] = [ROW_OPEN] * count
    parts[1::step] = printed
    if include != "None":
        parts[2::step] = [ROW_OBJECT] * count
        parts[3::step] = objects
    return parts, printed, objects


class TableRows:
    """Table rows of consecutive keys joined into one buffer, with where each row starts, and
    the time span during which every row prints the same."""

    __slots__ = ("cells", "data", "first", "lo", "offsets", "until")

    def __init__(
        self,
        resource: Resource,
        entries: list[Entry],
        include: str,
        cells: Cells,
        now: float,
        lo: int,
    ) -> None:
        parts, printed, objects = row_parts(resource, entries, include, cells, now)
        self.data = b"".join(parts)
        frame = len(ROW_OPEN) + len(ROW_CLOSE) + (len(ROW_OBJECT) if include != "None" else 0)
        sizes = map(len, printed), map(len, objects)
        self.offsets = [0, *accumulate(frame + a + b for a, b in zip(*sizes))]
        spans = [entry.printed_span() for entry in entries]
        self.first = max((span[0] for span in spans), default=float("-inf"))
        self.until = min((span[1] for span in spans), default=float("inf"))
        self.cells = cells
        self.lo = lo

    def fresh(self, cells: Cells, now: float) -> bool:
        """Whether these rows still print the same at ``now``."""
        return cells is self.cells and self.first <= now < self.until

    def slice(self, lo: int, hi: int) -> memoryview:
        """Rows ``lo`` to ``hi`` (store indices), comma-separated."""
        if hi <= lo:
            return memoryview(b"")
        start, end = self.offsets[lo - self.lo], self.offsets[hi - self.lo]
        return memoryview(self.data)[start : end - 1]


def encode_continue(revision: int, key: Key) -> str:
    start = f"{key[0]}/{key[1]}\x00" if key[0] else f"{key[1]}\x00"
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, namespaced: bool) -> Key:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start = data["start"]
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(start, str):
            raise ValueError("unsupported version")
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ApiError(400, f"continue key is not valid: {exc}") from None
    start = start.rstrip("\x00")
    if namespaced and "/" in start:
        ns, name = start.split("/", 1)
        return ns, name
    return "", start
