"""list_helm_releases: what Helm installed, read from the labels of its release records only.

Helm 3 stores each revision of a release as a Secret (``owner=helm``, type
``helm.sh/release.v1``; a ConfigMap with the configmap driver) whose labels say the release
``name``, ``status``, ``version`` (the revision) and ``modifiedAt``. Those are read as
``PartialObjectMetadataList``: metadata only, so the payload (the whole chart and its values,
credentials included) never reaches kchat. Chart and app versions come from the labels Helm
charts put on the objects they install (``helm.sh/chart``, ``app.kubernetes.io/version``).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import NAMESPACE, Scope, check_args, opt_bool, opt_str, schema, scope
from .kube import ApiFailure, api_path
from .shape import Listing, counts, fit_listing, human_age, parse_time, plural

META_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
OWNER = "owner=helm"
MANAGED = "app.kubernetes.io/managed-by=Helm"
RELEASED_KINDS = (
    ("deployments", "apps"),
    ("statefulsets", "apps"),
    ("daemonsets", "apps"),
    ("services", ""),
    ("configmaps", ""),
)
"""Kinds whose Helm labels give a release's chart and app version (one metadata list each)."""
TROUBLE = frozenset({"failed", "pending-install", "pending-upgrade", "pending-rollback", "unknown"})
UNREADABLE = "unknown (records not readable)"
_CHART = re.compile(r"^(?P<name>.+?)-(?P<version>v?\d[\w.+-]*)$")

PARAMS = {
    "namespace": NAMESPACE,
    "all_namespaces": {
        "type": "boolean",
        "default": True,
    },
}


class _Meta(msgspec.Struct, rename="camel", gc=False):
    """A release record's metadata: its labels (annotations are not even decoded)."""

    name: str = ""
    namespace: str = ""
    creation_timestamp: str = ""
    labels: dict[str, str] | None = None


class _Record(msgspec.Struct, gc=False):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _InstalledMeta(_Meta, rename="camel", gc=False):
    annotations: dict[str, str] | None = None


class _Item(msgspec.Struct, gc=False):
    """An object Helm installed: its labels and annotations name the release and chart."""

    metadata: _InstalledMeta = msgspec.field(default_factory=_InstalledMeta)


@dataclass
class Release:
    namespace: str
    name: str
    revision: int
    status: str
    updated: float | None
    revisions: int
    last_deployed: int | None
    chart: str = ""
    app_version: str = ""


def _records(ctx: ToolContext, where: Scope) -> list[_Meta]:
    """Metadata of every Helm release record (Secrets, and ConfigMaps of the configmap driver)."""
    out: list[_Meta] = []
    for resource in ("secrets", "configmaps"):
        listed = ctx.cluster.list_all(
            api_path(resource, where.namespace),
            _Record,
            label_selector=OWNER,
            accept=META_LIST,
            timeout=ctx.timeout,
        )
        out.extend(item.metadata for item in listed.items)
    return out


def _updated(meta: _Meta) -> float | None:
    stamp = (meta.labels or {}).get("modifiedAt")
    if stamp and stamp.isdigit():
        return float(stamp)
    return parse_time(meta.creation_timestamp)


def releases(ctx: ToolContext, where: Scope) -> list[Release]:
    """Each release at its latest revision, with how many revisions it has."""
    by_release: dict[tuple[str, str], list[_Meta]] = {}
    for meta in _records(ctx, where):
        labels = meta.labels or {}
        if not labels.get("name") or not labels.get("version", "").isdigit():
            continue
        by_release.setdefault((meta.namespace, labels["name"]), []).append(meta)
    out = []
    for (namespace, name), records in by_release.items():
        records.sort(key=lambda m: int((m.labels or {})["version"]))
        latest = records[-1]
        labels = latest.labels or {}
        deployed = [
            int((m.labels or {})["version"])
            for m in records
            if (m.labels or {}).get("status") == "deployed"
        ]
        out.append(
            Release(
                namespace=namespace,
                name=name,
                revision=int(labels["version"]),
                status=labels.get("status", "unknown"),
                updated=_updated(latest),
                revisions=len(records),
                last_deployed=deployed[-1] if deployed else None,
            )
        )
    return out


def _released(ctx: ToolContext, where: Scope) -> Iterator[list[tuple[str, str, dict[str, str]]]]:
    """Per kind Helm installs, each labelled object's release (namespace, name) and labels."""
    for resource, group in RELEASED_KINDS:
        try:
            listed = ctx.cluster.list_all(
                api_path(resource, where.namespace, group=group),
                _Item,
                label_selector=MANAGED,
                accept=META_LIST,
                timeout=ctx.timeout,
            )
        except ToolError:
            continue
        objects = []
        for item in listed.items:
            meta = item.metadata
            labels, notes = meta.labels or {}, meta.annotations or {}
            name = notes.get("meta.helm.sh/release-name") or labels.get(
                "app.kubernetes.io/instance"
            )
            if name:
                home = notes.get("meta.helm.sh/release-namespace") or meta.namespace
                objects.append((home, name, labels))
        yield objects


