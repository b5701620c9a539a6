"""The protocol's JSON Schema (``schema.json``, shipped in the package): the one definition the
TypeScript types are generated from and real events are checked against in tests."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import orjson

SCHEMA: dict[str, Any] = orjson.loads(files(__package__).joinpath("schema.json").read_bytes())

PROTOCOL_VERSION: int = SCHEMA["version"]
"""Sent in every ``complete``; a client built for another version says to reload the page."""


@cache
def validator(definition: str) -> jsonschema.Draft202012Validator:
    """A validator for one of the schema's ``$defs`` (``ServerEvent``, ``ClientFrame``, ...)."""
    if definition not in SCHEMA["$defs"]:
        raise KeyError(f"the protocol schema defines no {definition!r}")
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"})


DATA_OF: dict[str, str] = {
    branch["properties"]["type"]["const"]: branch["properties"]["data"]["$ref"].rsplit("/", 1)[1]
    for branch in SCHEMA["$defs"]["ServerEvent"]["oneOf"]
}
"""Each event type's ``data`` definition, read from the schema's ``ServerEvent``."""


def problems(definition: str, value: Any) -> list[str]:
    """Each way ``value`` breaks ``definition``, one line each (empty: it conforms). A server
    event is also checked as its type's data, so a bad field is named rather than 'matches no
    event type'."""
    errors = sorted(validator(definition).iter_errors(value), key=lambda e: list(e.path))
    found = [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors]
    kind = value.get("type") if isinstance(value, dict) else None
    if found and definition == "ServerEvent" and kind in DATA_OF:
        found += [f"data/{line}" for line in problems(DATA_OF[kind], value.get("data"))]
    return found
