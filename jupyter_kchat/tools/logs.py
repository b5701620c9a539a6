"""get_pod_logs: the end of a container's log, the failing container picked, redacted and
fitted; and the log tail diagnose_cluster quotes as evidence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import ToolContext, ToolError, ToolResult
from .common import NAME, NAMESPACE, check_args, check_name, opt_bool, opt_int, opt_str, req_str
from .health import RESTART_ALERT, pod_not_found
from .kube import ApiFailure, KubeCluster, api_path
from .lookup import read_located, target
from .redact import redact_text
from .shape import clip, fit_tail, plural

KUBELET_DIAL = re.compile(r"dial tcp (\[?[0-9a-fA-F.:]+\]?):10250: (?:connect: )?([^\n\"]+)")
"""The API server's 500 when it cannot reach a node's kubelet (which serves logs on 10250)."""
ERROR_LINE = re.compile(
    r"error|fatal|panic|exception|traceback|fail|refused|denied|killed|cannot|unable", re.I
)

LOGS_PARAMS = {
    "name": NAME,
    "namespace": NAMESPACE,
    "container": {"type": "string", "description": "Default: the failing one."},
    "tail_lines": {
        "type": "integer",
        "minimum": 1,
        "maximum": 5000,
        "default": 100,
    },
    "previous": {
        "type": "boolean",
        "default": False,
        "description": "The previous, crashed instance.",
    },
    "grep": {
        "type": "string",
        "description": "Regex of the lines to keep.",
    },
}
LOG_LIMIT_BYTES = 8 * 1024 * 1024
LOG_LINE_LIMIT = 1000


@dataclass
class _LogPod:
    containers: list[str]
    init_containers: list[str]
    statuses: dict[str, Mapping[str, Any]]
    default: str | None
    node: str
    phase: str


def _log_pod(pod: Mapping[str, Any]) -> _LogPod:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    statuses = {
        c.get("name", ""): c
        for c in (status.get("containerStatuses") or [])
        + (status.get("initContainerStatuses") or [])
    }
    return _LogPod(
        containers=[c.get("name", "") for c in spec.get("containers") or []],
        init_containers=[c.get("name", "") for c in spec.get("initContainers") or []],
        statuses=statuses,
        default=annotations.get("kubectl.kubernetes.io/default-container"),
        node=str(spec.get("nodeName") or ""),
        phase=str(status.get("phase", "")),
    )


def _pick_container(info: _LogPod, previous: bool) -> tuple[str, str]:
    """The container to read and why: the failing one, else the default, else the first."""
    names = info.containers
    if len(names) == 1:
        return names[0], ""
    for name in names:
        cs = info.statuses.get(name) or {}
        if previous and (cs.get("lastState") or {}).get("terminated"):
            return name, "the one that restarted"
        if not previous and (
            cs.get("restartCount", 0) >= RESTART_ALERT or not cs.get("ready", True)
        ):
            return name, "the one that is not ready / restarting"
    if info.default in names:
        return str(info.default), "the pod's default container"
    return names[0], "the first container"


def get_pod_logs(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """The tail of a container's log (optionally grepped), redacted and fitted to the budget."""
    check_args(args, LOGS_PARAMS, "get_pod_logs")
    name = check_name(req_str(args, "name", "get_pod_logs"), "pod name")
    container = opt_str(args, "container")
    previous = opt_bool(args, "previous")
    grep = opt_str(args, "grep")
    tail = opt_int(args, "tail_lines", None, 1, 5000)
    if tail is None:
        tail = 2000 if grep else 100
    pattern: re.Pattern[str] | None = None
    if grep:
        try:
            pattern = re.compile(grep, re.IGNORECASE)
        except re.error:
            pattern = re.compile(re.escape(grep), re.IGNORECASE)
    cluster = ctx.cluster

    def fetch(namespace: str) -> dict[str, Any]:
        pod: dict[str, Any] = cluster.get(
            api_path("pods", namespace, name),
            dict,
            timeout=ctx.timeout,
            not_found=pod_not_found(name, namespace),
        )
        return pod

    pod, namespace, found_note = read_located(ctx, target(ctx, args), "pod", "pods", name, fetch)
    info = _log_pod(pod)
    del pod
    all_names = info.containers + info.init_containers
    why = ""
    if container is None:
        container, why = _pick_container(info, previous)
    elif container not in all_names:
        raise ToolError(
            f"pod {namespace}/{name} has no container {container!r}; its containers are: "
            f"{', '.join(info.containers)}"
            + (f" (init: {', '.join(info.init_containers)})" if info.init_containers else "")
            + "."
        )
    if not info.node:
        raise ToolError(
            f"pod {namespace}/{name} has no logs: it is {info.phase or 'Pending'} and not "
            "scheduled to a node yet, so no container ever started. Use get_pod to see why "
            "(PodScheduled condition, FailedScheduling events)."
        )
    query: list[tuple[str, Any]] = [
        ("container", container),
        ("tailLines", tail),
        ("limitBytes", LOG_LIMIT_BYTES),
    ]
    if previous:
        query.append(("previous", True))
    try:
        raw = cluster.get_raw(
            api_path("pods", namespace, name, subresource="log"),
            query,
            accept="text/plain, */*",
            timeout=ctx.timeout,
            not_found=pod_not_found(name, namespace),
        )
    except ApiFailure as exc:
        failure = _log_failure(exc, namespace, name, container, previous, info.node)
        raise ToolError(failure) from None
    text = redact_text(raw.decode("utf-8", errors="replace"))
    del raw
    lines = text.splitlines()
    read = len(lines)
    if pattern is not None:
        lines = [line for line in lines if pattern.search(line)]
    which = "previous (crashed) instance of container" if previous else "container"
    head = f"Logs of pod {namespace}/{name}, {which} {container}"
    if why:
        head += f" ({why}; others: {', '.join(n for n in all_names if n != container)})"
    if pattern is not None:
        head += (
            f": {plural(len(lines), 'line')} matching {grep!r} among the last "
            f"{plural(read, 'line')} read"
        )
    else:
        head += f": last {plural(read, 'line')}" + (" (all there is)" if read < tail else "")
    heads = [found_note, head + ":"] if found_note else [head + ":"]
    if not lines:
        body = ["(no matching lines)"] if pattern is not None else ["(the log is empty)"]
        return ToolResult(text="\n".join(heads + body), data=[], truncated=False)
    kept, dropped, cut = fit_tail(lines, ctx.budget, heads, LOG_LINE_LIMIT)
    notes = []
    if dropped:
        notes.append(
            f"({dropped} earlier lines left out to fit; use grep or a smaller tail_lines to see "
            "specific parts.)"
        )
    if cut:
        notes.append(f"({cut} long lines were cut to {LOG_LINE_LIMIT} characters.)")
    first = len(lines) - len(kept) + 1
    data = [{"line": first + i, "text": line} for i, line in enumerate(kept)]
    return ToolResult(
        text="\n".join(heads + kept + notes), data=data, truncated=bool(dropped or cut)
    )


