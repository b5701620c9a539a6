"""Problems of a listed kind that an object's own status does not show: a Service without a
ready endpoint, an Ingress routing to a Service that does not exist, a CronJob whose last run
failed or that is suspended. Each kind costs at most one more list (two for Ingresses, whose
specs the Table leaves out), read only when that kind is listed; the rules are
diagnose_cluster's, so both tools say the same about the same object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .diagnose.evidence import EventIndex
from .diagnose.kinds import Ingress, Job
from .diagnose.network import ingress_issues
from .discovery import Kind
from .errors import ToolError
from .kube import KubeCluster, api_path
from .models import Endpoints, Service
from .shape import clip, plural

Verdicts = dict[tuple[str, str], tuple[str, str]]
"""(reason, message) by (namespace, name)."""


def _no_endpoints(cluster: KubeCluster, namespace: str | None, timeout: float) -> Verdicts:
    """Services whose Endpoints have not one ready address. The endpoints controller keeps
    an Endpoints object for every Service with a selector (none for the others), so an
    existing one with no ready address is a selector matching no ready pod."""
    listed = cluster.list_all(api_path("endpoints", namespace), Endpoints, timeout=timeout)
    found: Verdicts = {}
    for ep in listed.items:
        if ep.ready():
            continue
        waiting = ep.waiting()
        found[(ep.metadata.namespace, ep.metadata.name)] = (
            "NoReadyEndpoints",
            f"{plural(len(waiting), 'pod')} behind it, none ready: {clip(', '.join(waiting), 200)}"
            if waiting
            else "its selector matches no pod: traffic to it fails",
        )
    return found


def _missing_backends(cluster: KubeCluster, namespace: str | None, timeout: float) -> Verdicts:
    """Ingresses that route to a Service that does not exist (diagnose_cluster's rule)."""
    path = api_path("ingresses", namespace, group="networking.k8s.io")
    ingresses = cluster.list_all(path, Ingress, timeout=timeout).items
    services = cluster.list_all(api_path("services", namespace), Service, timeout=timeout).items
    issues = ingress_issues(ingresses, services, None, EventIndex([]))
    found: Verdicts = {}
    for issue in issues:
        ns, _, name = issue.key.partition("/")
        found[(ns, name)] = ("BackendMissing", issue.brief.removeprefix("(Ingress) "))
    return found


def _failed_runs(cluster: KubeCluster, namespace: str | None, timeout: float) -> Verdicts:
    """CronJobs whose latest Job failed (its ``Failed`` condition, as the Job list says)."""
    jobs = cluster.list_all(api_path("jobs", namespace, group="batch"), Job, timeout=timeout).items
    latest: dict[tuple[str, str], Job] = {}
    for job in jobs:
        owner = next((r.name for r in job.metadata.owner_references if r.kind == "CronJob"), "")
        key = (job.metadata.namespace, owner)
        seen = latest.get(key)
        if owner and (seen is None or _started(job) > _started(seen)):
            latest[key] = job
    found: Verdicts = {}
    for key, job in latest.items():
        failed = next(
            (c for c in job.status.conditions if c.type == "Failed" and c.status == "True"), None
        )
        if failed is not None:
            found[key] = (
                failed.reason or "Failed",
                f"last run, Job {job.metadata.name}, failed: {failed.message}".rstrip(": "),
            )
    return found


def _started(job: Job) -> float:
    when = job.status.start_time or job.metadata.creation_timestamp
    return when.timestamp() if when else 0.0


KIND_RULES: dict[tuple[str, str], Callable[[KubeCluster, str | None, float], Verdicts]] = {
    ("", "services"): _no_endpoints,
    ("networking.k8s.io", "ingresses"): _missing_backends,
    ("batch", "cronjobs"): _failed_runs,
}
"""Problems an object's status does not show: one more list (two for Ingresses, whose
specs the Table leaves out) when the kind is listed, keyed by (namespace, name)."""


def kind_problems(
    cluster: KubeCluster, kind: Kind, spots: list[str | None], timeout: float
) -> Verdicts:
    """The kind's own problems in each namespace of ``spots`` (None: all), best effort: a
    list that fails (RBAC, a kind the server lacks) adds nothing."""
    rule = KIND_RULES.get((kind.group, kind.resource))
    found: Verdicts = {}
    for spot in spots if rule is not None else []:
        try:
            found.update(rule(cluster, spot, timeout))
        except ToolError:
            continue
    return found


def suspended(row: dict[str, Any]) -> tuple[str, str] | None:
    """A CronJob's data row (its printed SUSPEND and LAST SCHEDULE cells) when suspended."""
    if row.get("suspend") != "true":
        return None
    when = row.get("last_schedule")
    last = f"last scheduled {when} ago" if when else "never scheduled"
    return "Suspended", f"suspend=true: no new runs start ({last})"
