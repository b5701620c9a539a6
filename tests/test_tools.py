"""The Kubernetes tools against the sample cluster emulation, through the real client.

Each test talks real HTTP on 127.0.0.1 to a ``KubeAPIServer`` serving a 60-pod
``SampleCluster`` with the broken objects kchat is meant to explain.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from kubernetes import client as k8s
from tool_support import URL_PASSWORD, Env, secret_values, serve

from jupyter_kchat.sample.cluster import (
    BEARER_TOKEN,
    DB_PASSWORD,
    PAYMENTS_PANIC,
    TYPO_IMAGE,
    SampleCluster,
)
from jupyter_kchat.sample.cluster.registry import DENIED
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.kube_api.kubeconfig import ALL_CONTEXTS, VIEWER_CONTEXT
from jupyter_kchat.tools import (
    KubeClients,
    KubeConfigError,
    ToolContext,
    ToolError,
    ToolResult,
    default_registry,
)
from jupyter_kchat.tools.kube import KubeCluster
from jupyter_kchat.tools.redact import redact_text

READ_TOOLS = (
    "diagnose_cluster",
    "list_pods",
    "get_pod",
    "get_pod_logs",
    "list_events",
    "list_nodes",
    "list_deployments",
    "list_services",
    "list_namespaces",
    "list_secrets",
    "list_resources",
    "get_resource",
    "rollout_history",
    "top",
    "list_helm_releases",
    "list_contexts",
)
WRITE_TOOLS = ("delete_pod", "scale_deployment", "restart_deployment")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A read-mostly cluster shared by the module (tests that write use ``fresh``)."""
    yield from serve(tmp_path_factory.mktemp("kube"))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Env]:
    """A cluster of one's own, for tests that change it or switch faults on."""
    yield from serve(tmp_path)


def _everything(result: ToolResult) -> str:
    return result.text + "\n" + orjson.dumps(result.data).decode()


# ---------------------------------------------------------------------- registry


def test_registry_offers_the_catalog_with_strict_schemas() -> None:
    registry = default_registry()
    assert set(registry.names(read_only=False)) == set(READ_TOOLS + WRITE_TOOLS)
    assert set(registry.names(read_only=True)) == set(READ_TOOLS)
    for spec in registry.available(read_only=False):
        schema = spec.parameters
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert spec.writes == (spec.name in WRITE_TOOLS)
        assert 20 < len(spec.description) < 200  # short: issue 12 counts every token
        assert spec.openai_schema()["function"]["name"] == spec.name
    logs = registry.get("get_pod_logs")
    assert logs is not None
    tail = logs.parameters["properties"]["tail_lines"]
    assert (tail["minimum"], tail["maximum"], tail["default"]) == (1, 5000, 100)
    assert logs.parameters["required"] == ["name"]
    kinds = registry.get("list_deployments").parameters["properties"]["kind"]  # type: ignore[union-attr]
    assert kinds["enum"] == ["all", "deployments", "statefulsets", "daemonsets"]


def test_write_tools_describe_the_change_for_approval() -> None:
    registry = default_registry()
    scale = registry.get("scale_deployment")
    restart = registry.get("restart_deployment")
    delete = registry.get("delete_pod")
    assert scale and restart and delete
    assert scale.describe_change({"name": "web", "namespace": "shop", "replicas": 5}) == (
        "Scale deployment web in shop to 5 replicas"
    )
    assert "Restart deployment payments-api in payments" in restart.describe_change(
        {"name": "payments-api", "namespace": "payments"}
    )
    assert delete.describe_change({"name": "web-1"}) == "Delete pod web-1 in the default namespace"


# ---------------------------------------------------------------------- list_pods


def test_list_pods_uses_the_default_namespace_and_says_so(env: Env) -> None:
    result = env.call("list_pods")
    assert "namespace default (the default" in result.text
    assert result.data is not None and {row["namespace"] for row in result.data} == {"default"}
    assert set(result.data[0]) == {
        "namespace",
        "name",
        "phase",
        "ready",
        "restarts",
        "node",
        "reason",
        "age",
    }
    chat = env.call("list_pods", namespace="payments")
    assert "namespace payments (the default" in chat.text


