"""Finding a named object when the model gave no namespace and the default one lacks it.

"payments-api" asked about from the chat's default namespace usually lives elsewhere. Instead of a
bare 404, read tools look the name up across the namespaces the user can read (one list with a
``metadata.name`` field selector) and answer from where it is, saying so. Write tools never act
on a guessed namespace: their 404 says where the object exists, and nothing was changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from .base import ToolContext, ToolError
from .common import check_name, opt_str
from .kube import ApiFailure, KubeCluster, api_path

T = TypeVar("T")

MAX_SHOWN = 8
"""Namespaces named when a name exists in several."""


class _Named(msgspec.Struct, gc=False):
    metadata: dict[str, Any] = {}


@dataclass(frozen=True)
class Target:
    """The namespace a call addresses and whether the model chose it or it was defaulted."""

    namespace: str
    defaulted: bool


def target(ctx: ToolContext, args: dict[str, Any]) -> Target:
    """The ``namespace`` argument, else the chat's default (remembered as defaulted)."""
    given = opt_str(args, "namespace")
    if given is not None:
        return Target(check_name(given, "namespace"), False)
    return Target(check_name(ctx.default_namespace(), "namespace"), True)


def namespaces_holding(
    cluster: KubeCluster, resource: str, name: str, *, group: str = "", timeout: float
) -> list[str]:
    """The namespaces that hold an object ``name`` of ``resource`` ([] when none or unreadable)."""
    try:
        listed = cluster.list_all(
            api_path(resource, group=group),
            _Named,
            field_selector=f"metadata.name={name}",
            timeout=timeout,
        )
    except ToolError:
        return []
    return sorted({str(item.metadata.get("namespace", "")) for item in listed.items} - {""})


def _places(namespaces: list[str]) -> str:
    shown = ", ".join(namespaces[:MAX_SHOWN])
    more = f" and {len(namespaces) - MAX_SHOWN} more" if len(namespaces) > MAX_SHOWN else ""
    return shown + more


def read_located(
    ctx: ToolContext,
    where: Target,
    what: str,
    resource: str,
    name: str,
    read: Callable[[str], T],
    *,
    group: str = "",
) -> tuple[T, str, str]:
    """``read(namespace)``; after a 404 in a defaulted namespace, read it where it exists.

    Returns (result, namespace read, a note for the result text: "" when found where asked).
    A name held by several namespaces is not guessed: the error lists them. A pod name that
    is a workload's ("payments-api") gets told where that workload and its pods are.
    """
    try:
        return read(where.namespace), where.namespace, ""
    except ApiFailure as exc:
        if exc.status != 404:
            raise
        found = (
            namespaces_holding(ctx.cluster, resource, name, group=group, timeout=ctx.timeout)
            if where.defaulted
            else []
        )
        if len(found) > 1:
            raise ToolError(
                f"{what} {name!r} is not in namespace {where.namespace} (the default) but "
                f"exists in namespaces {_places(found)}; call again with namespace set to "
                "the one meant."
            ) from None
        if not found:
            workload = _workload_named(ctx, name) if resource == "pods" else ""
            if workload:
                raise ToolError(f"there is no pod named {name!r}, but {workload}") from None
            raise
    namespace = found[0]
    note = (
        f"({what} {name} is not in namespace {where.namespace}, the default; found it in "
        f"namespace {namespace}, the only readable namespace that has it.)"
    )
    return read(namespace), namespace, note


WORKLOADS = (
    ("deployments", "Deployment"),
    ("statefulsets", "StatefulSet"),
    ("daemonsets", "DaemonSet"),
)


def _workload_named(ctx: ToolContext, name: str) -> str:
    """For a pod name that is really a workload's ("payments-api"): where that workload is."""
    places = [
        f"{kind} {name} exists in namespace {namespace}"
        for resource, kind in WORKLOADS
        for namespace in namespaces_holding(
            ctx.cluster, resource, name, group="apps", timeout=ctx.timeout
        )
    ]
    if not places:
        return ""
    first = places[0].rsplit(" ", 1)[-1]
    return (
        f"{'; '.join(places[:MAX_SHOWN])}. Its pods are named {name}-...: list_pods "
        f"namespace={first} shows them (unhealthy ones first), diagnose_cluster namespace={first} "
        "explains what is wrong with them."
    )


def write_not_found(
    ctx: ToolContext, where: Target, what: str, resource: str, name: str, *, group: str = ""
) -> str | None:
    """For a write's 404 in a defaulted namespace: where the object exists, or None.

    The write is never retried elsewhere: the model (and the user approving) must name the
    namespace.
    """
    if not where.defaulted:
        return None
    found = namespaces_holding(ctx.cluster, resource, name, group=group, timeout=ctx.timeout)
    if not found:
        return None
    return (
        f"{what} {name!r} is not in namespace {where.namespace} (the default), so nothing was "
        f"changed. It exists in namespace{'s' if len(found) > 1 else ''} {_places(found)}: call "
        "again with that namespace if that is the one meant."
    )
