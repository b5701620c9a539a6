"""Kubernetes client configuration and the fast read path every tool uses.

:class:`KubeClients` turns kchat's settings (kubeconfig path, context, in-cluster) into one
:class:`KubeCluster` per context, built lazily and shared by all conversations. A cluster
reads raw bytes through the official client's ``ApiClient.call_api`` (its auth, TLS, proxy and
token refresh) and decodes them with ``msgspec`` Structs that hold only the fields tools use:
on 10,000 pods that is ~20x faster than the client's model classes and far smaller in memory.
Lists are paged with ``limit``/``continue`` so no single response grows without bound.

Every failure becomes a :class:`~jupyter_kchat.tools.base.ToolError` whose message tells the
model (and the user) what happened and what to do next.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import msgspec
import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.config import ConfigException, list_kube_config_contexts, load_kube_config
from kubernetes.config.incluster_config import (
    SERVICE_HOST_ENV_NAME,
    SERVICE_PORT_ENV_NAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)

from .errors import ToolError
from .rbac import rbac_advice

T = TypeVar("T")

CONNECTIONS = 32
"""Pooled connections per cluster: conversations share it and diagnose reads lists in
parallel (the client's default, 5 per CPU, is 10 on a small machine)."""
PAGE_SIZE = 2000
"""Items per list request: big enough that paging costs little, small enough to bound memory."""

JSON = "application/json"
SERVICE_ACCOUNT_DIR = os.path.dirname(SERVICE_TOKEN_FILENAME)
"""Where Kubernetes mounts a pod's service account: ``token``, ``ca.crt``, ``namespace``."""
IN_CLUSTER_CONTEXT = "in-cluster"

NO_CLUSTER = (
    "No Kubernetes cluster is configured. Set KUBECONFIG to a kubeconfig file (or "
    "c.KChat.kubeconfig in jupyter_server_config.py, or create ~/.kube/config), choose a context "
    "with --KChat.context (c.KChat.context) if it has several, or run Jupyter in a pod with a "
    "service account."
)


class KubeConfigError(ToolError):
    """No usable cluster configuration: the message says exactly what to set."""


class ApiFailure(ToolError):
    """The API server answered with an error status; ``status`` and ``reason`` are kept for
    callers that handle one case themselves (a 404 that means "already gone")."""

    def __init__(self, message: str, status: int, reason: str = "", api_message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.api_message = api_message


class _Status(msgspec.Struct):
    """The ``Status`` body of an API error."""

    message: str = ""
    reason: str = ""
    code: int = 0
    details: dict[str, Any] | None = None


class _ListMeta(msgspec.Struct, rename="camel"):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")
    remaining_item_count: int | None = None


class _Page(msgspec.Struct, Generic[T]):
    items: list[T] | None = None
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)


@dataclass
class Listed(Generic[T]):
    """A complete list: decoded items and the resourceVersion of the last page."""

    items: list[T]
    resource_version: str
    pages: int


GC_PAUSE_BYTES = 1 << 20
"""Bodies from this size are decoded with the cyclic GC paused (see :func:`paused_gc`)."""

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_ERRORS = (ConfigException, OSError, ValueError, TypeError, KeyError, yaml.YAMLError)
"""What reading a broken kubeconfig can raise (the loader does not wrap its parser's errors)."""

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding a big list.

    Decoding 10,000 pods allocates ~100,000 containers, which triggers full collections that
    walk every object of the process (each costs more than the whole decode in a big process).
    The decoded objects hold no cycles and mostly die when the tool returns, so nothing is lost
    by collecting later. Re-entrant across threads: the collector is re-enabled when the last
    pauser leaves, and only if it was enabled before the first came.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def gc_paused(func: F) -> F:
    """Run a tool with the cyclic GC paused (for tools that read and shape big lists)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with paused_gc():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _retries() -> urllib3.Retry:
    """Retry refused connections once; never retry reads, so a timeout means what it says."""
    return urllib3.Retry(
        total=2, connect=1, read=False, redirect=2, status=0, other=0, backoff_factor=0.2
    )


def _quote(part: str) -> str:
    return quote(part, safe="")


def api_path(
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    *,
    group: str = "",
    subresource: str | None = None,
    version: str = "v1",
) -> str:
    """The REST path of a resource, an object or a subresource (all parts URL-quoted)."""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base += f"/namespaces/{_quote(namespace)}"
    base += f"/{resource}"
    if name:
        base += f"/{_quote(name)}"
    if subresource:
        base += f"/{subresource}"
    return base


class KubeCluster:
    """One cluster (one kubeconfig context): the official client plus a fast raw read path.

    Thread-safe: tool calls of many conversations share one instance (urllib3 pools are).
    """

    def __init__(
        self, api_client: k8s.ApiClient, *, context: str, default_namespace: str | None
    ) -> None:
        self.api_client = api_client
        self.context = context
        self.default_namespace = default_namespace
        self.server = str(api_client.configuration.host)
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
        self._lock = threading.Lock()
        self._core: k8s.CoreV1Api | None = None
        self._apps: k8s.AppsV1Api | None = None

    @property
    def core(self) -> k8s.CoreV1Api:
        if self._core is None:
            self._core = k8s.CoreV1Api(self.api_client)
        return self._core

    @property
    def apps(self) -> k8s.AppsV1Api:
        if self._apps is None:
            self._apps = k8s.AppsV1Api(self.api_client)
        return self._apps

    def close(self) -> None:
        self.api_client.close()

    def __repr__(self) -> str:
        return f"KubeCluster(context={self.context!r}, server={self.server!r})"

    # ------------------------------------------------------------------ raw requests

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        *,
        body: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        timeout: float = 30.0,
        not_found: str | None = None,
    ) -> bytes:
        """One API request; the response body as bytes, or a :class:`ToolError` with advice.

        ``not_found`` replaces the generic 404 message ("pod x not found in namespace y; ...").
        """
        params = list(query.items()) if isinstance(query, Mapping) else list(query or ())
        params = [(k, _query_value(v)) for k, v in params if v is not None]
        headers = {"Accept": accept or JSON}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            serialized = self.api_client.param_serialize(
                method,
                path,
                query_params=params,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(*serialized, _request_timeout=timeout)
            data: bytes = response.read()
        except k8s.ApiException as exc:
            if exc.status:
                raise self._status_error(
                    method, path, exc.status, (exc.body or "").encode(), not_found
                ) from None
            raise ToolError(
                f"the request to the API server at {self.server} failed: {exc.reason}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._transport_error(exc, timeout) from None
        except OSError as exc:
            raise ToolError(
                f"cannot reach the API server at {self.server}: {exc}. Check the network and the "
                f"server address of context {self.context!r}."
            ) from None
        if not 200 <= response.status < 300:
            raise self._status_error(method, path, response.status, data or b"", not_found)
        return data

    def get_raw(
        self,
        path: str,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        *,
        accept: str | None = None,
        timeout: float = 30.0,
        not_found: str | None = None,
    ) -> bytes:
        """GET ``path`` and return the undecoded body (JSON, or text for logs)."""
        return self.request("GET", path, query, accept=accept, timeout=timeout, not_found=not_found)

    def get(
        self,
        path: str,
        type: Any,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        *,
        accept: str | None = None,
        timeout: float = 30.0,
        not_found: str | None = None,
    ) -> Any:
        """GET ``path`` decoded into ``type`` (a msgspec Struct, or ``dict`` for everything)."""
        data = self.get_raw(path, query, accept=accept, timeout=timeout, not_found=not_found)
        return self._decode(data, type, path)

    def iter_pages(
        self,
        path: str,
        item_type: Any,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        accept: str | None = None,
        timeout: float = 30.0,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[tuple[list[Any], _ListMeta]]:
        """Decoded pages of a list, fetched one at a time with ``limit``/``continue``.

        A continue token that expired while paging (410) restarts the list once from the top.
        """
        decoder_type = _Page[item_type]
        token = ""
        restarted = False
        while True:
            query: list[tuple[str, Any]] = [("limit", page_size)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            try:
                data = self.get_raw(path, query, accept=accept, timeout=timeout)
            except ApiFailure as exc:
                if exc.status == 410 and token and not restarted:
                    restarted, token = True, ""
                    continue
                raise
            page = self._decode(data, decoder_type, path)
            del data
            yield page.items or [], page.metadata
            token = page.metadata.continue_
            if not token:
                return

    def list_all(
        self,
        path: str,
        item_type: Any,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        accept: str | None = None,
        timeout: float = 30.0,
        page_size: int = PAGE_SIZE,
    ) -> Listed[Any]:
        """Every item of a list (all pages), decoded into ``item_type``."""
        items: list[Any] = []
        version = ""
        pages = 0
        for page, meta in self.iter_pages(
            path,
            item_type,
            label_selector=label_selector,
            field_selector=field_selector,
            accept=accept,
            timeout=timeout,
            page_size=page_size,
        ):
            items.extend(page)
            version = meta.resource_version
            pages += 1
        return Listed(items, version, pages)

    def patch(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        patch_type: str = "merge",
        timeout: float = 30.0,
        not_found: str | None = None,
    ) -> bytes:
        """PATCH with a JSON merge patch ("merge") or a strategic merge patch ("strategic")."""
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[patch_type]
        return self.request(
            "PATCH",
            path,
            body=dict(body),
            content_type=content_type,
            timeout=timeout,
            not_found=not_found,
        )

    def delete(self, path: str, *, timeout: float = 30.0, not_found: str | None = None) -> bytes:
        return self.request("DELETE", path, timeout=timeout, not_found=not_found)

    # ------------------------------------------------------------------ decoding and errors

    def _decode(self, data: bytes, type: Any, path: str) -> Any:
        decoder = self._decoders.get(type)
        if decoder is None:
            with self._lock:
                decoder = self._decoders.setdefault(type, msgspec.json.Decoder(type))
        try:
            if len(data) >= GC_PAUSE_BYTES:
                with paused_gc():
                    return decoder.decode(data)
            return decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ToolError(
                f"the API server at {self.server} answered {path} with something that is not the "
                f"expected JSON ({exc}); is the kubeconfig's server really a Kubernetes API?"
            ) from None

    def _status_error(
        self, method: str, path: str, status: int, body: bytes, not_found: str | None
    ) -> ApiFailure:
        detail = _parse_status(body)
        message = detail.message or body[:300].decode(errors="replace").strip()
        reason = detail.reason
        if status == 401:
            text = (
                f"the API server rejected kchat's credentials (401 Unauthorized) for context "
                f"{self.context!r}: the token or client certificate in the kubeconfig is missing, "
                "wrong or expired. Refresh them (log in to your cloud provider again, or "
                "regenerate the kubeconfig) and retry."
            )
        elif status == 403:
            text = f"forbidden (403): {message}. {rbac_advice(message)}"
        elif status == 404:
            text = not_found or (
                f"{message or 'not found'} (404). Check the name and namespace with the list "
                "tools (list_namespaces, list_pods, list_deployments)."
            )
        elif status == 409:
            text = (
                f"conflict (409): {message}. The object changed or already exists; read it "
                "again and retry the change if it is still needed."
            )
        elif status == 410:
            text = f"the list expired while it was read (410 Gone: {message}); call the tool again."
        elif status == 422:
            text = f"the API server refused the change as invalid (422): {message}."
        elif status == 400:
            text = (
                f"the API server refused the request (400 Bad Request): {message}. Check the "
                "arguments (names; selectors are comma-separated key=value or key!=value terms)."
            )
        elif status == 429:
            text = (
                f"the API server is rate limiting requests (429: {message}); wait a moment and "
                "retry, with a narrower request (one namespace) if possible."
            )
        elif status >= 500:
            text = (
                f"the API server failed ({status} {reason or 'server error'}: {message}). It may "
                "be overloaded or unhealthy; retry shortly, or narrow the request (one "
                "namespace, a label_selector)."
            )
        else:
            text = f"the API server answered {status} {reason}: {message}"
        return ApiFailure(text, status, reason, message)

    def _transport_error(self, exc: urllib3.exceptions.HTTPError, timeout: float) -> ToolError:
        cause: BaseException = exc
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            cause = exc.reason
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return ToolError(
                f"cannot connect to the API server at {self.server} ({_short(cause)}). Is the "
                f"cluster running and reachable from here, and is the server of context "
                f"{self.context!r} right?"
            )
        if isinstance(cause, urllib3.exceptions.TimeoutError):
            return ToolError(
                f"the API server did not answer within {timeout:g} s ({self.server}). The "
                "cluster may be overloaded or unreachable; retry, or narrow the request (one "
                "namespace, a label_selector)."
            )
        if isinstance(cause, urllib3.exceptions.SSLError):
            trusted = (
                "the CA the pod's service account mounts (ca.crt), and the Service address in "
                "KUBERNETES_SERVICE_HOST"
                if self.context == IN_CLUSTER_CONTEXT
                else f"the kubeconfig's certificate-authority data for context {self.context!r}"
            )
            return ToolError(
                f"TLS to the API server at {self.server} failed ({cause}). Check {trusted}."
            )
        if isinstance(cause, urllib3.exceptions.ProtocolError):
            return ToolError(
                f"the connection to the API server at {self.server} broke ({_short(cause)}); "
                "retry, and check the network if it keeps happening."
            )
        return ToolError(f"the request to the API server at {self.server} failed: {_short(cause)}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:200]


def _parse_status(body: bytes) -> _Status:
    try:
        return msgspec.json.decode(body, type=_Status)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Status()


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class KubeClients:
    """Kubernetes clients per kubeconfig context, built on first use and cached.

    Order: an explicit ``kubeconfig`` path, else ``$KUBECONFIG`` / ``~/.kube/config``, else the
    pod's service account (in-cluster). ``in_cluster=True`` forces the service account,
    ``False`` forbids it; None picks it only when no kubeconfig is found. The account is read
    from ``service_account_dir`` (where Kubernetes mounts it, unless told otherwise).
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        service_account_dir: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.in_cluster = in_cluster
        self.service_account_dir = Path(service_account_dir)
        self._clusters: dict[str | None, KubeCluster] = {}
        self._lock = threading.Lock()

    @staticmethod
    def in_cluster_available(
        service_account_dir: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR,
    ) -> bool:
        """Whether this process runs in a pod with a mounted service account."""
        return bool(
            os.environ.get(SERVICE_HOST_ENV_NAME)
            and os.environ.get(SERVICE_PORT_ENV_NAME)
            and (Path(service_account_dir) / "token").is_file()
        )

    def kubeconfig_path(self) -> str | None:
        """The kubeconfig this instance reads (possibly a ``:``-separated list), or None."""
        if self.in_cluster:
            return None
        if self.kubeconfig:
            return self.kubeconfig
        env = os.environ.get("KUBECONFIG")
        if env:
            return env
        home = Path("~/.kube/config").expanduser()
        return str(home) if home.is_file() else None

    def _use_in_cluster(self) -> bool:
        if self.in_cluster is not None:
            return self.in_cluster
        return self.kubeconfig_path() is None and self.in_cluster_available(
            self.service_account_dir
        )

    def cluster(self, context: str | None = None) -> KubeCluster:
        """The cluster for ``context`` (default: the configured one, else the current one)."""
        wanted = context or self.context
        with self._lock:
            cached = self._clusters.get(wanted)
            if cached is None:
                cached = self._build(wanted)
                existing = self._clusters.get(cached.context)
                if existing is not None:
                    cached.close()
                    cached = existing
                self._clusters[wanted] = self._clusters[cached.context] = cached
            return cached

    def contexts(self) -> list[str]:
        """The kubeconfig's context names (``["in-cluster"]`` for a service account)."""
        if self._use_in_cluster():
            return [IN_CLUSTER_CONTEXT]
        path = self.kubeconfig_path()
        if path is None:
            return []
        try:
            contexts, _current = list_kube_config_contexts(config_file=path)
        except CONFIG_ERRORS as exc:
            raise KubeConfigError(f"cannot read the kubeconfig {path}: {exc}") from None
        return [str(c["name"]) for c in contexts or []]

    def close(self) -> None:
        with self._lock:
            clusters = {id(c): c for c in self._clusters.values()}
            self._clusters = {}
        for cluster in clusters.values():
            cluster.close()

    def _build(self, context: str | None) -> KubeCluster:
        configuration = k8s.Configuration()
        if self._use_in_cluster():
            account = self.service_account_dir
            if not self.in_cluster_available(account):
                raise KubeConfigError(
                    "in-cluster configuration was requested but this process does not run in a "
                    "pod with a service account (no KUBERNETES_SERVICE_HOST or token). "
                    + NO_CLUSTER
                )
            try:
                InClusterConfigLoader(
                    str(account / "token"), str(account / "ca.crt")
                ).load_and_set(configuration)
            except ConfigException as exc:
                raise KubeConfigError(f"the pod's service account is unusable: {exc}") from None
            namespace = _read(str(account / "namespace"))
            name = IN_CLUSTER_CONTEXT
        else:
            path = self.kubeconfig_path()
            if path is None:
                raise KubeConfigError(NO_CLUSTER)
            contexts, current = self._read_contexts(path)
            name = context or (current or {}).get("name") or ""
            chosen = next((c for c in contexts if c.get("name") == name), None)
            if chosen is None:
                known = ", ".join(str(c.get("name")) for c in contexts) or "none"
                raise KubeConfigError(
                    f"the kubeconfig {path} has no context {name!r} (contexts: {known}). Set "
                    "--KChat.context (c.KChat.context) to one of them, or pick its current-context."
                )
            try:
                load_kube_config(
                    config_file=path,
                    context=name,
                    client_configuration=configuration,
                    persist_config=False,
                )
            except CONFIG_ERRORS as exc:
                raise KubeConfigError(
                    f"cannot use context {name!r} of the kubeconfig {path}: {exc}. Fix the "
                    "kubeconfig, or set KUBECONFIG / c.KChat.kubeconfig to another one."
                ) from None
            namespace = (chosen.get("context") or {}).get("namespace") or None
        configuration.retries = _retries()
        configuration.connection_pool_maxsize = CONNECTIONS
        api_client = k8s.ApiClient(configuration)
        api_client.user_agent = "jupyter-kchat"
        return KubeCluster(api_client, context=name, default_namespace=namespace)

    def _read_contexts(self, path: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        try:
            contexts, current = list_kube_config_contexts(config_file=path)
        except CONFIG_ERRORS as exc:
            raise KubeConfigError(
                f"cannot read the kubeconfig {path}: {exc}. Set KUBECONFIG or c.KChat.kubeconfig "
                "to a valid kubeconfig file."
            ) from None
        return list(contexts or []), current


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None
