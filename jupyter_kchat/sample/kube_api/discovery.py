"""Discovery documents exactly as kube-apiserver v1.30 serves them: ``/version``, ``/api``,
``/apis``, group and group-version documents, and the aggregated (apidiscovery v2) lists."""

from __future__ import annotations

from ..cluster import K8S_VERSION, Obj
from .resources import Catalog, Group, Resource

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
SUBRESOURCE_VERBS = {"log": ["get"], "scale": ["get", "patch", "update"]}


def version_info() -> Obj:
    """``/version``, which anonymous users may read."""
    major, minor, _ = K8S_VERSION.lstrip("v").split(".")
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": K8S_VERSION,
        "gitCommit": "c1a9c3e0f8b4c7a6d5e4f3a2b1c0d9e8f7a6b5c4",
        "gitTreeState": "clean",
        "buildDate": "2024-08-14T19:18:11Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(port: int) -> Obj:
    """``/api``: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{port}"}
        ],
    }


def _group_body(group: Group) -> Obj:
    versions = [{"groupVersion": f"{group.name}/{v}", "version": v} for v in group.versions]
    return {"name": group.name, "versions": versions, "preferredVersion": versions[0]}


def api_group(group: Group) -> Obj:
    """``/apis/{group}``."""
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_body(group)}


def api_group_list(catalog: Catalog) -> Obj:
    """``/apis``: every named group with its versions, preferred first."""
    groups = [_group_body(g) for g in catalog.groups if g.name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _subresource_kind(resource: Resource, sub: str) -> tuple[str, str, str]:
    """(group, version, kind) a subresource answers with; empty group/version: the parent's."""
    if sub == "scale":
        return "autoscaling", "v1", "Scale"
    return "", "", resource.kind


def resource_list(catalog: Catalog, group: str, version: str) -> Obj:
    """``/api/v1`` or ``/apis/{group}/{version}``: resources and their subresources."""
    out: list[Obj] = []
    for resource in catalog.in_version(group, version):
        entry: Obj = {
            "name": resource.name,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        stored = catalog.preferred(resource.storage) if resource.storage else None
        if stored is not None:
            entry["storageVersionHash"] = stored.storage_version_hash
        out.append(entry)
        for sub in sorted(resource.subresources):
            sub_group, sub_version, kind = _subresource_kind(resource, sub)
            item: Obj = {"name": f"{resource.name}/{sub}", "singularName": ""}
            item["namespaced"] = resource.namespaced
            if sub_group:
                item.update(group=sub_group, version=sub_version)
            item.update(kind=kind, verbs=SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"]))
            out.append(item)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": out,
    }


def _aggregated_resource(resource: Resource) -> Obj:
    entry: Obj = {
        "resource": resource.name,
        "responseKind": {"group": "", "version": "", "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    if resource.subresources:
        entry["subresources"] = [
            {
                "subresource": sub,
                "responseKind": dict(
                    zip(("group", "version", "kind"), _subresource_kind(resource, sub), strict=True)
                ),
                "verbs": SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"]),
            }
            for sub in sorted(resource.subresources)
        ]
    return entry


def aggregated(catalog: Catalog, legacy: bool) -> Obj:
    """The APIGroupDiscoveryList kubectl asks ``/api`` (legacy) or ``/apis`` for."""
    items = []
    for group in catalog.groups:
        if (group.name == "") != legacy:
            continue
        metadata: Obj = {"creationTimestamp": None}
        if group.name:
            metadata = {"name": group.name, **metadata}
        versions = [
            {
                "version": version,
                "resources": [
                    _aggregated_resource(r) for r in catalog.in_version(group.name, version)
                ],
                "freshness": "Current",
            }
            for version in group.versions
        ]
        items.append({"metadata": metadata, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
