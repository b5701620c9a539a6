"""The emulated API server: its stores, identities, lifecycle and the reads it answers."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from ..cluster import Key, Obj, SampleCluster
from . import kubeconfig, logs, reads
from .auth import ADMIN_USER, NAMESPACE_VIEWER, READONLY_USER
from .derived import CONVERSIONS, metrics_not_found, metrics_objects
from .errors import not_found
from .faults import Faults
from .handler import KubeHandler
from .resources import CRDS, METRICS_GROUP, Catalog, Resource
from .routing import Route, Seen, Watcher, resolve
from .storage import Entry, Store
from .writes import Writer


class KubeAPIServer:
    """Serves a :class:`SampleCluster` as a Kubernetes API on loopback HTTP.

    ``metrics=False`` serves no ``metrics.k8s.io`` (a cluster without metrics-server).
    """

    def __init__(
        self,
        cluster: SampleCluster,
        *,
        admin_token: str | None = None,
        readonly_token: str | None = None,
        viewer_token: str | None = None,
        metrics: bool = True,
        request_log_size: int = 2000,
    ) -> None:
        self.cluster = cluster
        self.admin_token = admin_token or f"kchat-admin-{secrets.token_urlsafe(24)}"
        self.readonly_token = readonly_token or f"kchat-reader-{secrets.token_urlsafe(24)}"
        self.viewer_token = viewer_token or f"kchat-viewer-{secrets.token_urlsafe(24)}"
        self.users = {
            self.admin_token: ADMIN_USER,
            self.readonly_token: READONLY_USER,
            self.viewer_token: NAMESPACE_VIEWER,
        }
        self.faults = Faults()
        self.requests: deque[Seen] = deque(maxlen=request_log_size)
        self.url = ""
        self.port = 0
        self.catalog = Catalog(cluster.objects.get(CRDS, {}).values(), metrics)
        self.stores: dict[str, Store] = {}
        self._add_stores()
        self.writer = Writer(cluster, self.entry)
        self.watchers: list[Watcher] = []
        self._server: HTTPServer | None = None
        self.stopping: asyncio.Event | None = None
        cluster.subscribe(self._changed)

    def _add_stores(self) -> None:
        """A store for every stored resource the catalog serves that has none yet."""
        for storage in sorted(self.catalog.storages - set(self.stores)):
            resource = self.catalog.preferred(storage)
            assert resource is not None
            self.stores[storage] = Store(resource, self.cluster.objects.setdefault(storage, {}))

    # ------------------------------------------------------------------ lifecycle

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> str:
        """Listen on ``host:port`` (0: any free port) in the running loop; returns the URL.

        With ``tls`` it serves HTTPS, as a real API server (and a pod's in-cluster config)
        requires.
        """
        app = Application(
            [(r"/.*", KubeHandler, {"api": self})],
            compress_response=False,
            log_function=lambda handler: None,
        )
        self.stopping = asyncio.Event()
        self._server = HTTPServer(app, idle_connection_timeout=300, ssl_options=tls)
        sockets = bind_sockets(port, host)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if tls else 'http'}://{shown}:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening, end watches and held requests, close every connection."""
        if self._server is None:
            return
        assert self.stopping is not None
        self.stopping.set()
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)
        self._server.stop()
        await self._server.close_all_connections()
        self._server = None

    @contextmanager
    def run_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> Iterator[str]:
        """Serve from a daemon thread with its own event loop; yields the URL, stops on exit.

        For synchronous callers (tests, benchmarks, kernels) that cannot lend their loop.
        """
        ready = threading.Event()
        result: dict[str, Any] = {}
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                result["url"] = loop.run_until_complete(self.start(host, port, tls))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                result["error"] = exc
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=serve, name="kchat-sample-kube-api", daemon=True)
        thread.start()
        ready.wait()
        if "error" in result:
            raise result["error"]
        try:
            yield result["url"]
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)

    def write_kubeconfig(
        self,
        path: str | Path,
        token: str | None = None,
        context: str = "sample",
        namespace: str = "default",
        contexts: Sequence[str] | None = None,
        ca_pem: bytes | None = None,
    ) -> Path:
        """Write a kubeconfig for this server: ``context`` uses ``token`` and is current.

        ``token`` is "admin" (the default), "readonly", "viewer" or a literal bearer token.
        ``contexts`` names the contexts to write (default: ``context`` and
        "<context>-readonly", which uses the read-only token); ``kubeconfig.ALL_CONTEXTS``
        adds "shop-viewer", the namespace viewer in namespace ``shop``. ``ca_pem`` is the CA
        of an HTTPS server (see :func:`.tls.local_tls`).
        """
        chosen = {
            None: self.admin_token,
            "admin": self.admin_token,
            "readonly": self.readonly_token,
            "viewer": self.viewer_token,
        }.get(token, token)
        assert chosen is not None
        config = kubeconfig.kubeconfig(
            self.url,
            (context, chosen, namespace),
            self.readonly_token,
            self.viewer_token,
            contexts,
            ca_pem,
        )
        return kubeconfig.write(path, config)

    # ------------------------------------------------------------------ changes

    def _changed(self, storage: str, key: Key, obj: Obj | None) -> None:
        if storage == CRDS:
            self.catalog.refresh(self.cluster.objects.get(CRDS, {}).values())
            self._add_stores()
        store = self.stores.get(storage)
        if store is None:
            return
        before = store.entries.get(key)
        store.put(key, obj)
        if not self.watchers:
            return
        entry = store.entries.get(key) if obj is not None else before
        if entry is None:
            return
        kind = b"DELETED" if obj is None else (b"MODIFIED" if before else b"ADDED")
        for watcher in self.watchers:
            resource = watcher.resource
            if resource.storage != storage:
                continue
            if watcher.namespace is not None and key[0] != watcher.namespace:
                continue
            if entry.matches(watcher.labels, watcher.fields):
                shown = self._view(resource, entry)
                body = b'{"type":"%s","object":%s}\n' % (kind, shown.full(resource))
                watcher.queue.put_nowait(body)

    # ------------------------------------------------------------------ reads

    def route(self, path: str) -> Route:
        """Resolve a request path to discovery or a resource address, or raise 404."""
        return resolve(self.catalog, self.port, path)

    def _view(self, resource: Resource, entry: Entry) -> Entry:
        convert = CONVERSIONS.get((resource.group, resource.version, resource.name))
        return entry if convert is None else Entry(resource, convert(entry.obj))

    def store_for(self, resource: Resource, namespace: str | None = None) -> Store:
        """The objects a resource serves: stored, derived (metrics, of ``namespace`` or all)
        or converted."""
        if resource.group == METRICS_GROUP:
            return Store(resource, metrics_objects(self.cluster, resource, namespace))
        store = self.stores[resource.storage]
        convert = CONVERSIONS.get((resource.group, resource.version, resource.name))
        if convert is None:
            return store
        return Store(resource, {k: convert(e.obj) for k, e in store.entries.items()})

    def entry(self, resource: Resource, namespace: str | None, name: str) -> Entry:
        """One object, or the API's 404."""
        if resource.group == METRICS_GROUP:
            found = self.store_for(resource, namespace).entries.get((namespace or "", name))
            if found is None:
                raise metrics_not_found(resource, namespace, name)
            return found
        entry = self.stores[resource.storage].entries.get((namespace or "", name))
        if entry is None:
            raise not_found(resource, name)
        return self._view(resource, entry)

    def list_body(
        self, resource: Resource, namespace: str | None, query: dict[str, str], representation: str
    ) -> bytes:
        """A list response: selected items, paged, in the negotiated representation."""
        revision = None if resource.group == METRICS_GROUP else self.cluster.revision
        return reads.list_body(
            self.store_for(resource, namespace),
            resource,
            namespace,
            query,
            representation,
            revision,
            self.cluster.clock(),
        )

    def table_body(
        self, resource: Resource, entries: list[Entry], meta: Obj, query: dict[str, str]
    ) -> bytes:
        return reads.table_body(resource, entries, meta, query, self.cluster.clock())

    def pod_log(
        self, resource: Resource, namespace: str | None, name: str, query: dict[str, str]
    ) -> bytes:
        """The ``pods/log`` subresource of one pod."""
        return logs.pod_log(self.cluster, self.entry(resource, namespace, name).obj, query)
