"""The ``pods/log`` subresource: the kubelet's options, validated as the API server does."""

from __future__ import annotations

import time

from ..cluster import LogUnavailable, Obj, SampleCluster, parse_rfc3339
from .errors import ApiError, invalid
from .routing import int_param

FLAGS = ("follow", "previous", "timestamps")
VALUES = ("limitBytes", "sinceSeconds", "sinceTime", "tailLines")


def kubelet_params(query: dict[str, str]) -> dict[str, str]:
    """The log options the API server forwards to the kubelet: flags only when set."""
    out = {k: "true" for k in FLAGS if query.get(k, "").lower() in ("true", "1")}
    out.update({k: query[k] for k in VALUES if query.get(k)})
    return out


def nano(t: float) -> str:
    """A log line's timestamp as the kubelet writes it (RFC 3339 with nanoseconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e9) % 10**9:09d}Z"


def pod_log(cluster: SampleCluster, pod: Obj, query: dict[str, str]) -> bytes:
    """The log subresource, with the kubelet's options and the API's validation."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    container = query.get("container", "")
    names = [c["name"] for c in pod["spec"].get("initContainers", [])] + [
        c["name"] for c in pod["spec"]["containers"]
    ]
    if not container:
        if len(pod["spec"]["containers"]) != 1:
            main = [c["name"] for c in pod["spec"]["containers"]]
            init = [c["name"] for c in pod["spec"].get("initContainers", [])]
            message = (
                f"a container name must be specified for pod {name}, "
                f"choose one of: [{' '.join(main)}]"
            )
            if init:
                message += f" or one of the init containers: [{' '.join(init)}]"
            raise ApiError(400, message)
        container = pod["spec"]["containers"][0]["name"]
    elif container not in names:
        raise ApiError(400, f"container {container} is not valid for pod {name}")
    tail = int_param(query, "tailLines")
    limit_bytes = int_param(query, "limitBytes")
    since_seconds = int_param(query, "sinceSeconds")
    since_time = query.get("sinceTime")
    for param, value, least in (
        ("tailLines", tail, 0),
        ("limitBytes", limit_bytes, 1),
        ("sinceSeconds", since_seconds, 1),
    ):
        if value is not None and value < least:
            raise invalid(
                "PodLogOptions",
                "",
                param,
                f"Invalid value: {value}: must be greater than or equal to {least}",
            )
    if since_seconds is not None and since_time:
        raise invalid(
            "PodLogOptions",
            "",
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
            "FieldValueForbidden",
        )
    previous = query.get("previous", "false").lower() in ("true", "1")
    try:
        lines = cluster.pod_log(namespace, name, container, previous, kubelet_params(query))
    except LogUnavailable as exc:
        # The kubelet's failures reach clients as the API server's untyped 500 (no reason).
        raise ApiError(exc.code, exc.message, reason="" if exc.code == 500 else None) from None
    cutoff = None
    if since_seconds is not None:
        cutoff = cluster.clock() - since_seconds
    elif since_time:
        try:
            cutoff = parse_rfc3339(since_time)
        except ValueError:
            raise ApiError(400, f'parsing time "{since_time}" as RFC3339 failed') from None
    if cutoff is not None:
        lines = [line for line in lines if line[0] >= cutoff]
    if tail is not None:
        lines = lines[-tail:] if tail else []
    stamps = query.get("timestamps", "false").lower() in ("true", "1")
    if stamps:
        text = "".join(f"{nano(t)} {line}\n" for t, line in lines)
    else:
        text = "".join(f"{line}\n" for _, line in lines)
    body = text.encode()
    if limit_bytes is not None:
        body = body[:limit_bytes]
    return body
