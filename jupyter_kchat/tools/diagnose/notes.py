"""What diagnose could not read, said once: the 403s grouped by where, other errors each."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ToolError
from ..kube import ApiFailure
from ..rbac import rbac_advice


@dataclass
class Failure:
    """A list that could not be read, and where."""

    resource: str
    namespace: str | None
    error: ToolError


def forbidden(failure: Failure) -> bool:
    return isinstance(failure.error, ApiFailure) and failure.error.status == 403


def _pods_first(kind: str) -> tuple[bool, str]:
    return kind != "pods", kind


def failure_notes(
    failures: list[Failure], namespaces: list[str] | None, retried: set[str]
) -> list[str]:
    """What could not be read, said once: the 403s grouped by where, other errors each."""
    notes: list[str] = []
    denied = [f for f in failures if forbidden(f)]
    if retried:
        names = sorted((k.removeprefix("custom:") for k in retried if k), key=_pods_first)
        kinds = ", ".join(names[:3]) + (
            f" and {len(names) - 3} more kinds" if len(names) > 3 else ""
        )
        if namespaces:
            notes.append(
                f"This user may not list {kinds} across the whole cluster (403 Forbidden), so "
                f"they were read in the namespaces it can read: {', '.join(namespaces)}."
            )
        else:
            notes.append(
                "This user may not list across the whole cluster (403 Forbidden), and no "
                "namespace tried (the chat's, the kubeconfig's, those it can list) allows it."
            )
    if denied:
        by_where: dict[str, list[str]] = {}
        for f in denied:
            place = f"in namespace {f.namespace}" if f.namespace else "at the cluster scope"
            names = by_where.setdefault(place, [])
            label = f.resource.removeprefix("custom:")
            if label not in names:
                names.append(label)
        parts = [f"{', '.join(names)} {place}" for place, names in by_where.items()]
        sample = denied[0].error
        message = sample.api_message if isinstance(sample, ApiFailure) else str(sample)
        notes.append(f"Could not read {'; '.join(parts)}: forbidden (403). {rbac_advice(message)}")
    by_text: dict[str, list[str]] = {}
    for f in failures:
        if forbidden(f):
            continue
        where = f" in namespace {f.namespace}" if f.namespace else ""
        what = f"{f.resource.removeprefix('custom:')}{where}"
        names = by_text.setdefault(str(f.error), [])
        if what not in names:
            names.append(what)
    notes.extend(f"Could not read {', '.join(names)}: {text}" for text, names in by_text.items())
    return notes
