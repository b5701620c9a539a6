"""One cluster (one kubeconfig context) and the fast read path every tool uses.

A :class:`KubeCluster` reads raw bytes through the official client's ``ApiClient.call_api`` (its
auth, TLS, proxy and token refresh) and decodes them with ``msgspec`` Structs that hold only the
fields tools use: on 10,000 pods that is ~20x faster than the client's model classes and far
smaller in memory. Lists are paged with ``limit``/``continue`` so no single response grows
without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
import urllib3
from kubernetes import client as k8s

from ..errors import ToolError
from .failures import ApiFailure, status_error, transport_error
from .gcpause import GC_PAUSE_BYTES, paused_gc

T = TypeVar("T")

PAGE_SIZE = 2000
"""Items per list request: big enough that paging costs little, small enough to bound memory."""

JSON = "application/json"
IN_CLUSTER_CONTEXT = "in-cluster"
"""The context name of the pod's service account."""


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

    def close(self) -> None:
        self.api_client.close()

    def __repr__(self) -> str:
        return f"KubeCluster(context={self.context!r}, server={self.server!r})"

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
                raise status_error(
                    exc.status, (exc.body or "").encode(), context=self.context,
                    not_found=not_found,
                ) from None
            raise ToolError(
                f"the request to the API server at {self.server} failed: {exc.reason}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise transport_error(
                exc, timeout, server=self.server, context=self.context,
                in_cluster=self.context == IN_CLUSTER_CONTEXT,
            ) from None
        except OSError as exc:
            raise ToolError(
                f"cannot reach the API server at {self.server}: {exc}. Check the network and the "
                f"server address of context {self.context!r}."
            ) from None
        if not 200 <= response.status < 300:
            raise status_error(
                response.status, data or b"", context=self.context, not_found=not_found
            )
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


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value

