"""ControllerRevisions: the template history StatefulSets and DaemonSets keep (``rollout history``).

Each revision stores the pod template as a strategic-merge patch with ``$patch: replace``, the
way the v1.30 controllers write it. ``data/postgres`` went from ``postgres:16.2`` to its current
image (revision 2); every DaemonSet has its first revision. Deployment history lives in its
ReplicaSets (see ``shop/checkout``'s three revisions in the workload catalog).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from .common import owner_ref, parse_rfc3339, template_hash

if TYPE_CHECKING:
    from . import SampleCluster

OLD_IMAGES = {("data", "postgres"): "postgres:16.2"}
"""The main container's image in the revision before the current one."""


def make_revisions(c: SampleCluster) -> None:
    """A ControllerRevision per template each StatefulSet and DaemonSet has had."""
    for resource, hash_label in (
        ("statefulsets", "controller.kubernetes.io/hash"),
        ("daemonsets", "controller-revision-hash"),
    ):
        for (ns, name), owner in c.objects[resource].items():
            current = owner["spec"]["template"]
            created = parse_rfc3339(owner["metadata"]["creationTimestamp"])
            templates = [current]
            old_image = OLD_IMAGES.get((ns, name))
            if old_image:
                old = copy.deepcopy(current)
                old["spec"]["containers"][0]["image"] = old_image
                templates.insert(0, old)
            for number, template in enumerate(templates, start=1):
                digest = template_hash(template)
                when = created if number == 1 else c.now - 86400 * 9.5
                labels = {**template["metadata"].get("labels", {}), hash_label: digest}
                meta = c.meta(f"{name}-{digest}", ns, when, labels)
                meta["ownerReferences"] = [owner_ref(owner)]
                patch = {"$patch": "replace", **copy.deepcopy(template)}
                patch["metadata"] = {"creationTimestamp": None, **patch["metadata"]}
                c.store(
                    "controllerrevisions",
                    {
                        "kind": "ControllerRevision",
                        "apiVersion": "apps/v1",
                        "metadata": meta,
                        "data": {"spec": {"template": patch}},
                        "revision": number,
                    },
                )
            if len(templates) > 1:
                owner["metadata"]["generation"] = len(templates)
                owner["status"]["observedGeneration"] = len(templates)