def test_list_pods_all_namespaces_names_every_unhealthy_pod(env: Env) -> None:
    result = env.call("list_pods", {"all_namespaces": True})
    assert result.data is not None and len(result.data) == env.cluster.pod_count
    for _namespace, name in env.cluster.unhealthy_pod_keys():
        assert name in result.text, name
    assert not result.truncated
    rows = {(r["namespace"], r["name"]): r for r in result.data}
    crashing = env.pods_of("payments", "payments-api-")
    assert rows[("payments", crashing[0])]["reason"] == "CrashLoopBackOff"
    assert rows[("payments", crashing[0])]["ready"] == "0/1"
    frontend = env.pods_of("shop", "frontend-")[0]
    assert rows[("shop", frontend)]["reason"] == "ImagePullBackOff"
    etl = env.pods_of("data", "etl-worker-")[0]
    assert (rows[("data", etl)]["phase"], rows[("data", etl)]["reason"]) == (
        "Pending",
        "Unschedulable",
    )
    evicted = [r for r in result.data if r["reason"] == "Evicted"]
    assert [r["namespace"] for r in evicted] == ["monitoring"]
    assert "CrashLoopBackOff" in result.text and "Pending (Unschedulable)" in result.text


def test_list_pods_selectors(env: Env) -> None:
    by_label = env.call(
        "list_pods", {"namespace": "payments", "label_selector": "app=payments-api"}
    )
    assert by_label.data is not None and len(by_label.data) == 3
    assert "label_selector 'app=payments-api'" in by_label.text
    pending = env.call(
        "list_pods", {"all_namespaces": True, "field_selector": "status.phase=Pending"}
    )
    assert pending.data and {r["phase"] for r in pending.data} == {"Pending"}
    none = env.call("list_pods", {"namespace": "payments", "label_selector": "app=nothing"})
    assert none.text.startswith("No pods in namespace payments") and none.data == []


def test_bad_arguments_are_refused_with_advice(env: Env) -> None:
    with pytest.raises(ToolError, match="400 Bad Request"):
        env.call("list_pods", {"all_namespaces": True, "label_selector": "app in (a"})
    with pytest.raises(ToolError, match="does not take verbose"):
        env.call("list_pods", {"verbose": True})
    with pytest.raises(ToolError, match="not a valid Kubernetes name"):
        env.call("get_pod", {"name": "../secrets", "namespace": "payments"})
    with pytest.raises(ToolError, match="tail_lines must be from 1 to 5000"):
        env.call("get_pod_logs", {"name": "x", "tail_lines": 0})
    with pytest.raises(ToolError, match="get_pod needs name"):
        env.call("get_pod", {})
    with pytest.raises(ToolError, match="kind must be one of"):
        env.call("list_deployments", {"kind": "jobs"})


# ---------------------------------------------------------------------- get_pod / logs


def test_get_pod_describes_a_crashing_pod_without_its_credentials(env: Env) -> None:
    name = env.pods_of("payments", "payments-api-")[0]
    result = env.call("get_pod", {"name": name, "namespace": "payments"})
    text = result.text
    assert f"Pod payments/{name}" in text
    assert "CrashLoopBackOff" in text and "Last termination: Error, exit code 1" in text
    assert "Controlled by: ReplicaSet" in text and "(Deployment payments-api)" in text
    assert "DATABASE_PASSWORD=***" in text
    assert "postgres://payments:***@postgres.data" in text
    assert "STRIPE_API_KEY (from secret payments-stripe, key api-key)" in text
    assert "Events (newest first):" in text and "BackOff" in text
    assert "previous=true" in text
    assert DB_PASSWORD not in _everything(result) and URL_PASSWORD not in _everything(result)
    assert result.data and result.data[0]["container"] == "api"
    assert result.data[0]["last_exit_code"] == 1


def test_get_pod_of_an_unschedulable_and_an_oom_killed_pod(env: Env) -> None:
    etl = env.pods_of("data", "etl-worker-")[0]
    text = env.call("get_pod", {"name": etl, "namespace": "data"}).text
    assert "PodScheduled=False (Unschedulable: 0/4 nodes are available" in text
    assert "FailedScheduling" in text
    trainer = next(
        name
        for name in env.pods_of("ml", "trainer-")
        if env.cluster.profile_of_pod("ml", name) == "oom"
    )
    text = env.call("get_pod", {"name": trainer, "namespace": "ml"}).text
    assert "Last termination: OOMKilled, exit code 137" in text


