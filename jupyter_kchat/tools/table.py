"""The API server's own Table for any list: what ``kubectl get`` prints, read page by page.

Rows are requested as ``as=Table`` (``includeObject=Object`` only for kinds with a status, which
the health rules read; never for Secrets), decoded with msgspec into just the cells, the
object's name, namespace and deletion time and the status fields the health rules read
(:class:`~.conditions.Health`; a status that does not fit it is decoded whole), and turned into
text cells the way kubectl prints them, column by column. Cells from the cluster pass
redaction, one pass per column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any, Generic, TypeVar

import msgspec

from .conditions import Health
from .discovery import Kind
from .errors import ToolError
from .kube import PAGE_SIZE, ApiFailure, KubeCluster, paused_gc
from .redact import redact_text
from .shape import human_age, parse_time

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
SECRET_KINDS = frozenset({("", "secrets")})
"""Kinds whose objects are never fetched in full (their data are credentials)."""


class Column(msgspec.Struct, gc=False):
    name: str = ""
    type: str = ""
    format: str = ""
    priority: int = 0


class _RowMeta(msgspec.Struct, rename="camel", gc=False):
    name: str = ""
    namespace: str = ""
    deletion_timestamp: str | None = None


S = TypeVar("S")


class RowObject(msgspec.Struct, Generic[S], gc=False):
    """A row's object: its metadata and its status (a :class:`Health`, or the whole JSON
    status when it does not fit one)."""

    metadata: _RowMeta = msgspec.field(default_factory=_RowMeta)
    status: S | None = None


class Row(msgspec.Struct, Generic[S], gc=False):
    cells: list[Any] = []
    object: RowObject[S] | None = None


class _TableMeta(msgspec.Struct, gc=False):
    continue_: str = msgspec.field(default="", name="continue")


class _Table(msgspec.Struct, Generic[S], rename="camel", gc=False):
    column_definitions: list[Column] = []
    rows: list[Row[S]] = []
    metadata: _TableMeta = msgspec.field(default_factory=_TableMeta)


@dataclass
class Table:
    """A whole list as the server printed it."""

    columns: list[Column]
    rows: list[Row[Any]]


PAGE_BYTES = 8 << 20
"""About how big the pages after the first are: 2 requests for 10,000 Certificates."""


def _include(kind: Kind) -> str:
    """Full objects only where the health rules need a status; never for Secrets."""
    secret = (kind.group, kind.resource) in SECRET_KINDS
    return "Object" if kind.has_status and not secret else "Metadata"


_TABLE_DECODER = msgspec.json.Decoder(_Table[Health])
_ANY_STATUS_DECODER = msgspec.json.Decoder(_Table[Any])


def _decode_table(data: bytes, cluster: KubeCluster, path: str) -> _Table[Any]:
    """The page, its statuses as :class:`Health`; a page with a status of another shape (a
    custom resource's own fields) decoded again with its statuses whole."""
    try:
        with paused_gc():
            try:
                return _TABLE_DECODER.decode(data)
            except msgspec.ValidationError:
                return _ANY_STATUS_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ToolError(
            f"the API server at {cluster.server} answered {path} with something that is not a "
            f"Table ({exc}); is the kubeconfig's server really a Kubernetes API?"
        ) from None


def read_table(
    cluster: KubeCluster,
    kind: Kind,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout: float = 30.0,
    page_size: int = PAGE_SIZE,
    each_page: Callable[[Table, bool], None] | None = None,
) -> Table:
    """Every row of a list in the server's Table format, paged with ``limit``/``continue``.

    The first page has ``page_size`` rows; the next ones as many as make about
    :data:`PAGE_BYTES` at the first page's bytes per row (never fewer than ``page_size``): rows
    of metadata are small, and every request is a round trip. ``each_page(page, first)`` (if
    given) works on each page as it arrives, so only one page's bytes are held at a time.
    Pages are read one after another: a thread reading the next page while this one is
    converted overlapped at most that conversion (a few ms per 2,000 rows) and cost as much in
    switching between the two (measured on 10,000 ConfigMaps). A continue token that expired
    while paging (410) restarts the list once from the top: ``first`` is True on the first page
    of each start.
    """
    path = kind.path(namespace)
    base: list[tuple[str, Any]] = [("includeObject", _include(kind))]
    if label_selector:
        base.append(("labelSelector", label_selector))
    if field_selector:
        base.append(("fieldSelector", field_selector))
    columns: list[Column] = []
    rows: list[Row[Any]] = []
    token, limit, restarted = "", page_size, False
    while True:
        query = [("limit", limit), *base, *([("continue", token)] if token else [])]
        try:
            data = cluster.get_raw(path, query, accept=TABLE, timeout=timeout)
        except ApiFailure as exc:
            if exc.status == 410 and token and not restarted:
                restarted, token, limit, rows = True, "", page_size, []
                continue
            raise
        page = _decode_table(data, cluster, path)
        limit = max(page_size, int(PAGE_BYTES / (len(data) / max(1, len(page.rows)))))
        del data
        token = page.metadata.continue_
        columns = page.column_definitions or columns
        first = not rows
        rows.extend(page.rows)
        if each_page is not None:
            each_page(Table(columns, page.rows), first)
        if not token:
            return Table(columns, rows)


def column_key(name: str) -> str:
    """A data-row key for a column: ``Nominated Node`` -> ``nominated_node``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "value"


def cell_text(value: Any, column: Column, now: float) -> str:
    """A cell as kubectl prints it: dates as ages, lists joined (not yet redacted)."""
    if value is None:
        return ""
    if isinstance(value, str):
        if column.format == "date" or column.type == "date":
            when = parse_time(value)
            return human_age(now - when) if when is not None else value
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    return str(value)


CELL = "\x00"
"""Joins the distinct cells of a column, so that one redaction pass covers them all (no rule
matches a control character, so nothing is masked across a boundary)."""


def text_columns(rows: list[Row[Any]], columns: list[Column], now: float) -> list[list[str]]:
    """Every cell as kubectl prints it, redacted: one list of texts per column, a row's
    missing cells as ""."""
    width = len(columns)
    cells = list(map(attrgetter("cells"), rows))
    if set(map(len, cells)) - {width}:
        cells = [(c + [None] * width)[:width] for c in cells]
    if not cells:
        return [[] for _ in columns]
    return [
        _redacted(_texts(list(map(itemgetter(i), cells)), column, now), column.format != "name")
        for i, column in enumerate(columns)
    ]


_NUMBERS = frozenset({int, float, bool})
_HASHABLE = _NUMBERS | {str, type(None)}
"""Cell types converted once per distinct value (one number type at a time: ``True == 1``)."""


def _texts(values: list[Any], column: Column, now: float) -> list[str]:
    """A column's cells as text; each distinct value converted once (dates, numbers)."""
    kinds = set(map(type, values))
    dated = column.format == "date" or column.type == "date"
    if kinds <= {str} and not dated:
        return values
    if kinds <= _HASHABLE and len(kinds & _NUMBERS) <= 1:
        text = {v: cell_text(v, column, now) for v in dict.fromkeys(values)}
        return list(map(text.__getitem__, values))
    return [cell_text(v, column, now) for v in values]


def _redacted(texts: list[str], repeated: bool = True) -> list[str]:
    """A column's texts redacted: one pass over its distinct values (over all of them when
    they are not ``repeated``: object names), each on its own only when that pass masked
    something."""
    distinct = list(dict.fromkeys(texts)) if repeated else texts
    joined = CELL.join(distinct)
    if redact_text(joined) == joined:
        return texts
    masked = {t: redact_text(t) for t in distinct}
    return [masked[t] for t in texts]


def data_rows(keys: list[str], values: list[list[Any]]) -> list[dict[str, Any]]:
    """Rows as dicts, from one list of values per key (a repeated key keeps its first place
    and its last value, as ``dict(zip(keys, row))`` does). msgspec builds them in C: a third
    of the time of ``dict(zip())`` for 10,000 rows."""
    last = {key: i for i, key in enumerate(keys)}
    row = _row_struct(tuple(last))
    return msgspec.to_builtins(list(map(row, *(values[i] for i in last.values()))))


@lru_cache(maxsize=256)
def _row_struct(keys: tuple[str, ...]) -> type[msgspec.Struct]:
    """A Struct whose fields are given in order and encode as ``keys`` (any text)."""
    fields = [f"f{i}" for i in range(len(keys))]
    return msgspec.defstruct("DataRow", fields, rename=dict(zip(fields, keys)), gc=False)
