"""Fault switches that make the emulation behave like a troubled cluster."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Fault:
    """One switched-on misbehaviour, matched against each request."""

    action: str
    path_prefix: str = "/"
    method: str | None = None
    resource: str | None = None
    verb: str | None = None
    namespace: str | None = None
    seconds: float = 0.0
    status: int = 500
    message: str | None = None
    remaining: int | None = None


class Faults:
    """Switches that make the emulation behave like a troubled cluster (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def forbid(
        self,
        resource: str | None = None,
        verb: str | None = None,
        namespace: str | None = None,
        *,
        times: int | None = None,
    ) -> None:
        """Deny matching requests with the RBAC 403 (``resource`` may be ``pods/log``)."""
        self._add(
            Fault("forbid", resource=resource, verb=verb, namespace=namespace, remaining=times)
        )

    def delay(
        self,
        seconds: float,
        path_prefix: str = "/",
        *,
        method: str | None = None,
        times: int | None = None,
    ) -> None:
        """Hold matching requests for ``seconds`` before answering (without blocking others)."""
        self._add(
            Fault("delay", path_prefix=path_prefix, method=method, seconds=seconds, remaining=times)
        )

    def fail(
        self,
        status: int = 500,
        path_prefix: str = "/",
        times: int | None = 1,
        *,
        method: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with an error ``status``."""
        self._add(
            Fault(
                "fail",
                path_prefix=path_prefix,
                method=method,
                status=status,
                message=message,
                remaining=times,
            )
        )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(
        self,
        action: str,
        method: str,
        path: str,
        resource: str | None = None,
        verb: str | None = None,
        namespace: str | None = None,
    ) -> Fault | None:
        """The first matching fault of a kind, counting it as used."""
        with self._lock:
            for fault in self._faults:
                if fault.action != action or not path.startswith(fault.path_prefix):
                    continue
                if fault.method and fault.method.upper() != method:
                    continue
                if fault.resource and fault.resource != resource:
                    continue
                if fault.verb and fault.verb != verb:
                    continue
                if fault.namespace and fault.namespace != namespace:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None


FAIL_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: etcdserver: request timed out",
    502: "Internal error occurred: error trying to reach service: dial tcp: connection refused",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within requested timeout - context deadline exceeded",
}
