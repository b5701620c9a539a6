"""What an RBAC denial says and which rule would allow the request.

The API server's 403 names the user, verb, resource, API group and scope; the tools pass that on
and add the Role/ClusterRole rule that would grant it, suggesting one namespace only where a
cluster-wide read of a namespaced resource was refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RBAC_DENIAL = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)" in API group '
    r'"(?P<group>[^"]*)" (?:in the namespace "(?P<namespace>[^"]*)"|at the cluster scope)'
)
"""The authorizer's wording of a denial (kube-apiserver's RBAC "forbidden" message)."""
READS = frozenset({"get", "list", "watch"})
CLUSTER_SCOPED = frozenset(
    {
        "nodes",
        "namespaces",
        "persistentvolumes",
        "storageclasses",
        "ingressclasses",
        "customresourcedefinitions",
        "clusterroles",
        "clusterrolebindings",
        "priorityclasses",
        "runtimeclasses",
        "csidrivers",
        "csinodes",
        "volumeattachments",
        "apiservices",
        "certificatesigningrequests",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    }
)
"""Built-in resources that exist only cluster-wide (no namespace to narrow a denial to)."""


@dataclass(frozen=True)
class Denial:
    """What an RBAC denial says: who may not do which verb on which resource, and where."""

    user: str
    verb: str
    resource: str
    group: str
    namespace: str | None

    @property
    def cluster_wide(self) -> bool:
        return self.namespace is None


def parse_denial(message: str) -> Denial | None:
    """The parts of a 403 message, or None when it is not the RBAC authorizer's wording."""
    match = RBAC_DENIAL.search(message)
    if match is None:
        return None
    return Denial(
        match["user"], match["verb"], match["resource"], match["group"], match["namespace"]
    )


def rbac_advice(message: str) -> str:
    """What a 403 means and which RBAC rule would allow the request (from its message)."""
    denial = parse_denial(message)
    if denial is None:
        return (
            "kchat's Kubernetes credentials lack this RBAC permission; ask a cluster admin to "
            "grant it (check with `kubectl auth can-i`)."
        )
    group = f'"{denial.group}"' if denial.group else '"" (core)'
    rule = f'apiGroups [{group}], resources ["{denial.resource}"], verbs ["{denial.verb}"]'
    resource = denial.resource.replace("/", " ") if "/" in denial.resource else denial.resource
    if denial.cluster_wide:
        narrow = (
            ""
            if denial.resource.split("/")[0] in CLUSTER_SCOPED or denial.verb not in READS
            else " If the user may read single namespaces, ask about one namespace instead of all."
        )
        return (
            f"RBAC does not let user {denial.user} {denial.verb} {resource} across the whole "
            f"cluster. A ClusterRole with the rule {rule}, bound to it by a ClusterRoleBinding, "
            f"would allow it (check: kubectl auth can-i {denial.verb} {denial.resource} "
            f"--all-namespaces).{narrow}"
        )
    return (
        f"RBAC does not let user {denial.user} {denial.verb} {resource} in namespace "
        f"{denial.namespace}. "
        f"A Role in namespace {denial.namespace} with the rule {rule} (or a ClusterRole bound "
        f"there by a RoleBinding) would allow it (check: kubectl auth can-i {denial.verb} "
        f"{denial.resource} -n {denial.namespace}); ask a cluster admin to grant it."
    )
