"""kchat offline in a notebook: the demo model and the sample cluster, served from this kernel.

``use_offline_demo()`` starts the scripted model and the Kubernetes API emulation on 127.0.0.1
in daemon threads and points this kernel's ``KernelChat`` (``%kchat``, ``ChatWidget``) at them,
so example notebooks run top to bottom with no network, no API key and no cluster. A real model
or cluster that is already configured is kept unless ``force=True``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import KChat
from ..kernel import KernelChat, kernel_config
from ..tools import KubeClients
from .cluster import SampleCluster
from .kube_api import KubeAPIServer
from .model_server import DEFAULT_MODEL, ModelServer

DEMO_API_KEY = "kchat-demo"
"""Sent to the demo model, which accepts any key."""


@dataclass
class OfflineServices:
    """The demo model and/or the sample cluster, serving from daemon threads until ``close()``."""

    pods: int
    seed: int
    base_url: str | None = None
    kubeconfig: str | None = None
    model_server: ModelServer | None = None
    kube_api: KubeAPIServer | None = None
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    @property
    def cluster(self) -> SampleCluster | None:
        """The sample cluster's state (to check an answer against it)."""
        return self.kube_api.cluster if self.kube_api is not None else None

    def close(self) -> None:
        """Stop serving (idempotent)."""
        self._stack.close()


def start_offline_services(
    pods: int = 300, *, model: bool = True, cluster: bool = True, seed: int = 0
) -> OfflineServices:
    """Serve the demo model and/or the sample cluster on 127.0.0.1 (free ports), in threads."""
    services = OfflineServices(pods=pods, seed=seed)
    stack = services._stack
    try:
        if model:
            services.model_server = ModelServer()
            services.base_url = stack.enter_context(services.model_server.run_in_thread())
        if cluster:
            services.kube_api = KubeAPIServer(SampleCluster(pods=pods, seed=seed))
            stack.enter_context(services.kube_api.run_in_thread())
            workdir = Path(tempfile.mkdtemp(prefix="kchat-offline-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            services.kubeconfig = str(
                services.kube_api.write_kubeconfig(workdir / "kubeconfig.yaml")
            )
    except BaseException:
        stack.close()
        raise
    return services


@dataclass
class OfflineDemo:
    """What ``use_offline_demo`` set up; displays as a one-paragraph summary."""

    model: str
    cluster: str
    chat: KernelChat
    services: OfflineServices

    def _repr_markdown_(self) -> str:
        return (
            f"**kchat** in this kernel: model {self.model}; cluster {self.cluster}. "
            "Ask with `%kchat <question>` or `ChatWidget()`."
        )

    def __repr__(self) -> str:
        return f"kchat in this kernel: model {self.model}; cluster {self.cluster}"


_lock = threading.Lock()
_services: OfflineServices | None = None


def _services_for(pods: int, seed: int, model: bool, cluster: bool) -> OfflineServices:
    """The running services when they fit (a cell run twice), else fresh ones."""
    global _services
    current = _services
    fits = (
        current is not None
        and (not model or current.model_server is not None)
        and (not cluster or (current.kube_api is not None and (current.pods, current.seed)
                             == (pods, seed)))
    )
    if fits:
        assert current is not None
        return current
    if current is not None:
        current.close()
    _services = start_offline_services(pods, model=model, cluster=cluster, seed=seed)
    return _services


def use_offline_demo(
    pods: int = 300,
    *,
    force: bool = False,
    read_only: bool | None = None,
    seed: int = 0,
    **settings: Any,
) -> OfflineDemo:
    """Point this kernel's kchat at the demo model and a sample cluster of about ``pods`` pods.

    A model endpoint (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``c.KChat``) or a cluster
    (``KUBECONFIG``, ``~/.kube/config``, in-cluster) that is already configured is used instead,
    unless ``force``. ``read_only=False`` offers the write tools (each change asks first);
    other ``KChat`` settings may be passed too. Calling it again reuses the running services
    and starts a new ``%kchat`` conversation.
    """
    base = kernel_config()
    configured = KChat(config=base)
    need_model = force or not (configured.base_url or configured.api_key)
    need_cluster = force or not (configured.kubeconfig or KubeClients.in_cluster_available())
    overrides: dict[str, Any] = dict(settings)
    with _lock:
        services = (
            _services_for(pods, seed, need_model, need_cluster)
            if need_model or need_cluster
            else OfflineServices(pods=0, seed=seed)
        )
        if need_model:
            overrides.update(base_url=services.base_url, api_key=DEMO_API_KEY,
                             model=DEFAULT_MODEL)
        if need_cluster:
            overrides.update(kubeconfig=services.kubeconfig, context=None)
        if read_only is not None:
            overrides["read_only"] = read_only
        chat = KernelChat.configure(base, **overrides)
    model = (
        f"the demo model at {services.base_url}"
        if need_model
        else f"{chat.settings.model} at {chat.settings.base_url or 'api.openai.com'} (configured)"
    )
    cluster = (
        f"the sample cluster ({services.cluster.pod_count} pods) at "
        f"{services.kube_api.url}"
        if need_cluster and services.cluster is not None and services.kube_api is not None
        else f"{chat.settings.kubeconfig or 'in-cluster service account'} (configured)"
    )
    return OfflineDemo(model=model, cluster=cluster, chat=chat, services=services)


def stop_offline_demo() -> None:
    """Stop the offline services and forget the kernel's kchat configuration."""
    global _services
    with _lock:
        if _services is not None:
            _services.close()
            _services = None
    KernelChat.reset()


atexit.register(stop_offline_demo)
