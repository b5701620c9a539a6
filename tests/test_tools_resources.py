"""Tools for any kind the cluster serves (list_resources, get_resource, rollout_history, top,
list_helm_releases), through the real client against the sample API over loopback HTTP."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tool_support import Env, secret_values, serve

from jupyter_kchat.sample import cluster as sample
from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.cluster.helm import HELM_PAYLOAD_MARKER
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.kube_api.kubeconfig import ALL_CONTEXTS, VIEWER_CONTEXT
from jupyter_kchat.tools import (
    KubeClients,
    ToolContext,
    ToolError,
    ToolResult,
    default_registry,
    shape,
)
from jupyter_kchat.tools.discovery import Discovery, _Aggregated
from jupyter_kchat.tools.redact import redact_text

BUDGET = 12_000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from serve(tmp_path_factory.mktemp("kinds"))


def everything(result: ToolResult) -> str:
    """All a result lets out of the server: its text and its data rows."""
    return result.text + json.dumps(result.data)


def names(result: ToolResult) -> list[str]:
    return [row["name"] for row in result.data or []]


@pytest.mark.parametrize(
    ("kind", "resolved"),
    [
        ("pvc", "PersistentVolumeClaim, v1"),
        ("persistentvolumeclaims", "PersistentVolumeClaim, v1"),
        ("PersistentVolumeClaim", "PersistentVolumeClaim, v1"),
        ("ingress", "Ingress, networking.k8s.io/v1"),
        ("ing", "Ingress, networking.k8s.io/v1"),
        ("cronjobs", "CronJob, batch/v1"),
        ("cj", "CronJob, batch/v1"),
        ("certificates.cert-manager.io", "Certificate, cert-manager.io/v1"),
        ("Certificate", "Certificate, cert-manager.io/v1"),
        ("certs", "Certificate, cert-manager.io/v1"),
        ("deploy.apps", "Deployment, apps/v1"),
        ("deployments.v1.apps", "Deployment, apps/v1"),
        ("HPA", "HorizontalPodAutoscaler, autoscaling/v2"),
        ("PVCs", "PersistentVolumeClaim, v1"),
        ("Ingresses", "Ingress, networking.k8s.io/v1"),
    ],
)
def test_kinds_resolve_as_kubectl_resolves_them(env: Env, kind: str, resolved: str) -> None:
    result = env.call("list_resources", {"kind": kind, "all_namespaces": True})
    assert f"({resolved}) in " in result.text.splitlines()[0]


def test_an_unknown_kind_is_a_clear_error_with_the_close_names(env: Env) -> None:
    with pytest.raises(ToolError) as caught:
        env.call("list_resources", {"kind": "ingressclases"})
    message = str(caught.value)
    assert "serves no kind called 'ingressclases'" in message
    assert "ingressclasses" in message


def test_a_crd_installed_after_discovery_was_cached_resolves(tmp_path: Path) -> None:
    for fresh in serve(tmp_path):
        assert fresh.call("list_resources", {"kind": "cert", "namespace": "shop"}).data
        crd = copy.deepcopy(
            fresh.cluster.objects["customresourcedefinitions"][("", "certificates.cert-manager.io")]
        )
        crd["metadata"] = {"name": "widgets.example.kchat.io", "uid": "widget-crd-uid"}
        crd["spec"]["group"] = "example.kchat.io"
        crd["spec"]["names"] = {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
            "shortNames": ["wdg"],
        }
        fresh.cluster.commit("customresourcedefinitions", crd)
        result = fresh.call("list_resources", {"kind": "wdg", "namespace": "shop"})
        assert result.text == "No widgets (Widget, example.kchat.io/v1) in namespace shop."


def test_clusters_without_aggregated_discovery_give_the_same_kinds(env: Env) -> None:
    """Servers before 1.26 answer /apis with the plain group list: each group is then read."""
    cluster = env.clients.cluster()
    aggregated = Discovery(cluster)
    aggregated.kinds()
    legacy = Discovery(cluster)
    legacy._read_legacy(cluster.get("/apis", _Aggregated).groups, 30)
    assert legacy._kinds == aggregated._kinds
    assert legacy._groups == aggregated._groups


def test_pending_and_lost_claims_come_first_with_why(env: Env) -> None:
    result = env.call("list_resources", {"kind": "pvc", "all_namespaces": True})
    rows = result.data or []
    assert [(r["name"], r["reason"]) for r in rows[:2]] == [
        ("uploads", "Lost"),
        ("datasets-cache", "Pending"),
    ]
    assert rows[2]["name"] == "data-postgres-0" and rows[2]["reason"] == ""
    assert 'storageclass.storage.k8s.io "fast-ssd" not found' in rows[1]["message"]
    assert "lost its PersistentVolume" in rows[0]["message"]
    text = result.text
    assert "2 need attention" in text.splitlines()[0]
    assert "STATUS" in text and "STORAGECLASS" in text
    assert text.index("datasets-cache") < text.index("data-postgres-0")
    assert "fast-ssd" in text


def test_the_failed_backup_job_is_first_with_its_backoff_reason(env: Env) -> None:
    result = env.call("list_resources", {"kind": "jobs", "namespace": "data"})
    first = (result.data or [])[0]
    assert first["name"].startswith("backup-nightly-")
    assert first["reason"] == "BackoffLimitExceeded"
    assert first["message"] == "Job has reached the specified backoff limit"
    assert all(row["reason"] == "" for row in (result.data or [])[1:])
    assert "COMPLETIONS" in result.text


def test_certificates_use_the_crd_printer_columns(env: Env) -> None:
    result = env.call("list_resources", {"kind": "certificates", "all_namespaces": True})
    header = next(line for line in result.text.splitlines() if line.startswith("NAMESPACE"))
    assert header.split()[:5] == ["NAMESPACE", "NAME", "READY", "SECRET", "AGE"]
    first = (result.data or [])[0]
    assert (first["namespace"], first["name"], first["ready"]) == ("shop", "shop-tls", "False")
    assert first["reason"] == "Failed" and '"invalid" state' in first["message"]
    assert first["issuer"] == "letsencrypt-prod"
    healthy = next(r for r in result.data or [] if r["name"] == "payments-tls")
    assert healthy["reason"] == "" and healthy["ready"] == "True"


def test_hpas_and_pdbs_that_cannot_do_their_job_are_named(env: Env) -> None:
    hpas = {
        r["name"]: r
        for r in env.call("list_resources", {"kind": "hpa", "all_namespaces": True}).data
    }
    assert hpas["checkout"]["reason"] == "TooManyReplicas"
    listed = env.call("list_resources", {"kind": "hpa", "all_namespaces": True}).text
    assert "By condition: ScalingActive=False 1, ScalingActive=True 1." in listed
    assert hpas["payments-api"]["reason"] == "FailedGetResourceMetric"
    assert "missing request for cpu" in hpas["payments-api"]["message"]
    pdbs = env.call("list_resources", {"kind": "pdb", "namespace": "data"})
    postgres = next(r for r in pdbs.data or [] if r["name"] == "postgres")
    assert postgres["reason"] and postgres["allowed_disruptions"] == "0"


def test_built_in_kinds_get_the_same_health_rules(env: Env) -> None:
    pods = env.call("list_resources", {"kind": "po", "namespace": "payments"}).data or []
    crashing = [r for r in pods if r["name"].startswith("payments-api-")]
    assert crashing and all(r["reason"] == "CrashLoopBackOff" for r in crashing)
    assert pods[: len(crashing)] == crashing or all(r["reason"] for r in pods[: len(crashing)])
    nodes = {r["name"]: r for r in env.call("list_resources", {"kind": "no"}).data or []}
    assert nodes["node-3"]["reason"] == "NodeStatusUnknown"
    deployments = env.call("list_resources", {"kind": "deploy", "namespace": "payments"})
    short = next(r for r in deployments.data or [] if r["name"] == "payments-api")
    assert short["ready"] == "0/3" and short["reason"]


def test_cluster_scoped_kinds_ignore_the_namespace(env: Env) -> None:
    result = env.call("list_resources", {"kind": "sc", "namespace": "shop"})
    assert "in the cluster (cluster-scoped)" in result.text.splitlines()[0]
    assert "standard" in names(result)


def test_an_empty_list_in_a_missing_namespace_says_so(env: Env) -> None:
    result = env.call("list_resources", {"kind": "pvc", "namespace": "nope"})
    assert result.text.startswith("No persistentvolumeclaims")
    assert "Namespace nope does not exist" in result.text


def test_configmap_values_are_shown_with_credentials_masked(env: Env) -> None:
    summary = env.call("get_resource", {"kind": "cm", "name": "app-config", "namespace": "shop"})
    yaml_out = env.call(
        "get_resource",
        {"kind": "configmap", "name": "app-config", "namespace": "shop", "output": "yaml"},
    )
    for result in (summary, yaml_out):
        shown = everything(result)
        assert "LOG_LEVEL" in shown and "info" in shown and "checkout-v2,new-cart" in shown
        assert "postgres.data.svc:5432/shop" in shown
        assert sample.CONFIG_DB_PASSWORD not in shown
        assert sample.CONFIG_API_KEY not in shown
    assert "PAYMENT_API_KEY: '***'" in yaml_out.text or "PAYMENT_API_KEY: ***" in yaml_out.text
    listed = env.call("list_resources", {"kind": "configmaps", "all_namespaces": True})
    assert sample.CONFIG_API_KEY not in everything(listed)


def test_yaml_has_no_managed_fields_and_no_last_applied_configuration(tmp_path: Path) -> None:
    for fresh in serve(tmp_path):
        key = ("payments", "payments-api")
        deployment = copy.deepcopy(fresh.cluster.objects["deployments"][key])
        annotations = deployment["metadata"]["annotations"]
        assert "kubectl.kubernetes.io/last-applied-configuration" in annotations
        deployment["metadata"]["managedFields"] = [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {}}
        ]
        fresh.cluster.commit("deployments", deployment)
        result = fresh.call(
            "get_resource",
            {"kind": "deploy", "name": "payments-api", "namespace": "payments", "output": "yaml"},
        )
        lines = result.text.splitlines()
        assert lines[0] == "# Deployment deployments.apps/payments-api"
        assert "apiVersion: apps/v1" in lines and "kind: Deployment" in lines
        assert "  replicas: 3" in lines
        assert "managedFields" not in result.text
        assert "kubectl-client-side-apply" not in result.text
        assert "last-applied-configuration" not in result.text
        assert sample.DB_PASSWORD not in everything(result)


def test_secrets_show_metadata_and_key_names_only(env: Env) -> None:
    leaks = secret_values(env.cluster)
    for args in (
        {"kind": "secret", "name": "payments-db", "namespace": "payments"},
        {"kind": "secrets", "name": "payments-db", "namespace": "payments", "output": "yaml"},
        {"kind": "Secret", "name": "payments-stripe", "namespace": "payments", "output": "yaml"},
    ):
        result = env.call("get_resource", args)
        shown = everything(result)
        assert [value for value in leaks if value in shown] == []
        assert "not shown>" in shown
        assert "last-applied-configuration" not in shown
    listed = env.call("list_resources", {"kind": "secrets", "all_namespaces": True})
    assert [value for value in leaks if value in everything(listed)] == []
    helm_secrets = [r for r in listed.data or [] if r["name"].startswith("sh.helm.release.v1.")]
    assert helm_secrets
    assert HELM_PAYLOAD_MARKER not in everything(listed)


def test_a_secrets_last_applied_copy_never_leaves(tmp_path: Path) -> None:
    for fresh in serve(tmp_path):
        secret = copy.deepcopy(fresh.cluster.objects["secrets"][("payments", "payments-db")])
        secret["metadata"].setdefault("annotations", {})[
            "kubectl.kubernetes.io/last-applied-configuration"
        ] = json.dumps({"kind": "Secret", "stringData": {"password": sample.DB_PASSWORD}})
        secret["metadata"]["annotations"]["team"] = "payments"
        fresh.cluster.commit("secrets", secret)
        for output in ("summary", "yaml"):
            result = fresh.call(
                "get_resource",
                {
                    "kind": "secret",
                    "name": "payments-db",
                    "namespace": "payments",
                    "output": output,
                },
            )
            shown = everything(result)
            assert sample.DB_PASSWORD not in shown and "last-applied" not in shown
            assert "team" in shown and "payments" in shown


def test_summary_has_status_owners_and_recent_events(env: Env) -> None:
    pvc = env.call("get_resource", {"kind": "pvc", "name": "datasets-cache", "namespace": "ml"})
    text = pvc.text
    assert text.startswith("PersistentVolumeClaim ml/datasets-cache (v1)")
    assert "Needs attention: Pending" in text
    assert "spec.storageClassName: fast-ssd" in text
    assert 'ProvisioningFailed: storageclass.storage.k8s.io "fast-ssd" not found' in text
    pod = env.pods_of("payments", "payments-api-")[0]
    described = env.call("get_resource", {"kind": "po", "name": pod, "namespace": "payments"})
    assert "Controlled by: ReplicaSet payments-api-" in described.text
    assert "-> Deployment payments-api" in described.text


def test_ingress_summary_shows_each_backend_and_the_missing_service(env: Env) -> None:
    result = env.call("get_resource", {"kind": "ing", "name": "shop", "namespace": "shop"})
    assert "shop.example.com/ -> frontend:80" in result.text
    assert 'shop.example.com/api -> shop-api:8080 (<error: endpoints "shop-api" not found>)' in (
        result.text
    )
    assert "spec.tls[0].secretName: shop-tls" in redact_text(result.text)
    assert result.text.splitlines()[1] == (
        "Needs attention: BackendMissing - backend Service shop-api does not exist "
        "(those paths answer 503)"
    )
    assert (result.data or [{}])[0]["reason"] == "BackendMissing"


def test_a_name_without_namespace_is_found_where_it_lives(env: Env) -> None:
    result = env.call("get_resource", {"kind": "cronjob", "name": "backup-nightly"})
    assert "found it in namespace data" in result.text.splitlines()[0]
    assert "CronJob data/backup-nightly" in result.text


def test_yaml_and_summary_fit_a_small_budget_at_line_ends(env: Env) -> None:
    args = {"kind": "deploy", "name": "payments-api", "namespace": "payments"}
    yaml_out = env.call("get_resource", {**args, "output": "yaml"}, budget=1200)
    assert len(yaml_out.text) <= 1200 and yaml_out.truncated
    assert yaml_out.text.splitlines()[-1].startswith("(YAML cut to fit: ")
    summary = env.call("get_resource", args, budget=1200)
    assert len(summary.text) <= 1200 and summary.truncated
    assert "more fields: get_resource output=yaml shows them all)" in summary.text
    assert "Conditions:" in summary.text and "Events (" in summary.text


def test_selectors_the_server_does_not_support_get_its_answer(env: Env) -> None:
    with pytest.raises(ToolError, match="field label not supported: status.phase"):
        env.call("list_resources", {"kind": "pvc", "field_selector": "status.phase=Pending"})
    pods = env.call(
        "list_resources",
        {"kind": "pods", "all_namespaces": True, "field_selector": "status.phase=Pending"},
    )
    assert pods.data and all(r["reason"] for r in pods.data)


def test_get_resource_bad_arguments_get_advice(env: Env) -> None:
    with pytest.raises(ToolError, match="output must be one of summary, yaml"):
        env.call("get_resource", {"kind": "cm", "name": "app-config", "output": "json"})
    with pytest.raises(
        ToolError, match="not found in namespace 'shop'.*list_resources kind=persistentvolumeclaims"
    ):
        env.call("get_resource", {"kind": "pvc", "name": "nope", "namespace": "shop"})


# ---------------------------------------------------------------------- rollout_history


def test_rollout_history_of_checkout_newest_first_with_the_last_change(env: Env) -> None:
    result = env.call("rollout_history", {"name": "checkout", "namespace": "shop"})
    rows = result.data or []
    assert [r["revision"] for r in rows] == [3, 2, 1]
    assert rows[0]["current"] and not rows[1]["current"]
    assert rows[0]["images"].startswith("registry.example.com/shop/checkout:v1.5.1")
    assert rows[2]["images"].startswith("registry.example.com/shop/checkout:v1.4.0")
    assert all(r["change_cause"] for r in rows)
    text = result.text
    assert "Changed from revision 2 to 3:" in text
    assert "checkout:v1.5.0 -> registry.example.com/shop/checkout:v1.5.1" in text
    assert " env " in text.split("Changed from revision 2 to 3:")[1]


def test_rollout_history_of_a_statefulset_reads_controller_revisions(env: Env) -> None:
    result = env.call(
        "rollout_history", {"name": "postgres", "namespace": "data", "kind": "statefulset"}
    )
    assert result.data and result.data[0]["current"]
    assert "Rollout history of StatefulSet data/postgres" in result.text
    with pytest.raises(ToolError, match="kind must be one of deployment, statefulset, daemonset"):
        env.call("rollout_history", {"name": "postgres", "kind": "job"})


# ---------------------------------------------------------------------- top


def test_top_pods_sorts_by_memory_and_shows_requests_and_limits(env: Env) -> None:
    result = env.call("top", {"all_namespaces": True})
    rows = result.data or []
    assert len(rows) > 20
    memory = [int(r["memory"].removesuffix("Mi")) for r in rows]
    assert memory == sorted(memory, reverse=True)
    limited = [r for r in rows if r["memory_limit"]]
    assert limited and all(r["memory_of_limit"] is not None for r in limited)
    assert "MEM REQ/LIM" in result.text and "(metrics.k8s.io)" in result.text
    by_cpu = env.call("top", {"all_namespaces": True, "sort_by": "cpu"}).data or []
    cpu = [int(r["cpu"].removesuffix("m")) for r in by_cpu]
    assert cpu == sorted(cpu, reverse=True)


def test_top_nodes_shows_percent_of_allocatable(env: Env) -> None:
    result = env.call("top", {"kind": "nodes"})
    assert result.data and all(r["memory_percent"] is not None for r in result.data)
    assert "MEMORY%" in result.text


def test_top_without_the_metrics_api_says_so_and_gives_requests(tmp_path: Path) -> None:
    cluster = SampleCluster(pods=60, seed=0)
    api = KubeAPIServer(cluster, metrics=False)
    with api.run_in_thread():
        clients = KubeClients(str(api.write_kubeconfig(tmp_path / "kc.yaml")), None)
        try:
            ctx = ToolContext(cluster=clients.cluster())
            spec = default_registry().get("top")
            assert spec is not None
            result = spec.func(ctx, {"namespace": "payments"})
            nodes = spec.func(ctx, {"kind": "nodes"})
        finally:
            clients.close()
    assert result.text.startswith("This cluster does not serve the metrics API (metrics.k8s.io")
    assert "MEMORY REQUEST" in result.text and result.data
    assert {"cpu_request", "memory_limit"} <= set(result.data[0])
    assert "does not serve the metrics API" in nodes.text
    assert "NAME    CPU REQUESTS  CPU LIMITS  MEMORY REQUESTS  MEMORY LIMITS" in nodes.text
    assert sorted(row["name"] for row in nodes.data or []) == sorted(
        name for _, name in cluster.objects["nodes"]
    )
    assert all(row["memory_requests_percent"] is not None for row in nodes.data or [])


def test_a_metrics_api_that_is_down_leaves_discovery_and_top_usable(tmp_path: Path) -> None:
    for fresh in serve(tmp_path):
        fresh.api.faults.fail(503, "/apis/metrics.k8s.io", times=None)
        listed = fresh.call("list_resources", {"kind": "pvc", "namespace": "ml"})
        assert "datasets-cache" in listed.text
        result = fresh.call("top", {"namespace": "payments"})
        assert result.text.startswith("This cluster does not serve the metrics API")
        assert result.data and "memory_request" in result.data[0]


# ---------------------------------------------------------------------- helm


def test_helm_releases_from_labels_failed_first_payload_never_read(env: Env) -> None:
    env.api.requests.clear()
    result = env.call("list_helm_releases", {})
    rows = result.data or []
    assert [(r["namespace"], r["name"], r["revision"], r["status"]) for r in rows] == [
        ("shop", "shop", 2, "failed"),
        ("monitoring", "prometheus", 3, "deployed"),
    ]
    assert "revision 1 is the last deployed" in rows[0]["reason"]
    assert rows[1]["chart"] and rows[1]["chart_version"]
    assert HELM_PAYLOAD_MARKER not in everything(result)
    reads = [seen for seen in env.api.requests if seen.path.endswith("/secrets")]
    assert reads and all(seen.query.get("labelSelector") == "owner=helm" for seen in reads)


# ---------------------------------------------------------------------- 10,000 objects


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeClients]:
    cluster = SampleCluster(
        pods=60, seed=0, extra={"certificates.cert-manager.io": 10_000, "configmaps": 10_000}
    )
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        clients = KubeClients(str(api.write_kubeconfig(tmp_path_factory.mktemp("many") / "kc")))
        try:
            yield clients
        finally:
            clients.close()


@pytest.mark.parametrize("kind", ["certificates.cert-manager.io", "configmaps"])
def test_10000_objects_fit_the_budget_and_keep_every_unhealthy_one(
    many: KubeClients, kind: str
) -> None:
    ctx = ToolContext(cluster=many.cluster(), budget=BUDGET, timeout=120)
    spec = default_registry().get("list_resources")
    assert spec is not None
    result: Any = spec.func(ctx, {"kind": kind, "all_namespaces": True})
    assert len(result.text) <= BUDGET and result.truncated
    rows = result.data
    assert len(rows) >= 10_000
    bad = [r for r in rows if r["reason"]]
    assert rows[: len(bad)] == bad
    if kind.startswith("certificates"):
        assert len(bad) > 100
    missing = [f"{r['namespace']}/{r['name']}" for r in bad if r["name"] not in result.text]
    assert missing == []
    assert "Narrow down: list_resources kind=" in result.text


def head_of(result: ToolResult) -> str:
    """The summary lines above the table."""
    return result.text.split("\nNAMESPACE", 1)[0]


def test_workload_summaries_come_from_their_conditions_not_the_ready_column(env: Env) -> None:
    deployments = env.call("list_resources", {"kind": "deploy", "all_namespaces": True})
    head = head_of(deployments)
    assert "By status: 1/1" not in head and "3/3" not in head
    assert "By condition: Available=True 14, Available=False 7." in head
    stuck = {r["name"]: r["reason"] for r in deployments.data or [] if r["reason"]}
    assert stuck["payments-api"] == "ProgressDeadlineExceeded"
    assert stuck["web"] == "MinimumReplicasUnavailable"
    for kind in ("replicasets", "daemonsets"):
        head = head_of(env.call("list_resources", {"kind": kind, "all_namespaces": True}))
        assert "By status:" not in head, head
        assert "ready" in head.split("Needing attention by reason:", 1)[1]


def test_warning_events_are_the_problems_and_come_first(env: Env) -> None:
    result = env.call("list_resources", {"kind": "events", "all_namespaces": True})
    rows = result.data or []
    warnings = [r for r in rows if r["type"] == "Warning"]
    assert warnings and rows[: len(warnings)] == warnings
    assert f"{len(warnings)} need attention" in result.text.splitlines()[0]
    assert all(r["reason"] for r in warnings)
    assert all(r["reason"] == "" for r in rows[len(warnings) :])
    claim = next(r for r in warnings if r["object"] == "persistentvolumeclaim/uploads")
    assert claim["reason"] == "ClaimLost" and "lost its PersistentVolume" in claim["message"]
    assert "ClaimLost" in result.text.split("Needing attention by reason:", 1)[1]


def test_services_without_endpoints_are_named_with_the_pods_behind_them(env: Env) -> None:
    result = env.call("list_resources", {"kind": "svc", "namespace": "shop"})
    rows = {r["name"]: r for r in result.data or []}
    assert rows["legacy-search"]["reason"] == "NoReadyEndpoints"
    assert "matches no pod" in rows["legacy-search"]["message"]
    assert rows["frontend"]["reason"] == "NoReadyEndpoints"
    assert "none ready: frontend-" in rows["frontend"]["message"]
    assert rows["checkout"]["reason"] == ""
    assert "2 need attention" in result.text.splitlines()[0]
    first = [r["name"] for r in (result.data or [])[:2]]
    assert sorted(first) == ["frontend", "legacy-search"]


def test_an_ingress_routing_to_a_missing_service_needs_attention(env: Env) -> None:
    result = env.call("list_resources", {"kind": "ing", "namespace": "shop"})
    shop = (result.data or [])[0]
    assert shop["name"] == "shop" and shop["reason"] == "BackendMissing"
    assert "/api -> Service shop-api:8080, which does not exist" in shop["message"]
    assert "1 need attention" in result.text.splitlines()[0]
    assert "shop-api:8080" in result.text


def test_a_failing_or_suspended_cronjob_needs_attention(env: Env) -> None:
    result = env.call("list_resources", {"kind": "cj", "all_namespaces": True})
    rows = {r["name"]: r for r in result.data or []}
    backup = rows["backup-nightly"]
    assert backup["reason"] == "BackoffLimitExceeded"
    assert "Job backup-nightly-" in backup["message"] and "backoff limit" in backup["message"]
    assert rows["retrain-weekly"]["reason"] == "Suspended"
    assert "suspend=true" in rows["retrain-weekly"]["message"]
    assert rows["etl-daily"]["reason"] == ""
    assert "2 need attention" in result.text.splitlines()[0]
    assert [r["name"] for r in (result.data or [])][-1] == "etl-daily"


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeClients]:
    """The sample cluster with every context, the one-namespace viewer (``shop``) among them."""
    api = KubeAPIServer(SampleCluster(pods=60, seed=0))
    with api.run_in_thread():
        path = tmp_path_factory.mktemp("viewer") / "kubeconfig.yaml"
        clients = KubeClients(str(api.write_kubeconfig(path, contexts=ALL_CONTEXTS)), None)
        try:
            yield clients
        finally:
            clients.close()


def as_viewer(clients: KubeClients, args: dict[str, Any]) -> ToolResult:
    spec = default_registry().get("list_resources")
    assert spec is not None
    return spec.func(ToolContext(cluster=clients.cluster(VIEWER_CONTEXT)), args)


def test_a_one_namespace_user_listing_everywhere_gets_its_namespaces(viewer: KubeClients) -> None:
    result = as_viewer(viewer, {"kind": "svc", "all_namespaces": True})
    lines = result.text.splitlines()
    assert "in the namespaces this user can read (shop): 2 need attention." in lines[0]
    assert result.text.count("403 Forbidden") == 1
    assert "read in the namespaces it can read: shop." in lines[1]
    rows = result.data or []
    assert rows and {r["namespace"] for r in rows} == {"shop"}
    assert {r["name"] for r in rows if r["reason"] == "NoReadyEndpoints"} == {
        "frontend",
        "legacy-search",
    }


def test_a_cluster_scoped_kind_the_user_may_not_list_stays_a_clear_refusal(
    viewer: KubeClients,
) -> None:
    with pytest.raises(ToolError, match=r"nodes is forbidden.*ClusterRole"):
        as_viewer(viewer, {"kind": "nodes"})


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("filler-config-09999\x00kube-root-ca.crt", "filler-config-09999\x00kube-root-ca.crt"),
        ("xoxb-1234567890-abcdefghij", "***"),
        ("build-cache\x00sk-proj-abcdefghijklmnopqrstuv", "build-cache\x00***"),
        ("glpat-abcdefghijklmnopqrstu", "***"),
        ("db-password=hunter2", "db-password=***"),
    ],
)
def test_name_shaped_text_is_still_masked_where_a_token_hides(text: str, masked: str) -> None:
    assert redact_text(text) == masked


def test_measuring_a_table_matches_the_table_it_prints() -> None:
    """Fitting the budget measures candidate tables without printing them: the measure must
    be the printed size exactly, or the text would overflow or leave room unused."""
    columns = ["NAMESPACE", "NAME", "READY", "AGE", "REASON"]
    problems = [["shop", "shop-tls", "False", "60d", "Failed: order is in invalid state"]]
    healthy = [("shop", f"cert-{i}", "True", f"{i}d") for i in range(30)]
    odd = [("data", "x", "", ""), ("data", "y", "True ", "1d"), ("ml", "z", "True", "2d  ")]
    for rows in ([*problems, *healthy], healthy, [*problems, *odd], odd, []):
        for notes in (None, {len(problems): "(a sample:)"}, {-1: "x", 99: "y"}):
            printed = shape.table(columns, rows, notes)
            assert shape.table_size(columns, rows, notes) == len("\n".join(printed)) + 1


def test_a_user_who_may_not_read_secrets_gets_releases_from_what_helm_installed(
    viewer: KubeClients,
) -> None:
    spec = default_registry().get("list_helm_releases")
    assert spec is not None
    result = spec.func(ToolContext(cluster=viewer.cluster(VIEWER_CONTEXT)), {})
    rows = result.data or []
    assert [(r["namespace"], r["name"]) for r in rows] == [("shop", "shop")]
    assert "not readable with these credentials (403" in result.text
    assert "revisions and status are unknown" in result.text
    assert HELM_PAYLOAD_MARKER not in everything(result)