def test_get_pod_not_found_gives_advice(env: Env) -> None:
    with pytest.raises(
        ToolError, match=r"pod 'payments-gone' not found in namespace 'payments'.*list_pods"
    ):
        env.call("get_pod", {"name": "payments-gone", "namespace": "payments"})
    with pytest.raises(
        ToolError, match=r"no pod named 'payments-api', but Deployment .*namespace=payments"
    ):
        env.call("get_pod", {"name": "payments-api", "namespace": "payments"})


def test_previous_logs_of_the_crash_are_redacted(env: Env) -> None:
    name = env.pods_of("payments", "payments-api-")[0]
    result = env.call(
        "get_pod_logs", {"name": name, "namespace": "payments", "previous": True, "tail_lines": 50}
    )
    text = result.text
    assert "previous (crashed) instance of container api" in text
    assert "panic: failed to connect to database" in text
    assert "password=***" in text and "Authorization: Bearer ***" in text
    for leaked in (DB_PASSWORD, URL_PASSWORD, BEARER_TOKEN, BEARER_TOKEN[:20]):
        assert leaked not in _everything(result)
    assert result.data and result.data[-1]["text"].startswith("panic:")


def test_logs_grep_tail_and_container_choice(env: Env) -> None:
    name = env.pods_of("payments", "payments-api-")[0]
    grepped = env.call(
        "get_pod_logs",
        {"name": name, "namespace": "payments", "previous": True, "grep": "retrying"},
    )
    assert "5 lines matching 'retrying'" in grepped.text
    assert grepped.data and all("retrying" in row["text"] for row in grepped.data)
    checkout = env.pods_of("shop", "checkout-")[0]
    chosen = env.call("get_pod_logs", {"name": checkout, "namespace": "shop", "tail_lines": 5})
    assert "container checkout (" in chosen.text and "others: log-shipper" in chosen.text
    assert chosen.data is not None and len(chosen.data) == 5
    sidecar = env.call(
        "get_pod_logs",
        {"name": checkout, "namespace": "shop", "container": "log-shipper", "tail_lines": 3},
    )
    assert "container log-shipper: last 3 lines" in sidecar.text
    with pytest.raises(
        ToolError, match="has no container 'nginx'; its containers are: checkout, log-shipper"
    ):
        env.call("get_pod_logs", {"name": checkout, "namespace": "shop", "container": "nginx"})


def test_logs_of_pods_that_never_ran_explain_why(env: Env) -> None:
    frontend = env.pods_of("shop", "frontend-")[0]
    with pytest.raises(ToolError, match=r"has not started .*pull image.*get_pod"):
        env.call("get_pod_logs", {"name": frontend, "namespace": "shop"})
    etl = env.pods_of("data", "etl-worker-")[0]
    with pytest.raises(ToolError, match="not scheduled to a node yet"):
        env.call("get_pod_logs", {"name": etl, "namespace": "data"})
    web = env.pods_of("default", "docs-")[0]
    with pytest.raises(ToolError, match="has not restarted, so there is no previous instance"):
        env.call("get_pod_logs", {"name": web, "namespace": "default", "previous": True})


def test_logs_fit_the_budget(env: Env) -> None:
    name = env.pods_of("shop", "cart-")[0]
    result = env.call(
        "get_pod_logs", {"name": name, "namespace": "shop", "tail_lines": 5000}, budget=2000
    )
    assert len(result.text) <= 2000 and result.truncated
    assert "earlier lines left out to fit" in result.text


# ---------------------------------------------------------------------- events, nodes, workloads


def test_list_events_warnings_and_one_object(env: Env) -> None:
    warnings = env.call("list_events", {"all_namespaces": True, "warnings_only": True})
    assert warnings.data and {row["type"] for row in warnings.data} == {"Warning"}
    for reason in (
        "BackOff",
        "FailedScheduling",
        "Failed",
        "Evicted",
        "NodeNotReady",
        "OOMKilling",
    ):
        assert reason in warnings.text, reason
    etl = env.pods_of("data", "etl-worker-")[0]
    one = env.call("list_events", {"namespace": "data", "involved_object": etl, "kind": "Pod"})
    assert one.data and {row["object"] for row in one.data} == {f"pod/{etl}"}
    assert "FailedScheduling" in one.text and "Insufficient memory" in one.text
    times = [row["count"] for row in one.data]
    assert sum(times) > 1


