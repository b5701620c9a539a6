"""Kubernetes client configuration: kubeconfig, context or the pod's service account.

:class:`KubeClients` turns kchat's settings into one :class:`KubeCluster` per context, built
lazily and shared by all conversations; a broken configuration is a :class:`KubeConfigError`
that says what to set.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

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

from .cluster import IN_CLUSTER_CONTEXT, KubeCluster
from .failures import KubeConfigError

CONNECTIONS = 32
"""Pooled connections per cluster: conversations share it and diagnose reads lists in
parallel (the client's default, 5 per CPU, is 10 on a small machine)."""

SERVICE_ACCOUNT_DIR = os.path.dirname(SERVICE_TOKEN_FILENAME)
"""Where Kubernetes mounts a pod's service account: ``token``, ``ca.crt``, ``namespace``."""

NO_CLUSTER = (
    "No Kubernetes cluster is configured. Set KUBECONFIG to a kubeconfig file (or "
    "c.KChat.kubeconfig in jupyter_server_config.py, or create ~/.kube/config), choose a context "
    "with --KChat.context (c.KChat.context) if it has several, or run Jupyter in a pod with a "
    "service account."
)

CONFIG_ERRORS = (ConfigException, OSError, ValueError, TypeError, KeyError, yaml.YAMLError)
"""What reading a broken kubeconfig can raise (the loader does not wrap its parser's errors)."""


def _retries() -> urllib3.Retry:
    """Retry refused connections once; never retry reads, so a timeout means what it says."""
    return urllib3.Retry(
        total=2, connect=1, read=False, redirect=2, status=0, other=0, backoff_factor=0.2
    )


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
