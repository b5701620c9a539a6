"""Tables of custom resources from their CRD's ``additionalPrinterColumns``, and the default
table (Name, Created At) for kinds without a printer, as apiextensions-apiserver builds them.

Column paths are evaluated as the JSONPath subset Kubernetes accepts in CRDs: ``.field``,
``['key']``, ``[n]``, ``[*]``, ``.*`` and filters like ``[?(@.type=="Ready")]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson

from ...cluster import Obj, parse_rfc3339
from .common import NAME_COLUMN, Ago, TableSpec

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


MISSING = object()


def _missing(node: Any) -> Any:
    """A column whose path does not parse shows nothing, as the real server's."""
    return MISSING


def _follow(node: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


Getter = Callable[[Any], Any]


def compile_path(steps: tuple[Step, ...]) -> Getter:
    """A function giving the first value the path reaches in document order (what a column
    shows), or MISSING; compiled once per table so 10,000 rows stay cheap."""
    if not steps:
        return lambda node: node
    (kind, arg), rest = steps[0], compile_path(steps[1:])
    if kind == "key":

        def key(node: Any) -> Any:
            child = node.get(arg, MISSING) if isinstance(node, dict) else MISSING
            return MISSING if child is MISSING else rest(child)

        return key
    if kind == "index":

        def index(node: Any) -> Any:
            if isinstance(node, list) and -len(node) <= arg < len(node):
                return rest(node[arg])
            return MISSING

        return index
    keys, op, value = arg if kind == "filter" else ((), None, None)

    def each(node: Any) -> Any:
        children = list(node.values()) if isinstance(node, dict) else node
        for child in children if isinstance(children, list) else ():
            if kind == "filter":
                got = _follow(child, keys)
                if got is MISSING or (op is not None and (got == value) != (op == "==")):
                    continue
            found = rest(child)
            if found is not MISSING:
                return found
        return MISSING

    return each


def _text(value: Any) -> str:
    """A value as the JSONPath printer writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def cell(kind: str, value: Any) -> Any:
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
            return Ago(parse_rfc3339(value))
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
    getters: list[tuple[str, Getter]] = []
    for c in chosen:
        try:
            getter = compile_path(parse_path(c.get("jsonPath", "")))
        except ValueError:
            getter = _missing
        getters.append((c.get("type", "string"), getter))

    def cells(obj: Obj) -> list[Any]:
        row: list[Any] = [obj["metadata"]["name"]]
        for kind, getter in getters:
            found = getter(obj)
            row.append(None if found is MISSING else cell(kind, found))
        return row

    return definitions, cells


def _created(obj: Obj) -> list[Any]:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]


DEFAULT: TableSpec = ([NAME_COLUMN, CREATED_AT], _created)
"""The default table convertor's columns for kinds without a printer (CRDs themselves)."""