def test_list_nodes_flags_not_ready_and_pressure(env: Env) -> None:
    result = env.call("list_nodes")
    text = result.text
    assert "node-3: NotReady" in text and "Kubelet stopped posting node status" in text
    assert "node-2: MemoryPressure" in text
    rows = {row["name"]: row for row in result.data or []}
    assert rows["node-3"]["status"] == "NotReady"
    assert rows["node-2"]["status"] == "Ready,MemoryPressure"
    assert "nvidia.com/gpu=present:NoSchedule" in rows["node-4"]["taints"]
    assert rows["node-1"]["pods"].endswith("/110")
    assert text.index("node-3") < text.index("node-1 ")


def test_list_deployments_explains_short_workloads(env: Env) -> None:
    result = env.call("list_deployments", {"all_namespaces": True})
    rows = {(r["namespace"], r["name"]): r for r in result.data or []}
    api = rows[("payments", "payments-api")]
    assert (api["kind"], api["desired"], api["ready"]) == ("Deployment", 3, 0)
    assert api["reason"] == "3 CrashLoopBackOff"
    assert rows[("shop", "frontend")]["reason"] == "2 ImagePullBackOff"
    assert rows[("data", "etl-worker")]["reason"] == "2 Unschedulable"
    assert rows[("data", "postgres")]["kind"] == "StatefulSet"
    assert rows[("kube-system", "kube-proxy")]["kind"] == "DaemonSet"
    assert TYPO_IMAGE in result.text
    assert "last exit Error, exit code 1" in result.text
    sets = env.call("list_deployments", {"all_namespaces": True, "kind": "statefulsets"})
    assert [r["name"] for r in sets.data or []] == ["postgres"]
    assert DB_PASSWORD not in _everything(result)


def test_list_services_namespaces_and_secrets(env: Env) -> None:
    services = env.call("list_services", {"namespace": "shop"})
    rows = {r["name"]: r for r in services.data or []}
    assert rows["frontend"]["type"] == "LoadBalancer" and rows["frontend"][
        "external_ip"
    ].startswith("203.0.113.")
    assert "80:" in rows["frontend"]["ports"]
    namespaces = env.call("list_namespaces")
    assert {r["name"] for r in namespaces.data or []} >= {
        "default",
        "payments",
        "shop",
        "data",
        "ml",
    }
    secrets = env.call("list_secrets", {"all_namespaces": True})
    keys = {r["name"]: r["keys"] for r in secrets.data or []}
    assert keys["payments-db"] == "host, password, port, username"
    assert keys["regcred"] == ".dockerconfigjson"
    assert "payments-db" in secrets.text and "host, password, port, username" in secrets.text
    blob = _everything(secrets)
    for value in secret_values(env.cluster):
        assert value not in blob, value


# ---------------------------------------------------------------------- diagnose


def test_diagnose_finds_every_broken_object_with_its_reason(env: Env) -> None:
    result = env.call("diagnose_cluster")
    text = result.text
    expectations = [
        ("Deployment payments/payments-api", "CrashLoopBackOff", "last exit Error, exit code 1"),
        ("Deployment shop/frontend", "ImagePullBackOff", TYPO_IMAGE),
        ("Deployment data/etl-worker", "Unschedulable", "0/4 nodes are available"),
        ("Deployment ml/trainer", "OOMKilled", "memory limit 16Gi"),
        ("monitoring/prometheus", "Evicted", "The node was low on resource: memory"),
        ("node node-3 is NotReady", "Kubelet stopped posting node status", ""),
        ("node node-2 is Ready,MemoryPressure", "KubeletHasInsufficientMemory", ""),
    ]
    for subject, reason, evidence in expectations:
        start = text.index(subject)
        block = text[start : start + 1500]
        assert reason in block, (subject, reason)
        assert evidence in block, (subject, evidence)
    assert "get_pod_logs name=payments-api-" in text and "previous=true" in text
    crash = text[text.index("Deployment payments/payments-api") :]
    assert PAYMENTS_PANIC in crash[: crash.index("Next:")]
    assert "Warning events:" in text
    categories = {row["category"] for row in result.data or []}
    assert {"Crash loop", "Image pull", "Unschedulable", "Out of memory", "Evicted"} <= categories
    assert {"Node not ready", "Node pressure"} <= categories
    assert not result.truncated


def test_diagnose_one_namespace(env: Env) -> None:
    result = env.call("diagnose_cluster", {"namespace": "shop"})
    assert "Diagnosis of namespace shop" in result.text
    assert "Deployment shop/frontend" in result.text
    assert "payments-api" not in result.text