def _log_failure(
    exc: ApiFailure, namespace: str, name: str, container: str, previous: bool, node: str
) -> str:
    message = exc.api_message
    unreachable = kubelet_unreachable(exc, node)
    if unreachable:
        return f"the logs of pod {namespace}/{name} cannot be read: {unreachable}"
    if exc.status == 400 and "previous terminated container" in message:
        return (
            f"container {container} of pod {namespace}/{name} has not restarted, so there is "
            "no previous instance to read; call get_pod_logs without previous."
        )
    if exc.status == 400 and "waiting to start" in message:
        return (
            f"container {container} of pod {namespace}/{name} has not started ({message}), so "
            "it has no logs yet. Use get_pod to see why it is waiting."
        )
    if exc.status == 400 and "a container name must be specified" in message:
        return f"{message}. Pass container."
    if exc.status == 400 and "unable to retrieve container logs" in message:
        return (
            f"the logs of pod {namespace}/{name} are gone ({message}); the pod was probably "
            "evicted or its node lost. Use get_pod and list_events instead."
        )
    return str(exc)


def kubelet_unreachable(exc: ApiFailure, node: str) -> str:
    """For a log request the API server could not pass to the kubelet: what to check, else "".

    Logs come from the node's kubelet (port 10250) through the API server; a 500 with
    ``dial tcp <ip>:10250`` means the node, not the API server, is the problem.
    """
    match = KUBELET_DIAL.search(exc.api_message) if exc.status >= 500 else None
    if match is None:
        return ""
    where = f"node {node} ({match.group(1)})" if node else f"the node at {match.group(1)}"
    return (
        f"the API server cannot reach the kubelet of {where} on port 10250 "
        f"({clip(match.group(2), 80)}). The node is probably NotReady, down or cut off: check "
        f"it with list_nodes (kubectl describe node {node or '<node>'}); its pods' logs come "
        "back when its kubelet does."
    )


def crash_lines(
    cluster: KubeCluster,
    namespace: str,
    pod: str,
    container: str,
    *,
    node: str = "",
    previous: bool = True,
    keep: int = 3,
    timeout: float,
) -> list[str]:
    """The last error lines of a container's previous (crashed) instance, or of its last run
    with ``previous`` False (a failed Job's pod that is not restarted), redacted.

    Lines that look like errors win (the last ``keep`` of them among the final 50 lines);
    without any, the final ``keep`` lines. A log that cannot be read gives one line saying why.
    """
    try:
        raw = cluster.get_raw(
            api_path("pods", namespace, pod, subresource="log"),
            [("container", container), ("tailLines", 50), ("previous", previous)],
            accept="text/plain, */*",
            timeout=timeout,
        )
    except ApiFailure as exc:
        why = kubelet_unreachable(exc, node) or exc.api_message or str(exc)
        return [f"(previous log unreadable: {clip(why, 200)})"]
    except ToolError as exc:
        return [f"(previous log unreadable: {clip(str(exc), 200)})"]
    lines = [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.search(line)]
    return [_cut(redact_text(line.rstrip()), 300) for line in (errors or lines)[-keep:]]


def _cut(line: str, limit: int) -> str:
    """A log line kept as printed (spacing included), cut with an ellipsis past ``limit``."""
    return line if len(line) <= limit else line[: limit - 1] + "…"

