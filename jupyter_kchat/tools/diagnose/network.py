"""Services whose selector matches no ready pod (no endpoints), and Ingresses that route to a
Service that does not exist (or name an IngressClass that does not)."""

from __future__ import annotations

from ..models import Endpoints, Service
from ..shape import clip, plural
from .evidence import EventIndex
from .issue import Issue
from .kinds import Ingress, IngressBackend, Named


def service_issues(
    services: list[Service],
    endpoints: list[Endpoints],
    events: EventIndex,
    by_pod: dict[str, Issue],
    selectors: list[tuple[str, dict[str, str], str]],
) -> list[Issue]:
    """A finding per Service with a selector and not one ready endpoint.

    When the pods behind it already have a finding (``by_pod``: pod or workload key ->
    finding), the Service becomes an Impact line of that finding instead of one of its own.
    Pods that never got an address (Pending) are not in the endpoints, so the workload whose
    ``matchLabels`` the Service's selector covers (``selectors``: namespace, labels, key)
    stands for them.
    """
    by_name = {(e.metadata.namespace, e.metadata.name): e for e in endpoints}
    issues: list[Issue] = []
    for svc in services:
        spec = svc.spec
        if not spec.selector or spec.type == "ExternalName":
            continue
        ns, name = svc.metadata.namespace, svc.metadata.name
        backing = by_name.get((ns, name))
        if backing is not None and backing.ready():
            continue
        waiting = backing.waiting() if backing is not None else []
        selector = ",".join(f"{k}={v}" for k, v in spec.selector.items())
        owners = [by_pod.get(f"{ns}/{pod}") for pod in waiting]
        if not waiting:
            owners = [
                by_pod.get(key)
                for where, labels, key in selectors
                if where == ns and spec.selector.items() <= labels.items()
            ]
        if owners and all(owners):
            owner = owners[0]
            assert owner is not None
            owner.evidence.append(
                f"   Impact: Service {ns}/{name} has no ready endpoints (its traffic fails)"
            )
            owner.subjects.add(f"{ns}/{name}")
            continue
        if waiting:
            cause = (
                f"selector {selector} matches {plural(len(waiting), 'pod')}, none ready: "
                f"{clip(', '.join(waiting), 200)}"
            )
            hint = f"fix those pods (get_pod namespace={ns}); traffic flows once one is Ready."
        else:
            cause = f"selector {selector} matches no pod in namespace {ns}"
            hint = (
                f"compare the selector with the pods' labels (list_pods namespace={ns}); fix the "
                "selector or the workload's labels, or delete the Service if it is obsolete."
            )
        issues.append(
            Issue(
                category="Service without endpoints",
                severity=4,
                key=f"{ns}/{name}",
                header=f"Service without endpoints: Service {ns}/{name} has no ready endpoints",
                evidence=[f"   Evidence: {cause}", *events.lines(ns, "Service", name)],
                next=hint,
                brief=f"(Service) {cause}",
                impact=max(1, len(waiting)),
                subjects={f"{ns}/{name}"},
            )
        )
    return issues


def _backends(ingress: Ingress) -> list[tuple[str, IngressBackend]]:
    """(where, backend) for the default backend and every rule path."""
    out: list[tuple[str, IngressBackend]] = []
    if ingress.spec.default_backend is not None:
        out.append(("default backend", ingress.spec.default_backend))
    for rule in ingress.spec.rules:
        for path in rule.http.paths if rule.http else []:
            out.append((f"{rule.host or '*'}{path.path or '/'}", path.backend))
    return out


def _port(backend: IngressBackend) -> str:
    port = backend.service.port if backend.service else {}
    value = port.get("number") or port.get("name")
    return f":{value}" if value else ""


def ingress_issues(
    ingresses: list[Ingress],
    services: list[Service] | None,
    classes: list[Named] | None,
    events: EventIndex,
) -> list[Issue]:
    """A finding per Ingress routing to a missing Service or naming a missing IngressClass."""
    known = {(s.metadata.namespace, s.metadata.name) for s in services or []}
    class_names = {c.metadata.name for c in classes} if classes is not None else None
    issues: list[Issue] = []
    for ing in ingresses:
        ns, name = ing.metadata.namespace, ing.metadata.name
        problems: list[str] = []
        missing: list[str] = []
        if services is not None:
            for where, backend in _backends(ing):
                target = backend.service.name if backend.service else ""
                if target and (ns, target) not in known:
                    missing.append(target)
                    problems.append(
                        f"{where} -> Service {target}{_port(backend)}, which does not exist"
                    )
        wanted = ing.spec.ingress_class_name
        if wanted and class_names is not None and wanted not in class_names:
            problems.append(f"IngressClass {wanted} does not exist")
        if not problems:
            continue
        evidence = [f"   Evidence: {p}" for p in problems[:6]]
        evidence.extend(events.lines(ns, "Ingress", name))
        issues.append(
            Issue(
                category="Ingress backend missing",
                severity=4,
                key=f"{ns}/{name}",
                header=f"Ingress backend missing: Ingress {ns}/{name} routes to what is not there",
                evidence=evidence,
                next=(
                    f"create the missing Service{'s' if len(set(missing)) > 1 else ''} "
                    f"({', '.join(sorted(set(missing))) or '-'}) or fix the Ingress's backends "
                    f"(list_services namespace={ns} shows what exists); those paths answer 503 "
                    "until then."
                ),
                brief=f"(Ingress) {clip('; '.join(problems), 200)}",
                impact=max(1, len(problems)),
                subjects={f"{ns}/{name}"},
            )
        )
    return issues
