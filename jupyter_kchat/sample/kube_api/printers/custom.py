"""Tables of custom resources from their CRD's ``additionalPrinterColumns``, and the default
table (Name, Created At) for kinds without a printer, as apiextensions-apiserver builds them.

Column paths are evaluated as the JSONPath subset Kubernetes accepts in CRDs: ``.field``,
``['key']``, ``[n]``, ``[*]``, ``.*`` and filters like ``[?(@.type=="Ready")]``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

from ...cluster import Obj, parse_rfc3339
from .common import NAME_COLUMN, TableSpec, human_duration

CREATED_AT = {
    "name": "Created At",
    "type": "date",
    "format": "",
    "priority": 0,
    "description": "CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
"""What a CRD without ``additionalPrinterColumns`` shows."""

_STEP = re.compile(
    r"""\.\.?(?P<field>[A-Za-z0-9_$-]+|\*)"""
    r"""|\[(?P<quote>['"])(?P<key>.*?)(?P=quote)\]"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?P<all>\*)\]"""
    r"""|\[\?\(@(?P<path>(?:\.[A-Za-z0-9_$-]+)+)\s*(?:(?P<op>==|!=)\s*"""
    r"""(?P<value>"[^"]*"|'[^']*'|-?[\d.]+|true|false))?\)\]"""
)

Step = tuple[str, Any]


@lru_cache(maxsize=256)
def parse_path(path: str) -> tuple[Step, ...]:
    """Compile a column's JSONPath; ValueError names the part that is not understood."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    steps: list[Step] = []
    at = 0
    while at < len(text):
        match = _STEP.match(text, at)
        if match is None:
            raise ValueError(f"unrecognized JSONPath at {text[at:]!r}")
        if match["field"] is not None:
            steps.append(("all", None) if match["field"] == "*" else ("key", match["field"]))
        elif match["quote"] is not None:
            steps.append(("key", match["key"]))
        elif match["index"] is not None:
            steps.append(("index", int(match["index"])))
        elif match["all"] is not None:
            steps.append(("all", None))
        else:
            value: Any = None
            if match["value"] is not None:
                value = orjson.loads(match["value"].replace("'", '"'))
            steps.append(("filter", (tuple(match["path"].split(".")[1:]), match["op"], value)))
        at = match.end()
    return tuple(steps)


def _follow(node: Any, keys: tuple[str, ...]) -> tuple[bool, Any]:
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def find(obj: Any, steps: tuple[Step, ...]) -> list[Any]:
    """Every value the path reaches, in document order."""
    nodes = [obj]
    for kind, arg in steps:
        out: list[Any] = []
        for node in nodes:
            if (
                kind == "key"
                and isinstance(node, dict)
                and arg in node
                or kind == "index"
                and isinstance(node, list)
                and -len(node) <= arg < len(node)
            ):
                out.append(node[arg])
            elif kind == "all":
                out.extend(node.values() if isinstance(node, dict) else node or ())
            elif kind == "filter" and isinstance(node, list):
                keys, op, value = arg
                for item in node:
                    found, got = _follow(item, keys)
                    if found and (op is None or (got == value) == (op == "==")):
                        out.append(item)
        nodes = out
    return nodes


def _text(value: Any) -> str:
    """A value as the JSONPath printer writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def cell(kind: str, value: Any, now: float) -> Any:
    """cellForJSONValue: a value typed as its column says, None when it does not fit."""
    if value is None:
        return None
    if kind == "string":
        return _text(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        try:
            return human_duration(now - parse_rfc3339(value))
        except ValueError:
            return "<invalid>"
    return None


def custom_table(columns: tuple[Obj, ...]) -> TableSpec:
    """The Table of a custom resource version with these printer columns."""
    chosen = list(columns) or [AGE_COLUMN]
    definitions = [NAME_COLUMN] + [
        {
            "name": c.get("name", ""),
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in chosen
    ]
    paths = []
    for c in chosen:
        try:
            paths.append(parse_path(c.get("jsonPath", "")))
        except ValueError:
            paths.append(None)

    def cells(obj: Obj, now: float) -> list[Any]:
        row: list[Any] = [obj["metadata"]["name"]]
        for column, path in zip(chosen, paths, strict=True):
            found = find(obj, path) if path is not None else []
            row.append(cell(column.get("type", "string"), found[0], now) if found else None)
        return row

    return definitions, cells


def _created(obj: Obj, now: float) -> list[Any]:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]


DEFAULT: TableSpec = ([NAME_COLUMN, CREATED_AT], _created)
"""The default table convertor's columns for kinds without a printer (CRDs themselves)."""
