"""HorizontalPodAutoscalers that cannot scale or sit at their maximum, and
PodDisruptionBudgets that allow no disruption (a node drain would wait forever)."""

from __future__ import annotations

from ..models import Condition
from ..shape import clip
from .evidence import EventIndex
from .issue import Issue
from .kinds import Autoscaler, DisruptionBudget


def _condition(conditions: list[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def _said(cond: Condition) -> str:
    return f"{cond.type}={cond.status} {cond.reason}: {clip(cond.message, 300)}"


def autoscaler_issues(autoscalers: list[Autoscaler], events: EventIndex) -> list[Issue]:
    """Unable to scale (AbleToScale or ScalingActive False), or pinned at maxReplicas."""
    issues: list[Issue] = []
    for hpa in autoscalers:
        ns, name = hpa.metadata.namespace, hpa.metadata.name
        spec, status = hpa.spec, hpa.status
        target = f"{spec.scale_target_ref.kind} {spec.scale_target_ref.name}"
        conditions = status.conditions
        broken = [
            c
            for c in (
                _condition(conditions, "AbleToScale"),
                _condition(conditions, "ScalingActive"),
            )
            if c is not None and c.status == "False"
        ]
        limited = _condition(conditions, "ScalingLimited")
        quoted = events.lines(ns, "HorizontalPodAutoscaler", name)
        if broken:
            cond = broken[0]
            hint = (
                f"set resources.requests for that metric on every container of {target} (the "
                "HPA computes utilization from requests), and check that metrics are served "
                "(top)."
                if "request" in cond.message or "metric" in cond.reason.lower()
                else f"get_resource kind=hpa name={name} namespace={ns} for its conditions."
            )
            issues.append(
                Issue(
                    category="Autoscaler unable to scale",
                    severity=4,
                    key=f"{ns}/{name}",
                    header=(
                        f"Autoscaler unable to scale: HorizontalPodAutoscaler {ns}/{name} "
                        f"({target}) cannot compute or apply a replica count"
                    ),
                    evidence=[f"   Evidence: {_said(cond)}", *quoted],
                    next=hint,
                    brief=f"(HPA -> {target}) {cond.reason}: {clip(cond.message, 160)}",
                    subjects={f"{ns}/{name}"},
                )
            )
            continue
        at_max = spec.max_replicas and status.current_replicas >= spec.max_replicas
        pinned = (
            limited is not None
            and limited.status == "True"
            and (limited.reason == "TooManyReplicas")
        )
        if pinned or (at_max and status.desired_replicas >= spec.max_replicas):
            evidence = [
                f"   Evidence: {status.current_replicas} replicas running, desired "
                f"{status.desired_replicas}, maxReplicas {spec.max_replicas}"
            ]
            if limited is not None and limited.status == "True":
                evidence.append(f"   Evidence: {_said(limited)}")
            issues.append(
                Issue(
                    category="Autoscaler at maximum",
                    severity=5,
                    key=f"{ns}/{name}",
                    header=(
                        f"Autoscaler at maximum: HorizontalPodAutoscaler {ns}/{name} ({target}) "
                        f"is pinned at maxReplicas {spec.max_replicas} and wants more"
                    ),
                    evidence=[*evidence, *quoted],
                    next=(
                        f"raise maxReplicas if the cluster has room (list_nodes), or find why "
                        f"{target} needs more (top namespace={ns}); it cannot absorb more load."
                    ),
                    brief=(
                        f"(HPA -> {target}) {status.current_replicas}/{spec.max_replicas} "
                        "replicas, at its maximum"
                    ),
                    subjects={f"{ns}/{name}"},
                )
            )
    return issues


def budget_issues(budgets: list[DisruptionBudget], events: EventIndex) -> list[Issue]:
    """PDBs with disruptionsAllowed 0 over existing pods: evictions and drains are refused."""
    issues: list[Issue] = []
    for pdb in budgets:
        st, spec = pdb.status, pdb.spec
        if st.disruptions_allowed > 0 or st.expected_pods == 0:
            continue
        ns, name = pdb.metadata.namespace, pdb.metadata.name
        rule = (
            f"minAvailable {spec.min_available}"
            if spec.min_available is not None
            else f"maxUnavailable {spec.max_unavailable}"
        )
        if st.current_healthy < st.desired_healthy:
            cause = (
                f"{rule}: only {st.current_healthy} of {st.expected_pods} pods healthy, "
                f"{st.desired_healthy} required"
            )
            hint = "fix the unhealthy pods it covers first (see their findings)."
        else:
            cause = (
                f"{rule} with {st.expected_pods} pod{'s' if st.expected_pods != 1 else ''} "
                f"({st.current_healthy} healthy): every voluntary eviction is refused"
            )
            hint = (
                "run more replicas than minAvailable, or use maxUnavailable 1, so a node drain "
                f"can move one pod (kubectl get pdb -n {ns} {name} -o yaml)."
            )
        issues.append(
            Issue(
                category="Disruption budget blocks evictions",
                severity=6,
                key=f"{ns}/{name}",
                header=(
                    f"Disruption budget blocks evictions: PodDisruptionBudget {ns}/{name} "
                    "allows 0 disruptions"
                ),
                evidence=[f"   Evidence: {cause}", *events.lines(ns, "PodDisruptionBudget", name)],
                next=hint,
                brief=f"(PDB) {cause}",
                subjects={f"{ns}/{name}"},
            )
        )
    return issues
