"""Helm: release Secrets as Helm 3 stores them, and the labels Helm puts on what it released.

A release revision is a Secret ``sh.helm.release.v1.<release>.v<revision>`` of type
``helm.sh/release.v1`` with labels ``name``, ``owner``, ``status``, ``version``, ``modifiedAt``;
its ``release`` value is base64 of gzipped JSON (the chart, values, manifest) and carries
:data:`HELM_PAYLOAD_MARKER`, which no tool may ever show. ``shop``'s upgrade to revision 2
failed; ``prometheus`` is at revision 3.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from .common import Obj, b64

if TYPE_CHECKING:
    from . import SampleCluster

HELM_PAYLOAD_MARKER = "HELM-PAYLOAD-7f3a9c-never-shown"
RELEASE_TYPE = "helm.sh/release.v1"


@dataclass(frozen=True)
class Release:
    """One release: (chart version, app version, status) per revision, oldest first, and the
    (resource, name) of what it manages in its namespace."""

    ns: str
    name: str
    chart: str
    revisions: list[tuple[str, str, str]]
    objects: list[tuple[str, str]]


RELEASES = (
    Release(
        "monitoring",
        "prometheus",
        "prometheus",
        [
            ("25.1.0", "v2.47.0", "superseded"),
            ("25.4.0", "v2.48.0", "superseded"),
            ("25.8.0", "v2.48.1", "deployed"),
        ],
        [
            ("deployments", "prometheus"),
            ("deployments", "kube-state-metrics"),
            ("daemonsets", "node-exporter"),
            ("services", "prometheus"),
            ("services", "kube-state-metrics"),
            ("configmaps", "prometheus-config"),
        ],
    ),
    Release(
        "shop",
        "shop",
        "shop",
        [("1.4.0", "2.3.0", "deployed"), ("1.5.0", "2.3.1", "failed")],
        [
            ("deployments", "frontend"),
            ("deployments", "cart"),
            ("deployments", "checkout"),
            ("services", "frontend"),
            ("services", "cart"),
            ("services", "checkout"),
            ("configmaps", "app-config"),
            ("ingresses", "shop"),
        ],
    ),
)


def make_helm(c: SampleCluster) -> None:
    """Every release's Secrets, and the release labels on the objects it manages."""
    for release in RELEASES:
        count = len(release.revisions)
        for number, (version, app_version, status) in enumerate(release.revisions, start=1):
            when = c.now - 86400 * 10 * (count - number + 1) - c.rng.uniform(0, 3600)
            _secret(c, release, number, version, app_version, status, when)
        version, app_version, _ = release.revisions[-1]
        for resource, name in release.objects:
            obj = c.objects[resource].get((release.ns, name))
            if obj is None:
                continue
            meta = obj["metadata"]
            meta["labels"] = {
                **meta.get("labels", {}),
                "app.kubernetes.io/instance": release.name,
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/version": app_version,
                "helm.sh/chart": f"{release.chart}-{version}",
            }
            meta["annotations"] = {
                **meta.get("annotations", {}),
                "meta.helm.sh/release-name": release.name,
                "meta.helm.sh/release-namespace": release.ns,
            }


def _secret(
    c: SampleCluster,
    release: Release,
    number: int,
    version: str,
    app_version: str,
    status: str,
    when: float,
) -> None:
    description = {
        "deployed": "Upgrade complete" if number > 1 else "Install complete",
        "superseded": "Upgrade complete" if number > 1 else "Install complete",
        "failed": f'Upgrade "{release.name}" failed: context deadline exceeded',
    }[status]
    payload = {
        "name": release.name,
        "info": {"status": status, "description": description},
        "chart": {
            "metadata": {
                "apiVersion": "v2",
                "name": release.chart,
                "version": version,
                "appVersion": app_version,
            }
        },
        "config": {"marker": HELM_PAYLOAD_MARKER},
        "manifest": f"---\n# Source: {release.chart}/templates/deployment.yaml\n"
        f"# {HELM_PAYLOAD_MARKER}\n",
        "version": number,
        "namespace": release.ns,
    }
    packed = gzip.compress(orjson.dumps(payload), mtime=0)
    name = f"sh.helm.release.v1.{release.name}.v{number}"
    labels = {
        "modifiedAt": str(int(when)),
        "name": release.name,
        "owner": "helm",
        "status": status,
        "version": str(number),
    }
    secret: Obj = {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": c.meta(name, release.ns, when, labels),
        "data": {"release": b64(base64.b64encode(packed).decode())},
        "type": RELEASE_TYPE,
    }
    c.store("secrets", secret)
