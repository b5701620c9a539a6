"""Kubeconfig files for the emulation: one cluster, a context per identity."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import yaml

from ..cluster import Obj
from .auth import VIEWER_NAMESPACE

CLUSTER_NAME = "kchat-sample"
VIEWER_CONTEXT = "shop-viewer"
ALL_CONTEXTS = ("sample", "sample-readonly", VIEWER_CONTEXT)
"""The contexts ``write_kubeconfig(path, contexts=ALL_CONTEXTS)`` writes: admin (current),
read-only user, and the viewer of namespace ``shop``."""


def kubeconfig(
    url: str,
    current: tuple[str, str, str],
    readonly_token: str,
    viewer_token: str,
    contexts: Sequence[str] | None = None,
    ca_pem: bytes | None = None,
) -> Obj:
    """The kubeconfig document: ``current`` is (context, token, namespace); ``contexts`` the
    names to include (default: the current one and ``<current>-readonly``); ``ca_pem`` the CA
    an HTTPS server's certificate is verified with."""
    context, token, namespace = current
    known = {
        context: (f"{context}-user", token, namespace),
        f"{context}-readonly": ("kchat-reader", readonly_token, namespace),
        VIEWER_CONTEXT: ("shop-viewer", viewer_token, VIEWER_NAMESPACE),
    }
    wanted = list(contexts) if contexts is not None else [context, f"{context}-readonly"]
    if context not in wanted:
        wanted.insert(0, context)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown contexts {unknown}; choose from {sorted(known)}")
    users: dict[str, str] = {}
    entries = []
    for name in wanted:
        user, user_token, ns = known[name]
        users[user] = user_token
        entries.append(
            {"name": name, "context": {"cluster": CLUSTER_NAME, "user": user, "namespace": ns}}
        )
    cluster: Obj = {"server": url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": t}} for name, t in users.items()],
        "contexts": entries,
        "current-context": context,
        "preferences": {},
    }


def write(path: str | Path, config: Obj) -> Path:
    """Write a kubeconfig readable by its owner only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    target.chmod(0o600)
    return target