def test_no_read_tool_leaks_a_secret(env: Env) -> None:
    """Every read tool, on the objects that carry credentials: no value in text or data."""
    api_pod = env.pods_of("payments", "payments-api-")[0]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("diagnose_cluster", {}),
        ("list_pods", {"all_namespaces": True}),
        ("get_pod", {"name": api_pod, "namespace": "payments"}),
        ("get_pod_logs", {"name": api_pod, "namespace": "payments", "previous": True}),
        (
            "get_pod_logs",
            {"name": api_pod, "namespace": "payments", "previous": True, "grep": "pass"},
        ),
        ("list_events", {"all_namespaces": True}),
        ("list_nodes", {}),
        ("list_deployments", {"all_namespaces": True}),
        ("list_services", {"all_namespaces": True}),
        ("list_namespaces", {}),
        ("list_secrets", {"all_namespaces": True}),
        ("list_secrets", {"namespace": "payments"}),
    ]
    secrets = secret_values(env.cluster)
    for tool, args in calls:
        blob = _everything(env.call(tool, args))
        for value in secrets:
            assert value not in blob, (tool, value)


# ---------------------------------------------------------------------- faults and RBAC


def test_read_only_context_gets_forbidden_writes(fresh: Env) -> None:
    ctx = fresh.ctx("sample-readonly")
    assert ctx.cluster.context == "sample-readonly"
    registry = default_registry()
    scale = registry.get("scale_deployment")
    assert scale is not None
    with pytest.raises(ToolError) as caught:
        scale.func(ctx, {"name": "web", "namespace": "default", "replicas": 3})
    message = str(caught.value)
    assert "forbidden (403)" in message and 'cannot patch resource "deployments/scale"' in message
    assert "RBAC" in message
    listed = registry.get("list_pods")
    assert listed is not None and listed.func(ctx, {"all_namespaces": True}).data


def test_rbac_denial_of_a_list_names_the_permission(fresh: Env) -> None:
    fresh.api.faults.forbid(resource="secrets", verb="list")
    with pytest.raises(ToolError) as caught:
        fresh.call("list_secrets", {"all_namespaces": True})
    assert 'cannot list resource "secrets" in API group "" at the cluster scope' in str(
        caught.value
    )
    fresh.api.faults.clear()
    fresh.api.faults.forbid(resource="pods", verb="list")
    result = fresh.call("diagnose_cluster")
    assert "Could not read pods at the cluster scope: forbidden (403)" in result.text
    assert "node node-3 is NotReady" in result.text


def test_slow_api_server_times_out_with_a_clear_error(fresh: Env) -> None:
    path = "/api/v1/namespaces/default/pods"
    fresh.api.faults.delay(5.0, path_prefix=path)
    with pytest.raises(ToolError, match=r"did not answer within 1 s"):
        fresh.call("list_pods", timeout=1.0)
    assert [r.path for r in fresh.api.requests].count(path) == 1, "asked once, not retried"
    fresh.api.faults.clear()
    assert fresh.call("list_pods", timeout=1.0).text, "the next call gets its answer"


def test_server_errors_and_unreachable_servers(fresh: Env) -> None:
    fresh.api.faults.fail(500, path_prefix="/api/v1/nodes", times=1)
    with pytest.raises(ToolError, match=r"the API server failed \(500 InternalError: .*etcdserver"):
        fresh.call("list_nodes")
    assert fresh.call("list_nodes").data
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = k8s.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    cluster = KubeCluster(k8s.ApiClient(configuration), context="gone", default_namespace=None)
    with pytest.raises(
        ToolError, match=rf"cannot connect to the API server at http://127.0.0.1:{port}"
    ):
        cluster.get_raw("/api/v1/namespaces", timeout=2)
    cluster.close()


# ---------------------------------------------------------------------- writes


def test_scale_changes_the_desired_count(fresh: Env) -> None:
    result = fresh.call("scale_deployment", {"name": "web", "namespace": "default", "replicas": 4})
    assert "Scaled deployment default/web up from 2 to 4 replicas" in result.text
    listed = fresh.call("list_deployments", {"namespace": "default"})
    web = next(r for r in listed.data or [] if r["name"] == "web")
    assert web["desired"] == 4
    again = fresh.call("scale_deployment", {"name": "web", "namespace": "default", "replicas": 4})
    assert "already wants 4 replicas; nothing changed" in again.text
    with pytest.raises(
        ToolError, match="deployment 'nope' not found in namespace 'default'; use list_deployments"
    ):
        fresh.call("scale_deployment", {"name": "nope", "replicas": 1})


