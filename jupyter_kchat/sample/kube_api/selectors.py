"""Label and field selectors, parsed with the API server's error texts."""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import ApiError
from .resources import Resource

Requirement = Callable[[dict[str, str]], bool]
_LABEL_TOKENS = re.compile(r"\s*(==|!=|=|\(|\)|,|!|>|<|[^\s=!(),<>]+)")


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a label selector (``a=b,c!=d,e in (f,g),!h,i``) into predicates on label dicts."""
    tokens: list[str] = _LABEL_TOKENS.findall(text)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", text):
        raise ApiError(400, f"unable to parse requirement: invalid label selector {text!r}")
    out: list[Requirement] = []
    i = 0

    def fail(found: str, expected: str) -> ApiError:
        return ApiError(400, f"unable to parse requirement: found '{found}', expected: {expected}")

    def at(n: int) -> str:
        return tokens[n] if n < len(tokens) else ""

    while i < len(tokens):
        negate = tokens[i] == "!"
        if negate:
            i += 1
        key = at(i)
        if not key or key in "=!(),<>" or key == "==":
            raise fail(key or "EOS", "identifier")
        i += 1
        op = at(i)
        if negate:
            out.append(_requirement(key, "!", frozenset()))
        elif op in ("", ","):
            out.append(_requirement(key, "exists", frozenset()))
        elif op in ("=", "==", "!="):
            value = at(i + 1)
            if value in ("", ","):
                value, i = "", i + 1
            else:
                i += 2
            out.append(_requirement(key, "!=" if op == "!=" else "=", frozenset([value])))
        elif op in (">", "<"):
            try:
                int(at(i + 1))
            except ValueError:
                raise fail(at(i + 1) or "EOS", "integer") from None
            out.append(_requirement(key, op, frozenset([at(i + 1)])))
            i += 2
        elif op in ("in", "notin"):
            if at(i + 1) != "(":
                raise fail(at(i + 1) or "EOS", "'('")
            i += 2
            values: set[str] = set()
            while at(i) != ")":
                token = at(i)
                if token == "":
                    raise fail("EOS", "')'")
                if token != ",":
                    values.add(token)
                i += 1
            i += 1
            out.append(_requirement(key, op, frozenset(values)))
        else:
            raise fail(op, "'=', '!=', '==', 'in', notin'")
        if at(i) == ",":
            i += 1
            if i >= len(tokens):
                raise fail("EOS", "identifier")
        elif i < len(tokens):
            raise fail(at(i), "','")
    return out


def _requirement(key: str, op: str, values: frozenset[str]) -> Requirement:
    """One parsed label requirement as a predicate on a label dict."""
    first = next(iter(values), "")
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    if op == "=":
        return lambda labels: labels.get(key) == first
    if op == "!=":
        return lambda labels: labels.get(key) != first
    if op == "in":
        return lambda labels: labels.get(key) in values
    if op == "notin":
        return lambda labels: labels.get(key) not in values
    bound = int(first)
    if op == ">":
        return lambda labels: _int(labels.get(key)) > bound
    return lambda labels: _int(labels.get(key)) < bound


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else -(2**63)
    except ValueError:
        return -(2**63)


def parse_field_selector(text: str, resource: Resource) -> list[tuple[str, bool, str]]:
    """Parse a field selector into (field, equal, value) terms, rejecting unsupported fields."""
    terms = []
    allowed = {"metadata.name", "metadata.namespace", *resource.fields}
    for part in re.split(r"(?<!\\),", text):
        if not part.strip():
            continue
        match = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)(.*)$", part)
        if not match:
            raise ApiError(400, f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, value = match.groups()
        value = re.sub(r"\\(.)", r"\1", value)
        if name not in allowed:
            raise ApiError(400, f"field label not supported: {name}")
        terms.append((name, op != "!=", value))
    return terms
