"""Nodes: NotReady (and what it takes down), pressure, cordoned."""

from __future__ import annotations

from ..health import PodView
from ..nodes import NodeView
from ..shape import clip, plural
from .evidence import EventIndex
from .issue import Issue, pod_names


def node_issue(node: NodeView, lost: list[PodView], events: EventIndex) -> Issue:
    """One node's finding; ``lost`` are its pods that are not ready because of it."""
    not_ready = node.status.startswith(("NotReady", "Unknown"))
    if not_ready:
        category, severity = "Node not ready", 0
    elif "Pressure" in node.status or "Network" in node.status:
        category, severity = "Node pressure", 4
    else:
        category, severity = "Node cordoned", 6
    evidence = [f"   Evidence: {'; '.join(node.problems)}"]
    if lost:
        evidence.append(
            f"   Impact: {plural(len(lost), 'pod')} on it not ready: {pod_names(lost, 8)}"
        )
    evidence.extend(events.lines("", "Node", node.name))
    if not_ready:
        hint = (
            f"check the machine and its kubelet (cloud console, kubectl describe node "
            f"{node.name}); its pods are evicted after ~5 minutes and recreated elsewhere if a "
            "controller owns them; their logs cannot be read while its kubelet is unreachable."
        )
    elif category == "Node pressure":
        hint = (
            f"list_pods all_namespaces=true with a field_selector on spec.nodeName={node.name} "
            "shows what runs there; move or shrink workloads, or add capacity (the kubelet "
            "evicts pods under pressure)."
        )
    else:
        hint = f"uncordon it when maintenance is done (kubectl uncordon {node.name})."
    return Issue(
        category=category,
        severity=severity,
        key=node.name,
        header=f"{category}: node {node.name} is {node.status}",
        evidence=evidence,
        next=hint,
        brief=f"{node.status}; {clip('; '.join(node.problems), 160)}",
        impact=max(1, len(lost)),
        subjects={node.name, *(p.key for p in lost)},
    )
