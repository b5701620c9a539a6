"""kubectl's columns for workloads: pods, their controllers, jobs, autoscalers, budgets."""

from __future__ import annotations

from typing import Any

from ...cluster import Obj, parse_rfc3339
from .common import (
    NAME_COLUMN,
    Ago,
    TableSpec,
    age,
    col,
    containers,
    format_selector,
    human_duration,
    since,
)


def _pod_cells(pod: Obj) -> list[Any]:
    """kubectl's pod columns, computed the way its printer does."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase", "")
    restarts = 0
    ready = 0
    last_restart = 0.0
    statuses = status.get("containerStatuses", [])
    for cs in reversed(statuses):
        restarts += cs.get("restartCount", 0)
        finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
        if finished:
            last_restart = max(last_restart, parse_rfc3339(finished))
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif state.get("terminated"):
            reason = f"ExitCode:{state['terminated'].get('exitCode', 0)}"
        elif cs.get("ready") and state.get("running"):
            ready += 1
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restart_text: Ago | str = str(restarts)
    if restarts and last_restart:
        restart_text = Ago(last_restart, f"{restarts} ({{}} ago)")
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(pod['spec']['containers'])}",
        reason,
        restart_text,
        age(pod),
        status.get("podIP") or "<none>",
        pod["spec"].get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _template(obj: Obj) -> Obj:
    return obj["spec"]["template"].get("spec", {})


def _has_condition(obj: Obj, kind: str) -> bool:
    conditions = obj.get("status", {}).get("conditions") or ()
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _job_cells(job: Obj) -> list[Any]:
    spec, status = job["spec"], job.get("status", {})
    if _has_condition(job, "Complete"):
        state = "Complete"
    elif _has_condition(job, "Failed"):
        state = "Failed"
    elif job["metadata"].get("deletionTimestamp"):
        state = "Terminating"
    elif _has_condition(job, "Suspended"):
        state = "Suspended"
    elif _has_condition(job, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    succeeded = status.get("succeeded", 0)
    parallelism = spec.get("parallelism")
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif parallelism is not None and parallelism > 1:
        completions = f"{succeeded}/1 of {parallelism}"
    else:
        completions = f"{succeeded}/1"
    started, finished = status.get("startTime"), status.get("completionTime")
    duration: Ago | str = ""
    if started and finished:
        duration = human_duration(parse_rfc3339(finished) - parse_rfc3339(started))
    elif started:
        duration = Ago(parse_rfc3339(started))
    return [
        job["metadata"]["name"],
        state,
        completions,
        duration,
        age(job),
        *containers(_template(job)),
        format_selector(spec.get("selector")),
    ]


def _cronjob_cells(cj: Obj) -> list[Any]:
    spec, status = cj["spec"], cj.get("status", {})
    job_spec = spec.get("jobTemplate", {}).get("spec", {})
    return [
        cj["metadata"]["name"],
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        bool(spec.get("suspend", False)),
        len(status.get("active") or ()),
        since(status.get("lastScheduleTime")),
        age(cj),
        *containers(job_spec.get("template", {}).get("spec", {})),
        format_selector(job_spec.get("selector")),
    ]


def _controller(obj: Obj) -> str:
    """An owner controller as kubectl names it: ``statefulset.apps/postgres``."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            group = ref.get("apiVersion", "").rpartition("/")[0]
            kind = f"{ref['kind']}.{group}" if group else ref["kind"]
            return f"{kind.lower()}/{ref['name']}"
    return "<none>"


def _hpa_targets(hpa: Obj) -> str:
    """formatHPAMetrics: "current/target" per metric, two at most."""
    specs = hpa["spec"].get("metrics") or []
    statuses = hpa.get("status", {}).get("currentMetrics") or []
    if not specs:
        return "<none>"
    out = []
    for i, metric in enumerate(specs):
        kind = metric.get("type", "")
        key = kind[:1].lower() + kind[1:]
        target = (metric.get(key) or {}).get("target") or {}
        status = statuses[i] if i < len(statuses) else {}
        current = (status.get(key) or {}).get("current") or {}
        if kind not in ("Resource", "ContainerResource", "Pods", "Object", "External"):
            out.append("<unknown type>")
        elif kind.endswith("Resource") and "averageValue" not in target:
            used = current.get("averageUtilization")
            wanted = target.get("averageUtilization")
            out.append(
                f"{f'{used}%' if used is not None else '<unknown>'}/"
                f"{f'{wanted}%' if wanted is not None else '<auto>'}"
            )
        else:
            field = "value" if "value" in target else "averageValue"
            out.append(f"{current.get(field, '<unknown>')}/{target.get(field, '<unknown>')}")
    text = ", ".join(out[:2])
    return f"{text} + {len(out) - 2} more..." if len(out) > 2 else text


