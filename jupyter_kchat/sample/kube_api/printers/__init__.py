"""Server-side printing: the ``as=Table`` columns and cells of every served resource."""

from __future__ import annotations

from ..resources import METRICS_GROUP, Resource
from . import cluster, network, workloads
from .common import TableSpec, human_duration
from .custom import DEFAULT, custom_table

BUILTIN: dict[str, TableSpec] = {**workloads.TABLES, **cluster.TABLES, **network.TABLES}

__all__ = ["human_duration", "table_spec"]


def table_spec(resource: Resource) -> TableSpec:
    """Columns and the cell function for one resource, as its real server prints it."""
    if resource.group == METRICS_GROUP:
        return cluster.USAGE
    if resource.printer_columns is not None:
        return custom_table(resource.printer_columns)
    return BUILTIN.get(resource.storage, DEFAULT)
