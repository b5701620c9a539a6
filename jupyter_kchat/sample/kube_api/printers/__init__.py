"""Server-side printing: the ``as=Table`` columns and cells of every served resource."""

from __future__ import annotations

from functools import lru_cache

import orjson

from ..resources import METRICS_GROUP, Resource
from . import cluster, network, workloads
from .common import TableSpec, human_duration, resolve
from .custom import DEFAULT, custom_table

BUILTIN: dict[str, TableSpec] = {**workloads.TABLES, **cluster.TABLES, **network.TABLES}

__all__ = ["human_duration", "resolve", "table_spec"]


@lru_cache(maxsize=64)
def _custom(columns: bytes) -> TableSpec:
    """One compiled table per distinct set of printer columns, so rows cache across requests."""
    return custom_table(tuple(orjson.loads(columns)))


def table_spec(resource: Resource) -> TableSpec:
    """Columns and the cell function for one resource, as its real server prints it."""
    if resource.group == METRICS_GROUP:
        return cluster.USAGE
    if resource.printer_columns is not None:
        return _custom(orjson.dumps(resource.printer_columns))
    return BUILTIN.get(resource.storage, DEFAULT)