def _hpa_cells(hpa: Obj) -> list[Any]:
    spec, status = hpa["spec"], hpa.get("status", {})
    ref = spec.get("scaleTargetRef", {})
    minimum = spec.get("minReplicas")
    return [
        hpa["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _hpa_targets(hpa),
        str(minimum) if minimum is not None else "<unset>",
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        age(hpa),
    ]


def _pdb_cells(pdb: Obj) -> list[Any]:
    spec = pdb["spec"]
    return [
        pdb["metadata"]["name"],
        str(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
        str(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
        pdb.get("status", {}).get("disruptionsAllowed", 0),
        age(pdb),
    ]


WIDE = [col("Containers", 1), col("Images", 1), col("Selector", 1)]
TABLES: dict[str, TableSpec] = {
    "pods": (
        [
            NAME_COLUMN,
            col("Ready"),
            col("Status"),
            col("Restarts"),
            col("Age"),
            col("IP", 1),
            col("Node", 1),
            col("Nominated Node", 1),
            col("Readiness Gates", 1),
        ],
        _pod_cells,
    ),
    "deployments": (
        [
            NAME_COLUMN,
            col("Ready"),
            col("Up-to-date", kind="integer"),
            col("Available", kind="integer"),
            col("Age"),
            *WIDE,
        ],
        lambda d: [
            d["metadata"]["name"],
            f"{d['status'].get('readyReplicas', 0)}/{d['spec'].get('replicas', 0)}",
            d["status"].get("updatedReplicas", 0),
            d["status"].get("availableReplicas", 0),
            age(d),
            *containers(_template(d)),
            format_selector(d["spec"].get("selector")),
        ],
    ),
    "replicasets": (
        [
            NAME_COLUMN,
            col("Desired", kind="integer"),
            col("Current", kind="integer"),
            col("Ready", kind="integer"),
            col("Age"),
            *WIDE,
        ],
        lambda r: [
            r["metadata"]["name"],
            r["spec"].get("replicas", 0),
            r["status"].get("replicas", 0),
            r["status"].get("readyReplicas", 0),
            age(r),
            *containers(_template(r)),
            format_selector(r["spec"].get("selector")),
        ],
    ),
    "statefulsets": (
        [NAME_COLUMN, col("Ready"), col("Age"), col("Containers", 1), col("Images", 1)],
        lambda s: [
            s["metadata"]["name"],
            f"{s['status'].get('readyReplicas', 0)}/{s['spec'].get('replicas', 0)}",
            age(s),
            *containers(_template(s)),
        ],
    ),
    "daemonsets": (
        [
            NAME_COLUMN,
            col("Desired", kind="integer"),
            col("Current", kind="integer"),
            col("Ready", kind="integer"),
            col("Up-to-date", kind="integer"),
            col("Available", kind="integer"),
            col("Node Selector"),
            col("Age"),
            *WIDE,
        ],
        lambda d: [
            d["metadata"]["name"],
            d["status"].get("desiredNumberScheduled", 0),
            d["status"].get("currentNumberScheduled", 0),
            d["status"].get("numberReady", 0),
            d["status"].get("updatedNumberScheduled", 0),
            d["status"].get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in _template(d).get("nodeSelector", {}).items())
            or "<none>",
            age(d),
            *containers(_template(d)),
            format_selector(d["spec"].get("selector")),
        ],
    ),
    "jobs": (
        [NAME_COLUMN, col("Status"), col("Completions"), col("Duration"), col("Age"), *WIDE],
        _job_cells,
    ),
    "cronjobs": (
        [
            NAME_COLUMN,
            col("Schedule"),
            col("Timezone"),
            col("Suspend", kind="boolean"),
            col("Active", kind="integer"),
            col("Last Schedule"),
            col("Age"),
            *WIDE,
        ],
        _cronjob_cells,
    ),
    "controllerrevisions": (
        [NAME_COLUMN, col("Controller"), col("Revision", kind="integer"), col("Age")],
        lambda r: [r["metadata"]["name"], _controller(r), r.get("revision", 0), age(r)],
    ),
    "horizontalpodautoscalers": (
        [
            NAME_COLUMN,
            col("Reference"),
            col("Targets"),
            col("MinPods"),
            col("MaxPods", kind="integer"),
            col("Replicas", kind="integer"),
            col("Age"),
        ],
        _hpa_cells,
    ),
    "poddisruptionbudgets": (
        [
            NAME_COLUMN,
            col("Min Available"),
            col("Max Unavailable"),
            col("Allowed Disruptions", kind="integer"),
            col("Age"),
        ],
        _pdb_cells,
    ),
}
