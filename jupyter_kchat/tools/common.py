"""Argument checking, namespace scope and schema pieces shared by the tool modules.

The engine validates arguments against each tool's JSON schema before calling it, but tools are
also called directly (notebooks, tests), so they check again and answer bad arguments with
advice instead of a stack trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .base import COMMON_ARGUMENTS, ToolContext, ToolError
from .kube import ApiFailure, api_path

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

NAMESPACE = COMMON_ARGUMENTS["namespace"]
ALL_NAMESPACES = COMMON_ARGUMENTS["all_namespaces"]
LABEL_SELECTOR = COMMON_ARGUMENTS["label_selector"]
FIELD_SELECTOR = COMMON_ARGUMENTS["field_selector"]
NAME = COMMON_ARGUMENTS["name"]
KIND = COMMON_ARGUMENTS["kind"]


def schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A strict object schema (``additionalProperties: false``) with plain JSON types.

    Plain ``"type": "string"`` rather than ``["string", "null"]``: some OpenAI-compatible
    servers reject type unions in tool schemas. Tools themselves treat a null as absent.
    """
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(required)
    return out


def check_args(args: dict[str, Any], allowed: dict[str, Any], tool: str) -> None:
    """Reject unknown argument names, naming the ones the tool takes."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ToolError(
            f"{tool} does not take {', '.join(unknown)}; its arguments are: "
            f"{', '.join(allowed) or 'none'}."
        )


def opt_str(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ToolError(f"{key} must be a string, not {value!r:.60}.")
    value = value.strip()
    return value or None


def req_str(args: dict[str, Any], key: str, tool: str) -> str:
    value = opt_str(args, key)
    if value is None:
        raise ToolError(f"{tool} needs {key}.")
    return value


def opt_bool(args: dict[str, Any], key: str, default: bool = False) -> bool:
    value = args.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ToolError(f"{key} must be true or false, not {value!r:.60}.")
    return value


def opt_int(args: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = args.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ToolError(f"{key} must be a whole number from {lo} to {hi}, not {value!r:.60}.")
    value = int(value)
    if not lo <= value <= hi:
        raise ToolError(f"{key} must be from {lo} to {hi}, not {value}.")
    return value


def check_name(value: str, what: str) -> str:
    """A Kubernetes object name (DNS subdomain); anything else cannot exist and is refused."""
    if not NAME_RE.match(value):
        raise ToolError(
            f"{what} {value!r} is not a valid Kubernetes name (lower-case letters, digits, '-' "
            "and '.'). Use the exact name from a list tool."
        )
    return value


@dataclass(frozen=True)
class Scope:
    """Where a list looks: one namespace, or all of them (``namespace`` None)."""

    namespace: str | None
    defaulted: bool = False

    @property
    def everywhere(self) -> bool:
        return self.namespace is None

    def path(self, resource: str, group: str = "", version: str = "v1") -> str:
        return api_path(resource, self.namespace, group=group, version=version)

    def describe(self) -> str:
        """Where the results come from, as the first words of a result."""
        if self.namespace is None:
            return "all namespaces"
        if self.defaulted:
            return (
                f"namespace {self.namespace} (the default; all_namespaces=true for every namespace)"
            )
        return f"namespace {self.namespace}"


def scope(ctx: ToolContext, args: dict[str, Any]) -> Scope:
    """The namespace scope a list tool uses: all_namespaces, namespace, else the default."""
    if opt_bool(args, "all_namespaces"):
        return Scope(None)
    namespace = opt_str(args, "namespace")
    if namespace is not None:
        return Scope(check_name(namespace, "namespace"))
    return Scope(check_name(ctx.default_namespace(), "namespace"), defaulted=True)


def selector_args(args: dict[str, Any]) -> tuple[str | None, str | None]:
    return opt_str(args, "label_selector"), opt_str(args, "field_selector")


def missing_namespace(ctx: ToolContext, where: Scope) -> str:
    """For an empty namespaced list: a sentence saying the namespace does not exist, or "".

    One cheap GET, made only when a list came back empty (the API answers an empty list, not a
    404, for a namespace that does not exist). A namespace the user may not read is not claimed
    missing.
    """
    if where.namespace is None:
        return ""
    try:
        ctx.cluster.get_raw(api_path("namespaces", name=where.namespace), timeout=ctx.timeout)
    except ApiFailure as exc:
        if exc.status == 404:
            return (
                f" Namespace {where.namespace} does not exist; list_namespaces shows the "
                "namespaces there are."
            )
        return ""
    except ToolError:
        return ""
    return ""
