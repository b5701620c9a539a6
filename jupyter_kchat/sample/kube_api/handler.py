"""The HTTP handler: log the request, apply faults, authenticate, authorize, dispatch.

No storage or printing here: it parses a request and hands it to :class:`KubeAPIServer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING

import orjson
from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from . import discovery
from .auth import authorize, not_allowed
from .derived import CONVERSIONS
from .errors import ApiError, forbidden
from .faults import FAIL_MESSAGES
from .resources import Resource
from .routing import Route, Seen, Watcher, int_param, negotiate
from .selectors import parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from .server import KubeAPIServer

log = logging.getLogger(__name__)


class KubeHandler(RequestHandler):
    """Every request: log it, apply faults, authenticate, authorize, dispatch."""

    api: KubeAPIServer

    def initialize(self, api: KubeAPIServer) -> None:
        self.api = api
        self._gone = False

    def compute_etag(self) -> None:
        return None

    def on_connection_close(self) -> None:
        self._gone = True

    async def get(self) -> None:
        await self._handle("GET")

    async def post(self) -> None:
        await self._handle("POST")

    async def put(self) -> None:
        await self._handle("PUT")

    async def patch(self) -> None:
        await self._handle("PATCH")

    async def delete(self) -> None:
        await self._handle("DELETE")

    async def _handle(self, method: str) -> None:
        api = self.api
        path = self.request.path
        query = {k: v[-1].decode(errors="replace") for k, v in self.request.query_arguments.items()}
        api.requests.append(Seen(method, path, query, api.users.get(self._bearer(), "")))
        try:
            delay = api.faults.take("delay", method, path)
            if delay is not None and api.stopping is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(api.stopping.wait(), delay.seconds)
                if self._gone or api.stopping.is_set():
                    return
            failure = api.faults.take("fail", method, path)
            if failure is not None:
                headers = {"Retry-After": "1"} if failure.status == 429 else None
                raise ApiError(
                    failure.status,
                    failure.message or FAIL_MESSAGES.get(failure.status, "the server failed"),
                    headers=headers,
                )
            if path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
                self._send(200, b"ok", "text/plain; charset=utf-8")
                return
            route = api.route(path)
            user = self._authenticate(route)
            # The cluster's controllers (CronJobs) catch up on its clock before any answer, so a
            # single GET sees the same state as a list.
            api.cluster.clock()
            if route.discovery is not None:
                wanted = negotiate(self.request.headers.get("Accept", ""))
                if wanted == "aggregated" and route.aggregated is not None:
                    self._send(200, orjson.dumps(route.aggregated()), discovery.AGGREGATED)
                else:
                    self._send(200, orjson.dumps(route.discovery()))
                return
            await self._resource(method, route, user, query)
        except ApiError as exc:
            for key, value in exc.headers.items():
                self.set_header(key, value)
            self._send(exc.code, exc.body())
        except StreamClosedError:
            return
        except Exception as exc:  # a real server answers 500
            log.exception("sample kube API failed on %s %s", method, path)
            self._send(500, ApiError(500, f"Internal error occurred: {exc}").body())

    def _bearer(self) -> str:
        header = self.request.headers.get("Authorization", "")
        return header[7:].strip() if header[:7].lower() == "bearer " else ""

    def _authenticate(self, route: Route) -> str:
        user = self.api.users.get(self._bearer())
        if user is None:
            if route.discovery is discovery.version_info:
                return "system:anonymous"
            raise ApiError(401, "Unauthorized")
        return user

    async def _resource(self, method: str, route: Route, user: str, query: dict[str, str]) -> None:
        api = self.api
        resource = route.resource
        assert resource is not None
        watching = query.get("watch", "").lower() in ("true", "1")
        verb = {
            "GET": "watch" if watching else ("get" if route.name else "list"),
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if route.name else "deletecollection",
        }[method]
        target = resource.name + (f"/{route.subresource}" if route.subresource else "")
        denied = api.faults.take("forbid", method, self.request.path, target, verb, route.namespace)
        if denied is None and route.subresource and route.subresource != "log":
            denied = api.faults.take(
                "forbid", method, self.request.path, resource.name, verb, route.namespace
            )
        if denied is not None:
            raise forbidden(user, verb, resource, route.namespace, route.name, route.subresource)
        authorize(user, verb, resource, route.namespace, route.name, route.subresource)
        converted = (resource.group, resource.version, resource.name) in CONVERSIONS
        if verb not in resource.verbs or (converted and method != "GET"):
            raise not_allowed()
        dry_run = query.get("dryRun") == "All"
        if method == "GET":
            if route.subresource == "log":
                assert route.namespace is not None and route.name is not None
                body = api.pod_log(resource, route.namespace, route.name, query)
                self._send(200, body, "text/plain")
                return
            representation = negotiate(self.request.headers.get("Accept", ""))
            if representation in (None, "aggregated"):
                raise ApiError(
                    406,
                    "only the following media types are accepted: "
                    "application/json, application/yaml, "
                    "application/vnd.kubernetes.protobuf",
                )
            if watching:
                await self._watch(resource, route.namespace, query)
                return
            if route.name is None:
                self._send(200, api.list_body(resource, route.namespace, query, representation))
                return
            if route.subresource == "scale":
                scale = api.writer.scale_of(route.namespace or "", route.name)
                self._send(200, orjson.dumps(scale))
                return
            entry = api.entry(resource, route.namespace, route.name)
            if representation == "meta":
                self._send(200, entry.metadata())
            elif representation == "table":
                version = entry.obj["metadata"].get("resourceVersion")
                meta = {"resourceVersion": version} if version else {}
                self._send(200, api.table_body(resource, [entry], meta, query))
            else:
                self._send(200, entry.full(resource))
            return
        if (
            route.name is None
            or method == "POST"
            or (method == "DELETE" and resource.storage != "pods")
            or (route.subresource not in (None, "scale"))
        ):
            raise ApiError(
                405,
                f"the sample cluster emulation does not support {verb} on {target}",
                reason="MethodNotAllowed",
            )
        if method == "DELETE":
            assert route.namespace is not None
            body = api.writer.delete_pod(route.namespace, route.name, self.request.body, dry_run)
            self._send(200, body)
        elif method == "PATCH":
            body = api.writer.patch(
                resource,
                route.namespace or "",
                route.name,
                self.request.headers.get("Content-Type", ""),
                self.request.body,
                dry_run,
                route.subresource,
            )
            self._send(200, body)
        else:
            body = api.writer.put(
                resource, route.namespace, route.name, self.request.body, dry_run, route.subresource
            )
            self._send(200, body)

    async def _watch(
        self, resource: Resource, namespace: str | None, query: dict[str, str]
    ) -> None:
        """Stream changes as JSON lines; an unset or "0" resourceVersion starts with ADDED."""
        api = self.api
        watcher = Watcher(
            resource,
            namespace,
            parse_label_selector(query.get("labelSelector", "")),
            parse_field_selector(query.get("fieldSelector", ""), resource),
        )
        timeout = int_param(query, "timeoutSeconds") or 1800
        self.set_status(200)
        self.set_header("Content-Type", "application/json")
        if query.get("resourceVersion", "0") in ("", "0"):
            store = api.store_for(resource, namespace)
            lo, hi = store.span(namespace)
            for key in store.keys[lo:hi]:
                entry = store.entries[key]
                if entry.matches(watcher.labels, watcher.fields):
                    self.write(b'{"type":"ADDED","object":%s}\n' % entry.full(resource))
        api.watchers.append(watcher)
        deadline = time.monotonic() + timeout
        try:
            await self.flush()
            while not self._gone:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    chunk = await asyncio.wait_for(watcher.queue.get(), min(left, 5.0))
                except TimeoutError:
                    continue
                if chunk is None:
                    break
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            api.watchers.remove(watcher)
        if not self._gone:
            self.finish()

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        if self._finished or self._gone:
            return
        self.set_status(code)
        self.set_header("Content-Type", content_type)
        self.set_header("Audit-Id", f"{secrets.token_hex(4)}-{secrets.token_hex(2)}")
        self.set_header("Cache-Control", "no-cache, private")
        self.finish(body)