def test_restart_sets_the_restarted_at_annotation(fresh: Env) -> None:
    result = fresh.call("restart_deployment", {"name": "payments-api", "namespace": "payments"})
    assert "Restarted deployment payments/payments-api" in result.text
    deployment = fresh.cluster.get("deployments", "payments", "payments-api")
    assert deployment is not None
    stamp = deployment["spec"]["template"]["metadata"]["annotations"][
        "kubectl.kubernetes.io/restartedAt"
    ]
    assert result.data and result.data[0]["restarted_at"] == stamp


def test_delete_removes_the_pod(fresh: Env) -> None:
    name = fresh.pods_of("default", "web-")[0]
    result = fresh.call("delete_pod", {"name": name, "namespace": "default"})
    assert f"Deleted pod default/{name}." in result.text
    assert "which will create a replacement" in result.text
    assert ("default", name) not in fresh.cluster.objects["pods"]
    listed = fresh.call("list_pods", {"namespace": "default"})
    assert name not in {r["name"] for r in listed.data or []}
    with pytest.raises(ToolError, match=r"not found in namespace 'default'.*already be deleted"):
        fresh.call("delete_pod", {"name": name, "namespace": "default"})


# ---------------------------------------------------------------------- configuration


def test_clients_read_contexts_and_namespaces(env: Env, tmp_path: Path) -> None:
    clients = env.clients
    assert clients.contexts() == ["sample", "sample-readonly"]
    first = clients.cluster()
    assert clients.cluster() is first and clients.cluster("sample") is first
    assert first.context == "sample" and first.default_namespace == "default"
    payments = env.api.write_kubeconfig(tmp_path / "kc.yaml", namespace="payments")
    scoped = KubeClients(str(payments), "sample-readonly")
    try:
        cluster = scoped.cluster()
        assert cluster.context == "sample-readonly" and cluster.default_namespace == "payments"
        assert ToolContext(cluster=cluster).default_namespace() == "payments"
    finally:
        scoped.close()
    with pytest.raises(KubeConfigError, match=r"has no context 'prod'.*sample, sample-readonly"):
        KubeClients(str(env.kubeconfig), None).cluster("prod")


def test_missing_configuration_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    clients = KubeClients(None, None)
    assert clients.kubeconfig_path() is None and not KubeClients.in_cluster_available()
    with pytest.raises(KubeConfigError) as caught:
        clients.cluster()
    message = str(caught.value)
    for needed in ("KUBECONFIG", "c.KChat.kubeconfig", "--KChat.context", "pod"):
        assert needed in message
    with pytest.raises(KubeConfigError, match="does not run in a pod"):
        KubeClients(None, None, in_cluster=True).cluster()
    broken = tmp_path / "broken.yaml"
    broken.write_text("this: is: not: yaml: [")
    with pytest.raises(KubeConfigError, match="cannot read the kubeconfig"):
        KubeClients(str(broken), None).cluster()


