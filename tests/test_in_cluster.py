"""In a pod, kchat talks to the API server as the pod's service account.

The sample API server serves HTTPS with a certificate of a test CA, and a temporary directory
plays the service account Kubernetes mounts into every pod (``token``, ``ca.crt``,
``namespace``); ``KUBERNETES_SERVICE_HOST``/``_PORT`` are set as the kubelet sets them. The
real ``kubernetes`` client then does what it does in a Zero to JupyterHub user pod.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from tool_support import call_tool

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import READONLY_USER, KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext, ToolError


@dataclass
class Pod:
    api: KubeAPIServer
    account: Path
    ca: trustme.CA


@pytest.fixture
def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pod]:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    api = KubeAPIServer(SampleCluster(pods=60))
    with api.run_in_thread(tls=tls):
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(api.readonly_token)
        ca.cert_pem.write_to_path(str(account / "ca.crt"))
        (account / "namespace").write_text("payments")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
        # A pod has no kubeconfig: nothing in the environment or in this HOME.
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        yield Pod(api, account, ca)


def test_without_a_kubeconfig_kchat_uses_the_pods_service_account(pod: Pod):
    clients = KubeClients(service_account_dir=pod.account)
    try:
        assert clients.contexts() == ["in-cluster"]
        cluster = clients.cluster()
        assert cluster.default_namespace == "payments", "the pod's own namespace is the default"
        pod.api.requests.clear()
        result = call_tool(ToolContext(cluster=cluster), "list_pods", {})
    finally:
        clients.close()
    assert result.data and {row["namespace"] for row in result.data} == {"payments"}
    assert any(row["name"].startswith("payments-api") for row in result.data)
    assert {seen.user for seen in pod.api.requests} == {READONLY_USER}, (
        "every request carried the mounted token"
    )


def test_the_cluster_refuses_what_the_service_account_may_not_do(pod: Pod):
    """Writes approved in the chat still need the write role: the 403 reaches the user."""
    clients = KubeClients(service_account_dir=pod.account)
    try:
        ctx = ToolContext(cluster=clients.cluster())
        victim = call_tool(ctx, "list_pods", {}).data[0]
        with pytest.raises(ToolError) as refused:
            call_tool(ctx, "delete_pod", {"name": victim["name"], "namespace": "payments"})
        still = call_tool(ctx, "get_pod", {"name": victim["name"], "namespace": "payments"})
    finally:
        clients.close()
    message = str(refused.value)
    assert "forbidden" in message.lower() and READONLY_USER in message
    assert victim["name"] in still.text, "the pod is still there"


def test_a_kubeconfig_wins_over_the_service_account(pod: Pod, tmp_path: Path, monkeypatch):
    """Users who bring their own credentials (``~/.kube/config``) act as themselves."""
    own = KubeAPIServer(SampleCluster(pods=30))
    with own.run_in_thread():
        kubeconfig = own.write_kubeconfig(tmp_path / "home" / ".kube" / "config")
        clients = KubeClients(service_account_dir=pod.account)
        try:
            assert clients.kubeconfig_path() == str(kubeconfig)
            assert clients.contexts() == ["sample", "sample-readonly"]
            pod.api.requests.clear()
            call_tool(ToolContext(cluster=clients.cluster()), "list_namespaces", {})
        finally:
            clients.close()
        assert own.requests and not pod.api.requests


def test_an_api_server_that_the_mounted_ca_does_not_vouch_for_is_refused(pod: Pod):
    """TLS is verified against the mounted ``ca.crt``: a stranger's certificate gets no token."""
    trustme.CA().cert_pem.write_to_path(str(pod.account / "ca.crt"))
    clients = KubeClients(service_account_dir=pod.account)
    try:
        pod.api.requests.clear()
        with pytest.raises(ToolError) as refused:
            call_tool(ToolContext(cluster=clients.cluster(), timeout=10), "list_pods", {})
    finally:
        clients.close()
    assert "certificate verify failed" in str(refused.value).lower()
    assert "ca.crt" in str(refused.value), "the message points at the mounted CA"
    assert not pod.api.requests, "nothing reached the server"
