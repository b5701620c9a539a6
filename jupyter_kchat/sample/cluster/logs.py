"""The ``pods/log`` subresource as the kubelet answers it: lines, refusals, unreachable nodes."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from .logtext import generate_log
from .state import ClusterState

LOG_OPTIONS = (
    "follow",
    "limitBytes",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "tailLines",
    "timestamps",
)
"""The log options the API server forwards to the kubelet, in the order Go encodes them."""


def kubelet_unreachable(
    node_ip: str, ns: str, pod: str, container: str, params: Mapping[str, str] | None
) -> str:
    """The API server's text when it cannot dial a node's kubelet for a pod's logs."""
    query = urlencode([(k, params[k]) for k in LOG_OPTIONS if params and params.get(k)])
    url = f"https://{node_ip}:10250/containerLogs/{ns}/{pod}/{container}"
    return (
        f'Get "{url}{"?" + query if query else ""}": dial tcp {node_ip}:10250: '
        "connect: no route to host"
    )


class LogUnavailable(Exception):
    """The kubelet cannot serve the requested logs; carries the API status code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Logs(ClusterState):
    """The kubelet's side of ``pods/log``: which logs exist, and the errors when they do not."""

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        previous: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> list[tuple[float, str]]:
        """The lines the kubelet would return as (timestamp, text), oldest first.

        Raises :class:`LogUnavailable` where the real kubelet refuses (a container that never
        started, no previous instance) and, with the API server's 500, where the kubelet cannot
        be reached (a NotReady node); ``params`` are the request's log options, which that
        error's kubelet URL shows. A pod that is not scheduled has no logs at all.
        """
        pod = self.objects["pods"][(namespace, name)]
        node = next((n for n in self.nodes if n.name == pod["spec"].get("nodeName")), None)
        if node is not None and not node.ready:
            raise LogUnavailable(
                500, kubelet_unreachable(node.ip, namespace, name, container, params)
            )
        key = (namespace, name, container, previous)
        cached = self._log_cache.get(key)
        if cached is not None:
            return cached
        if not pod["spec"].get("nodeName"):
            return []
        statuses = pod["status"].get("containerStatuses", []) + pod["status"].get(
            "initContainerStatuses", []
        )
        status = next((s for s in statuses if s["name"] == container), None)
        if status is None:
            raise LogUnavailable(
                400,
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating',
            )
        waiting = status["state"].get("waiting")
        terminated = status["state"].get("terminated")
        if terminated and terminated.get("reason") == "ContainerStatusUnknown":
            raise LogUnavailable(
                400, f"unable to retrieve container logs for {status['containerID']}"
            )
        if previous and not status["lastState"].get("terminated"):
            raise LogUnavailable(
                400, f'previous terminated container "{container}" in pod "{name}" not found'
            )
        if not previous and waiting and not status["lastState"].get("terminated"):
            detail = (
                "trying and failing to pull image"
                if "Image" in waiting["reason"]
                else waiting["reason"]
            )
            raise LogUnavailable(
                400, f'container "{container}" in pod "{name}" is waiting to start: {detail}'
            )
        lines = self.fixed_logs.get((namespace, name)) or generate_log(self, pod, status, previous)
        if len(self._log_cache) > 512:
            self._log_cache.clear()
        self._log_cache[key] = lines
        return lines