# ---------------------------------------------------------------------- issue 11 fixes


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A cluster whose kubeconfig also holds the namespace-scoped viewer of ``shop``."""
    cluster = SampleCluster(pods=60, seed=0)
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        path = tmp_path_factory.mktemp("viewer") / "kubeconfig.yaml"
        kubeconfig = api.write_kubeconfig(path, contexts=ALL_CONTEXTS)
        clients = KubeClients(str(kubeconfig), None)
        try:
            yield Env(cluster, api, kubeconfig, clients)
        finally:
            clients.close()


def test_logs_behind_an_unreachable_kubelet_point_at_the_node(env: Env) -> None:
    lost = sorted(
        (ns, name)
        for (ns, name), pod in env.cluster.objects["pods"].items()
        if pod["spec"].get("nodeName") == "node-3"
    )
    namespace, name = lost[0]
    with pytest.raises(ToolError) as caught:
        env.call("get_pod_logs", {"name": name, "namespace": namespace})
    message = str(caught.value)
    assert "cannot reach the kubelet of node node-3" in message and ":10250" not in message
    assert "port 10250 (no route to host)" in message and "list_nodes" in message
    assert "overloaded" not in message and "narrow" not in message


CONTAINERD_PULL_ERRORS = (
    'Failed to pull image "acme/payments-exporter:1.2.0": rpc error: code = Unknown desc = '
    'failed to pull and unpack image "docker.io/acme/payments-exporter:1.2.0": failed to resolve '
    'reference "docker.io/acme/payments-exporter:1.2.0": pull access denied, repository does not '
    "exist or may require authorization: server message: insufficient_scope: authorization failed",
    "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
    "Error response from daemon: pull access denied for acme/app, repository does not exist or "
    "may require 'docker login': denied: requested access to the resource is denied",
)


@pytest.mark.parametrize("text", CONTAINERD_PULL_ERRORS)
def test_redaction_keeps_the_registry_answer(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("authorization: s3cr3tT0ken", "s3cr3tT0ken"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ('{"auths": {"r.example.com": {"auth": "dXNlcjpodW50ZXIy"}}}', "dXNlcjpodW50ZXIy"),
        ("auth=hunter2 then more words", "hunter2"),
        ("AUTH_TOKEN: abc def", "abc"),
        ("proxy-authorization: Negotiate YIIB7gYJKoZI", "YIIB7gYJKoZI"),
        ("may require authorization: Bearer tok3n-value", "tok3n-value"),
    ],
)
def test_redaction_still_masks_credentials_near_authorization(text: str, secret: str) -> None:
    assert secret not in redact_text(text)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("spec.tls[0].secretName: shop-tls", ""),
        ('"secretName": "shop-tls"', ""),
        ("tokenSecretRef=letsencrypt-key", ""),
        ("secret: hunter2", "hunter2"),
        ('"client_secret": "hunter2"', "hunter2"),
        ("secret_value=hunter2", "hunter2"),
    ],
)
def test_a_key_that_names_a_secret_keeps_its_name(text: str, secret: str) -> None:
    """Which Secret an Ingress's TLS or a Certificate uses is a name a person needs to see."""
    if secret:
        assert secret not in redact_text(text)
    else:
        assert redact_text(text) == text


def test_the_private_image_pull_error_reaches_the_model_unmasked(env: Env) -> None:
    result = env.call("diagnose_cluster", budget=60_000)
    assert DENIED in result.text and "authorization: ***" not in result.text
    events = env.call("list_events", {"namespace": "payments", "warnings_only": True})
    assert DENIED in "".join(str(row["message"]) for row in events.data or [])


def test_forbidden_texts_say_the_rule_that_would_allow_it(viewer: Env) -> None:
    with pytest.raises(ToolError) as caught:
        viewer.call("list_pods", {"namespace": "payments"}, context=VIEWER_CONTEXT)
    one = str(caught.value)
    assert 'cannot list resource "pods" in API group "" in the namespace "payments"' in one
    assert (
        'A Role in namespace payments with the rule apiGroups ["" (core)], resources ["pods"]'
        in one
    )
    assert "kubectl auth can-i list pods -n payments" in one
    assert "one namespace instead of all" not in one
    with pytest.raises(ToolError) as caught:
        viewer.call("list_pods", {"all_namespaces": True}, context=VIEWER_CONTEXT)
    everywhere = str(caught.value)
    assert "at the cluster scope" in everywhere and "ClusterRoleBinding" in everywhere
    assert "ask about one namespace instead of all" in everywhere
    with pytest.raises(ToolError) as caught:
        viewer.call("list_nodes", context=VIEWER_CONTEXT)
    assert "one namespace" not in str(caught.value)
    with pytest.raises(ToolError) as caught:
        viewer.call(
            "scale_deployment",
            {"name": "checkout", "namespace": "shop", "replicas": 3},
            context=VIEWER_CONTEXT,
        )
    write = str(caught.value)
    assert 'resources ["deployments/scale"], verbs ["patch"]' in write
    assert "one namespace" not in write


@pytest.mark.parametrize(
    "tool", ["list_pods", "list_deployments", "list_events", "list_services", "list_secrets"]
)
def test_an_empty_list_says_when_the_namespace_does_not_exist(env: Env, tool: str) -> None:
    result = env.call(tool, {"namespace": "nope"})
    assert "Namespace nope does not exist; list_namespaces" in result.text
    assert result.data == []