def _charts(ctx: ToolContext, where: Scope, found: list[Release]) -> None:
    """Fill chart and app version from the labels of the objects each release installed."""
    wanted = {(r.namespace, r.name): r for r in found}
    for objects in _released(ctx, where):
        for home, name, labels in objects:
            r = wanted.get((home, name))
            if r is None:
                continue
            if not r.chart and labels.get("helm.sh/chart"):
                r.chart = labels["helm.sh/chart"]
            if not r.app_version and labels.get("app.kubernetes.io/version"):
                r.app_version = labels["app.kubernetes.io/version"]
        if all(r.chart and r.app_version for r in found):
            return


def _installed(ctx: ToolContext, where: Scope) -> tuple[list[Release], Scope]:
    """Releases named by the objects Helm installed, for a user who may not read Secrets
    (cluster-wide lists refused as well: the chat's namespace)."""
    found: dict[tuple[str, str], Release] = {}
    scopes = [where] if not where.everywhere else [where, Scope(ctx.default_namespace())]
    for place in scopes:
        for objects in _released(ctx, place):
            for home, name, _labels in objects:
                found.setdefault((home, name), Release(home, name, 0, UNREADABLE, None, 0, None))
        if found:
            return list(found.values()), place
    return [], where


def list_helm_releases(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Helm releases from their records' labels: chart, revision, status, last update."""
    check_args(args, PARAMS, "list_helm_releases")
    everywhere = opt_bool(args, "all_namespaces", True) and opt_str(args, "namespace") is None
    where = Scope(None) if everywhere else scope(ctx, {**args, "all_namespaces": False})
    note = ""
    try:
        found = releases(ctx, where)
    except ApiFailure as exc:
        if exc.status != 403:
            raise
        found, where = _installed(ctx, where)
        note = (
            " Helm's release records (Secrets) are not readable with these credentials (403: "
            f"{exc.api_message}), so revisions and status are unknown: these releases are named "
            "by the labels of the objects they installed."
        )
    if not found:
        return ToolResult(
            text=(
                f"No Helm releases in {where.describe()} (no Secrets or ConfigMaps labelled "
                "owner=helm: nothing installed with Helm 3, or not readable by this user)." + note
            ),
            data=[],
        )
    _charts(ctx, where, found)
    now = time.time()
    found.sort(key=lambda r: (r.status not in TROUBLE, r.namespace, r.name))
    rows = []
    for r in found:
        match = _CHART.match(r.chart)
        reason = ""
        if r.status in TROUBLE:
            reason = f"revision {r.revision} {r.status}"
            if r.last_deployed is not None:
                reason += f"; revision {r.last_deployed} is the last deployed"
        rows.append(
            {
                "namespace": r.namespace,
                "name": r.name,
                "revision": r.revision or None,
                "status": r.status,
                "chart": match.group("name") if match else r.chart,
                "chart_version": match.group("version") if match else "",
                "app_version": r.app_version,
                "updated": human_age(now - r.updated) + " ago" if r.updated else "",
                "revisions": r.revisions,
                "reason": reason,
            }
        )
    problems = [row for row in rows if row["reason"]]
    if note:
        head = [f"{plural(len(rows), 'Helm release')} in {where.describe()}.{note}"]
    else:
        head = [
            (
                f"{plural(len(rows), 'Helm release')} in {where.describe()} "
                f"(by status: {counts(Counter(r['status'] for r in rows))}); "
                f"{len(problems)} not deployed. Read from the labels of Helm's release records only "
                "(never their contents)."
            )
        ]

    def cells(row: dict[str, Any]) -> list[str]:
        chart = f"{row['chart']}-{row['chart_version']}" if row["chart_version"] else row["chart"]
        return [
            row["namespace"],
            row["name"],
            str(row["revision"] or "?"),
            row["updated"],
            row["status"],
            chart or "?",
            row["app_version"] or "?",
            row["reason"],
        ]

    listing = Listing(
        noun="releases",
        head=head,
        columns=[
            "NAMESPACE",
            "NAME",
            "REVISION",
            "UPDATED",
            "STATUS",
            "CHART",
            "APP VERSION",
            "REASON",
        ],
        problems=[cells(r) for r in problems],
        problem_keys=[f"{r['namespace']}/{r['name']}" for r in problems],
        problem_groups=[r["status"] for r in problems],
        rest=[cells(r) for r in rows if not r["reason"]],
        rest_group=lambda row: row[0],
        narrow="Narrow down: list_helm_releases with namespace.",
        problem_label="not deployed",
        rest_label="deployed releases",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


def helm_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_helm_releases",
            description="Helm releases: chart, version, status, updated; failed first.",
            parameters=schema(PARAMS),
            func=list_helm_releases,
        )
    ]