def test_an_empty_list_in_a_real_namespace_claims_nothing(env: Env) -> None:
    result = env.call("list_pods", {"namespace": "kube-system", "label_selector": "app=none"})
    assert result.text == "No pods in namespace kube-system, label_selector 'app=none'."
    assert "does not exist" not in env.call("list_secrets", {"namespace": "shop"}).text


def test_a_name_outside_the_default_namespace_is_found_where_it_is(env: Env) -> None:
    pod = env.pods_of("payments", "payments-api-")[0]
    described = env.call("get_pod", {"name": pod})
    assert described.text.startswith(
        f"(pod {pod} is not in namespace default, the default; found it in namespace payments"
    )
    assert f"Pod payments/{pod}" in described.text
    logs = env.call("get_pod_logs", {"name": pod, "previous": True})
    assert "found it in namespace payments" in logs.text and PAYMENTS_PANIC in logs.text
    for where in ({}, {"namespace": "payments"}):
        with pytest.raises(ToolError, match="no pod named 'payments-api', but Deployment"):
            env.call("get_pod", {"name": "payments-api", **where})
    with pytest.raises(ToolError, match=r"pod 'nothing-here' not found in namespace 'default'"):
        env.call("get_pod", {"name": "nothing-here"})


def test_writes_never_act_on_a_guessed_namespace(fresh: Env) -> None:
    before = fresh.cluster.get("deployments", "payments", "payments-api")
    assert before is not None
    generation = before["metadata"].get("generation")
    pod = fresh.pods_of("payments", "payments-api-")[0]
    for tool, args in (
        ("restart_deployment", {"name": "payments-api"}),
        ("scale_deployment", {"name": "payments-api", "replicas": 5}),
        ("delete_pod", {"name": pod}),
    ):
        with pytest.raises(ToolError) as caught:
            fresh.call(tool, args)
        message = str(caught.value)
        assert "is not in namespace default (the default), so nothing was changed" in message
        assert "It exists in namespace payments" in message
    after = fresh.cluster.get("deployments", "payments", "payments-api")
    assert after is not None and after["metadata"].get("generation") == generation
    assert after["spec"]["replicas"] == before["spec"]["replicas"]
    assert pod in fresh.pods_of("payments", "payments-api-")


def test_list_rows_come_problems_first_with_a_reason(env: Env) -> None:
    for tool, args in (
        ("list_pods", {"all_namespaces": True}),
        ("list_deployments", {"all_namespaces": True}),
        ("list_nodes", {}),
        ("list_services", {"all_namespaces": True}),
        ("list_namespaces", {}),
    ):
        rows = env.call(tool, args).data or []
        assert rows and all("reason" in row for row in rows), tool
        flags = [bool(row["reason"]) for row in rows]
        assert flags == sorted(flags, reverse=True), tool
    pods = env.call("list_pods", {"all_namespaces": True})
    first = next(row for row in pods.data or [] if row["reason"])
    table = pods.text[pods.text.index("NAMESPACE") :]
    assert table.splitlines()[1].split()[:2] == [first["namespace"], first["name"]]
    events = env.call("list_events", {"all_namespaces": True}).data or []
    kinds = [row["type"] == "Warning" for row in events]
    assert kinds == sorted(kinds, reverse=True)


def test_selector_schemas_give_no_example_values_to_copy() -> None:
    blob = orjson.dumps(
        [spec.openai_schema() for spec in default_registry().available(read_only=False)]
    )
    for example in (b"app=web", b"status.phase!=Running", b"spec.nodeName=node-1", b"tier in"):
        assert example not in blob, example


def test_services_no_ready_pod_backs_come_first_with_the_reason(env: Env) -> None:
    result = env.call("list_services", {"all_namespaces": True})
    reasons = {f"{r['namespace']}/{r['name']}": r["reason"] for r in result.data or []}
    assert reasons["shop/legacy-search"] == "no ready endpoints"
    assert reasons["payments/payments-api"] == "no ready endpoints"
    assert reasons["default/kubernetes"] == "" and reasons["shop/cart"] == ""
    assert "services select no ready pod (no endpoints)" in result.text
    table = result.text.splitlines()[2:]
    assert table[0].split()[-1] == "REASON"
    flagged = [line for line in table[1:] if line.endswith("no ready endpoints")]
    assert len(flagged) == sum(1 for r in reasons.values() if r == "no ready endpoints")
    assert table[1 : 1 + len(flagged)] == flagged
