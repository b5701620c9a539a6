"""The sample cluster's new kinds, read back through the official kubernetes client over HTTP.

Each test looks at what a person (or a tool) would see on a v1.30 cluster in that state: the
Pending and Lost claims with their events, the failed backup and its log, the Ingress pointing
at a missing Service, endpoints that follow the pods, the HPAs and PDB, cert-manager's failed
Certificate, Helm's release Secrets, rollout history, metrics and the kubelet that cannot be
reached. The scale knobs are counted on the generated state itself.
"""

from __future__ import annotations

import base64
import gzip
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config
from tool_support import call_tool

from jupyter_kchat.sample.cluster import (
    BACKOFF_LIMIT_MESSAGE,
    BACKUP_ERROR,
    CERT_FAILURE,
    CLAIM_LOST,
    CONFIG_API_KEY,
    CONFIG_DB_PASSWORD,
    HELM_PAYLOAD_MARKER,
    HPA_PINNED,
    PRIVATE_IMAGE,
    PROVISIONING_FAILED,
    TYPO_IMAGE,
    SampleCluster,
)
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.tools import KubeClients, ToolContext

FIXED_NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=timezone.utc)


class Sample:
    """A 60-pod sample cluster served on loopback, with typed API clients."""

    def __init__(self, cluster: SampleCluster, client: k8s.ApiClient) -> None:
        self.cluster = cluster
        self.client = client
        self.core = k8s.CoreV1Api(client)
        self.apps = k8s.AppsV1Api(client)
        self.batch = k8s.BatchV1Api(client)
        self.net = k8s.NetworkingV1Api(client)
        self.custom = k8s.CustomObjectsApi(client)

    def events(self, namespace: str, name: str) -> list[k8s.CoreV1Event]:
        selector = f"involvedObject.name={name}"
        return self.core.list_namespaced_event(namespace, field_selector=selector).items

    def raw(self, path: str) -> Any:
        """GET ``path`` with the client's credentials, decoded."""
        response = self.client.call_api(
            *self.client.param_serialize(
                "GET",
                path,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
        )
        response.read()
        if response.status >= 400:
            raise ApiException(status=response.status, reason=response.data.decode())
        return orjson.loads(response.data)


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Sample]:
    cluster = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        with new_client_from_config(config_file=str(kubeconfig)) as client:
            yield Sample(cluster, client)


def _condition(obj: Any, kind: str) -> Any:
    return next(c for c in obj.status.conditions if c.type == kind)


# ---------------------------------------------------------------------- storage


def test_claims_are_bound_pending_and_lost_with_the_controllers_events(sample: Sample) -> None:
    classes = k8s.StorageV1Api(sample.client).list_storage_class().items
    assert [(c.metadata.name, c.provisioner) for c in classes] == [
        ("standard", "rancher.io/local-path")
    ]
    assert classes[0].metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    bound = sample.core.read_namespaced_persistent_volume_claim("data-postgres-0", "data")
    assert bound.status.phase == "Bound" and bound.spec.storage_class_name == "standard"
    volume = sample.core.read_persistent_volume(bound.spec.volume_name)
    assert volume.metadata.name == f"pvc-{bound.metadata.uid}"
    assert volume.spec.claim_ref.name == "data-postgres-0" and volume.status.phase == "Bound"
    postgres = sample.core.read_namespaced_pod("postgres-0", "data")
    claims = [v.persistent_volume_claim.claim_name for v in postgres.spec.volumes]
    assert claims == ["data-postgres-0"]

    pending = sample.core.read_namespaced_persistent_volume_claim("datasets-cache", "ml")
    assert pending.status.phase == "Pending" and pending.spec.storage_class_name == "fast-ssd"
    (event,) = sample.events("ml", "datasets-cache")
    assert (event.type, event.reason, event.message) == (
        "Warning",
        "ProvisioningFailed",
        'storageclass.storage.k8s.io "fast-ssd" not found',
    )
    assert event.message == PROVISIONING_FAILED and event.count > 1
    assert event.source.component == "persistentvolume-controller"

    lost = sample.core.read_namespaced_persistent_volume_claim("uploads", "shop")
    assert lost.status.phase == "Lost" and lost.status.capacity is None
    with pytest.raises(ApiException) as gone:
        sample.core.read_persistent_volume(lost.spec.volume_name)
    assert gone.value.status == 404
    (event,) = sample.events("shop", "uploads")
    assert (event.type, event.reason, event.message) == ("Warning", "ClaimLost", CLAIM_LOST)


# ---------------------------------------------------------------------- batch


def test_the_nightly_backup_failed_after_three_attempts_and_says_why(sample: Sample) -> None:
    cronjob = sample.batch.read_namespaced_cron_job("backup-nightly", "data")
    assert cronjob.spec.schedule == "0 2 * * *" and not cronjob.spec.suspend
    assert cronjob.status.last_schedule_time == datetime(2025, 3, 14, 2, 0, tzinfo=timezone.utc)
    jobs = sample.batch.list_namespaced_job("data").items
    runs = sorted(
        (j for j in jobs if j.metadata.owner_references[0].name == "backup-nightly"),
        key=lambda j: j.metadata.creation_timestamp,
    )
    last = datetime(2025, 3, 14, 2, 0, tzinfo=timezone.utc).timestamp()
    assert [j.metadata.name for j in runs] == [
        f"backup-nightly-{int(last - 86400) // 60}",
        f"backup-nightly-{int(last) // 60}",
    ]
    done, failed = runs
    assert _condition(done, "Complete").status == "True" and done.status.succeeded == 1
    condition = _condition(failed, "Failed")
    assert (condition.status, condition.reason, condition.message) == (
        "True",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    assert failed.spec.backoff_limit == 2 and failed.status.failed == 3
    assert [e.reason for e in sample.events("data", failed.metadata.name)].count(
        "SuccessfulCreate"
    ) == 3
    warning = [e for e in sample.events("data", failed.metadata.name) if e.type == "Warning"]
    assert [(e.reason, e.message) for e in warning] == [
        ("BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE)
    ]
    pods = sample.core.list_namespaced_pod(
        "data", label_selector=f"job-name={failed.metadata.name}"
    ).items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Failed"
        state = pod.status.container_statuses[0].state.terminated
        assert (state.exit_code, state.reason) == (1, "Error")
        log = sample.core.read_namespaced_pod_log(pod.metadata.name, "data")
        assert log.rstrip("\n").splitlines()[-1] == BACKUP_ERROR
    assert BACKUP_ERROR.startswith('pg_dump: error: connection to server at "postgres.data.svc"')

    etl = [j for j in jobs if j.metadata.name.startswith("etl-daily-")]
    assert len(etl) == 1 and _condition(etl[0], "Complete").status == "True"
    retrain = sample.batch.read_namespaced_cron_job("retrain-weekly", "ml")
    assert retrain.spec.suspend is True
    idle = FIXED_NOW - retrain.status.last_schedule_time
    assert idle.days == 20


# ---------------------------------------------------------------------- networking


def test_ingress_backends_and_endpoints_that_follow_the_pods(sample: Sample) -> None:
    ingress = sample.net.read_namespaced_ingress("shop", "shop")
    assert ingress.spec.ingress_class_name == "nginx"
    rule = ingress.spec.rules[0]
    assert rule.host == "shop.example.com"
    backends = {
        p.path: (p.backend.service.name, p.backend.service.port.number) for p in rule.http.paths
    }
    assert backends == {"/": ("frontend", 80), "/api": ("shop-api", 8080)}
    services = {s.metadata.name for s in sample.core.list_namespaced_service("shop").items}
    assert "frontend" in services and "shop-api" not in services
    assert [c.metadata.name for c in sample.net.list_ingress_class().items] == ["nginx"]

    orphan = sample.core.read_namespaced_endpoints("legacy-search", "shop")
    assert orphan.subsets is None
    slices = (
        k8s.DiscoveryV1Api(sample.client)
        .list_namespaced_endpoint_slice(
            "shop", label_selector="kubernetes.io/service-name=legacy-search"
        )
        .items
    )
    assert len(slices) == 1 and not slices[0].endpoints

    frontend = sample.core.read_namespaced_endpoints("frontend", "shop")
    (subset,) = frontend.subsets
    assert subset.addresses is None and len(subset.not_ready_addresses) == 2

    def cart_ips() -> set[str]:
        (subset,) = sample.core.read_namespaced_endpoints("cart", "shop").subsets
        return {a.ip for a in subset.addresses}

    pods = sample.core.list_namespaced_pod("shop", label_selector="app=cart").items
    assert cart_ips() == {p.status.pod_ip for p in pods}
    sample.apps.patch_namespaced_deployment_scale("cart", "shop", {"spec": {"replicas": 3}})
    pods = sample.core.list_namespaced_pod("shop", label_selector="app=cart").items
    assert len(pods) == 3 and cart_ips() == {p.status.pod_ip for p in pods}
    sample.core.delete_namespaced_pod(pods[0].metadata.name, "shop")
    pods = sample.core.list_namespaced_pod("shop", label_selector="app=cart").items
    assert len(pods) == 3 and cart_ips() == {p.status.pod_ip for p in pods}
    (cart_slice,) = (
        k8s.DiscoveryV1Api(sample.client)
        .list_namespaced_endpoint_slice("shop", label_selector="kubernetes.io/service-name=cart")
        .items
    )
    assert {e.addresses[0] for e in cart_slice.endpoints} == cart_ips()
    policies = sample.net.list_network_policy_for_all_namespaces().items
    assert "postgres-allow-apps" in {p.metadata.name for p in policies}


# ---------------------------------------------------------------------- autoscaling, policy


def test_autoscalers_pinned_or_blind_and_a_budget_that_allows_nothing(sample: Sample) -> None:
    hpas = k8s.AutoscalingV2Api(sample.client)
    checkout = hpas.read_namespaced_horizontal_pod_autoscaler("checkout", "shop")
    assert (checkout.spec.min_replicas, checkout.spec.max_replicas) == (2, 4)
    assert checkout.status.current_replicas == checkout.status.desired_replicas == 4
    limited = _condition(checkout, "ScalingLimited")
    assert (limited.status, limited.reason, limited.message) == (
        "True",
        "TooManyReplicas",
        HPA_PINNED,
    )
    assert sample.apps.read_namespaced_deployment("checkout", "shop").spec.replicas == 4
    blind = hpas.read_namespaced_horizontal_pod_autoscaler("payments-api", "payments")
    active = _condition(blind, "ScalingActive")
    assert (active.status, active.reason) == ("False", "FailedGetResourceMetric")
    assert active.message.startswith(
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "missing request for cpu in container api of Pod payments-api-"
    )
    deployment = sample.apps.read_namespaced_deployment("payments-api", "payments")
    assert "cpu" not in deployment.spec.template.spec.containers[0].resources.requests
    assert "FailedGetResourceMetric" in {
        e.reason for e in sample.events("payments", "payments-api") if e.type == "Warning"
    }

    budgets = {
        (b.metadata.namespace, b.metadata.name): b
        for b in k8s.PolicyV1Api(sample.client)
        .list_pod_disruption_budget_for_all_namespaces()
        .items
    }
    postgres = budgets[("data", "postgres")]
    assert postgres.spec.min_available == 1 and postgres.status.disruptions_allowed == 0
    assert _condition(postgres, "DisruptionAllowed").reason == "InsufficientPods"
    assert budgets[("kube-system", "coredns")].status.disruptions_allowed == 1


# ---------------------------------------------------------------------- cert-manager


def test_cert_manager_certificates_through_their_crds(sample: Sample) -> None:
    crds = k8s.ApiextensionsV1Api(sample.client).list_custom_resource_definition().items
    by_name = {c.metadata.name: c for c in crds}
    assert set(by_name) == {
        "certificates.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
    }
    columns = by_name["certificates.cert-manager.io"].spec.versions[0].additional_printer_columns
    assert [(c.name, c.priority) for c in columns] == [
        ("Ready", None),
        ("Secret", None),
        ("Issuer", 1),
        ("Status", 1),
        ("Age", None),
    ]
    assert by_name["certificates.cert-manager.io"].spec.names.short_names == ["cert", "certs"]
    issuer = sample.custom.get_cluster_custom_object(
        "cert-manager.io", "v1", "clusterissuers", "letsencrypt-prod"
    )
    assert issuer["status"]["conditions"][0]["status"] == "True"
    failed = sample.custom.get_namespaced_custom_object(
        "cert-manager.io", "v1", "shop", "certificates", "shop-tls"
    )
    conditions = {c["type"]: c for c in failed["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert (conditions["Issuing"]["reason"], conditions["Issuing"]["message"]) == (
        "Failed",
        CERT_FAILURE,
    )
    assert "403 urn:ietf:params:acme:error:unauthorized" in CERT_FAILURE
    assert failed["metadata"]["ownerReferences"][0]["kind"] == "Ingress"
    assert "Failed" in {e.reason for e in sample.events("shop", "shop-tls") if e.type == "Warning"}
    good = sample.custom.get_namespaced_custom_object(
        "cert-manager.io", "v1", "payments", "certificates", "payments-tls"
    )
    assert good["status"]["conditions"][0]["status"] == "True"


# ---------------------------------------------------------------------- config, Helm, history


def test_app_config_and_helm_releases(sample: Sample) -> None:
    config = sample.core.read_namespaced_config_map("app-config", "shop").data
    assert config["LOG_LEVEL"] == "info" and config["FEATURE_FLAGS"] == "checkout-v2,new-cart"
    assert config["DATABASE_URL"] == (
        f"postgres://shop:{CONFIG_DB_PASSWORD}@postgres.data.svc:5432/shop"
    )
    assert config["PAYMENT_API_KEY"] == CONFIG_API_KEY

    releases = sample.core.list_secret_for_all_namespaces(label_selector="owner=helm").items
    seen = {
        (s.metadata.namespace, s.metadata.name): (s.type, s.metadata.labels["status"])
        for s in releases
    }
    assert seen == {
        ("monitoring", "sh.helm.release.v1.prometheus.v1"): ("helm.sh/release.v1", "superseded"),
        ("monitoring", "sh.helm.release.v1.prometheus.v2"): ("helm.sh/release.v1", "superseded"),
        ("monitoring", "sh.helm.release.v1.prometheus.v3"): ("helm.sh/release.v1", "deployed"),
        ("shop", "sh.helm.release.v1.shop.v1"): ("helm.sh/release.v1", "deployed"),
        ("shop", "sh.helm.release.v1.shop.v2"): ("helm.sh/release.v1", "failed"),
    }
    latest = next(s for s in releases if s.metadata.name.endswith("prometheus.v3"))
    assert {"name", "owner", "status", "version", "modifiedAt"} <= set(latest.metadata.labels)
    payload = gzip.decompress(base64.b64decode(base64.b64decode(latest.data["release"])))
    release = orjson.loads(payload)
    assert HELM_PAYLOAD_MARKER in payload.decode() and release["version"] == 3
    assert HELM_PAYLOAD_MARKER not in latest.data["release"]
    prometheus = sample.apps.read_namespaced_deployment("prometheus", "monitoring").metadata
    assert prometheus.labels["app.kubernetes.io/managed-by"] == "Helm"
    assert (
        prometheus.labels["helm.sh/chart"]
        == f"prometheus-{release['chart']['metadata']['version']}"
    )
    assert prometheus.annotations["meta.helm.sh/release-name"] == "prometheus"
    frontend = sample.apps.read_namespaced_deployment("frontend", "shop").metadata
    assert frontend.labels["app.kubernetes.io/instance"] == "shop"


def test_rollout_history_of_checkout_and_postgres(sample: Sample) -> None:
    sets = sample.apps.list_namespaced_replica_set("shop", label_selector="app=checkout").items
    history = sorted(
        (
            int(rs.metadata.annotations["deployment.kubernetes.io/revision"]),
            rs.spec.template.spec.containers[0].image,
            {e.name: e.value for e in rs.spec.template.spec.containers[0].env},
            rs.metadata.annotations["kubernetes.io/change-cause"],
        )
        for rs in sets
    )
    assert [(r, image.rsplit(":", 1)[1]) for r, image, _, _ in history] == [
        (1, "v1.4.0"),
        (2, "v1.5.0"),
        (3, "v1.5.1"),
    ]
    assert history[1][2] != history[2][2], "the last rollout also changed an env var"
    assert "set image" in history[1][3]
    revisions = sorted(
        (
            (r.revision, r.data["spec"]["template"]["spec"]["containers"][0]["image"])
            for r in sample.apps.list_namespaced_controller_revision("data").items
            if r.metadata.owner_references[0].name == "postgres"
        )
    )
    assert revisions == [(1, "postgres:16.2"), (2, "postgres:16.3")]
    postgres = sample.apps.read_namespaced_stateful_set("postgres", "data")
    current = sample.apps.read_namespaced_controller_revision(
        postgres.status.current_revision, "data"
    )
    assert current.revision == 2
    assert current.data["spec"]["template"]["$patch"] == "replace"
    owners = {
        r.metadata.owner_references[0].name
        for r in sample.apps.list_controller_revision_for_all_namespaces().items
    }
    assert {"kube-proxy", "node-exporter", "postgres"} == owners

    sample.apps.patch_namespaced_deployment(
        "checkout",
        "shop",
        {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}
                }
            }
        },
    )
    sets = sample.apps.list_namespaced_replica_set("shop", label_selector="app=checkout").items
    revisions = {
        int(rs.metadata.annotations["deployment.kubernetes.io/revision"]): rs.spec.replicas
        for rs in sets
    }
    assert revisions == {1: 0, 2: 0, 3: 0, 4: 4}
    pods = sample.core.list_namespaced_pod("shop", label_selector="app=checkout").items
    newest = next(rs for rs in sets if rs.spec.replicas == 4).metadata.name
    assert len(pods) == 4 and {p.metadata.owner_references[0].name for p in pods} == {newest}
    scaled = [
        e.message for e in sample.events("shop", "checkout") if e.reason == "ScalingReplicaSet"
    ]
    assert f"Scaled up replica set {newest} to 4 from 0" in scaled
    (subset,) = sample.core.read_namespaced_endpoints("checkout", "shop").subsets
    listed = {
        a.target_ref.name for a in (subset.addresses or []) + (subset.not_ready_addresses or [])
    }
    assert listed == {p.metadata.name for p in pods}


# ---------------------------------------------------------------------- kubelet, registry, metrics


def test_pull_errors_carry_the_registrys_answer(sample: Sample) -> None:
    def failures(namespace: str, app: str) -> set[str]:
        pod = sample.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items[0]
        return {
            e.message
            for e in sample.events(namespace, pod.metadata.name)
            if e.reason == "Failed" and e.message.startswith("Failed to pull")
        }

    (typo,) = failures("shop", "frontend")
    assert typo.endswith(f"{TYPO_IMAGE}: not found") and "code = NotFound" in typo
    (denied,) = failures("payments", "payments-exporter")
    assert denied == (
        f'Failed to pull image "{PRIVATE_IMAGE}": rpc error: code = Unknown desc = failed to pull '
        f'and unpack image "docker.io/{PRIVATE_IMAGE}": failed to resolve reference '
        f'"docker.io/{PRIVATE_IMAGE}": pull access denied, repository does not exist or may '
        "require authorization: server message: insufficient_scope: authorization failed"
    )


def test_logs_on_the_unreachable_node_fail_as_the_api_server_says(sample: Sample) -> None:
    pod = sample.core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-3").items[0]
    node = sample.core.read_node("node-3")
    ip = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    with pytest.raises(ApiException) as caught:
        sample.core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace)
    status = orjson.loads(caught.value.body)
    assert caught.value.status == 500 and status["code"] == 500
    container = pod.spec.containers[0].name
    url = (
        f"https://{ip}:10250/containerLogs/{pod.metadata.namespace}/{pod.metadata.name}/{container}"
    )
    assert status["message"] == f'Get "{url}": dial tcp {ip}:10250: connect: no route to host'
    with pytest.raises(Exception) as direct:
        sample.cluster.pod_log(
            pod.metadata.namespace, pod.metadata.name, container, params={"tailLines": "50"}
        )
    assert f'Get "{url}?tailLines=50": dial tcp' in str(direct.value)


def test_metrics_server_reports_usage_for_what_it_can_scrape(sample: Sample) -> None:
    listed = sample.raw("/apis/metrics.k8s.io/v1beta1/pods")["items"]
    usage = {(m["metadata"]["namespace"], m["metadata"]["name"]): m["containers"] for m in listed}
    pods = {
        (p.metadata.namespace, p.metadata.name): p
        for p in sample.core.list_pod_for_all_namespaces().items
    }
    for key, containers in usage.items():
        pod = pods[key]
        assert pod.status.phase == "Running" and pod.spec.node_name != "node-3"
        for container in containers:
            assert container["usage"]["cpu"].endswith("n")
            assert container["usage"]["memory"].endswith("Ki")
    on_lost = {k for k, p in pods.items() if p.spec.node_name == "node-3"}
    assert on_lost and not on_lost & set(usage)
    assert not any(k[1].startswith("payments-api-") for k in usage), "crash-looping: no metrics"
    nodes = sample.raw("/apis/metrics.k8s.io/v1beta1/nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2", "node-4"]
    hot = [m for k, m in usage.items() if k[0] == "shop" and k[1].startswith("checkout-")]
    cpu = int(hot[0][0]["usage"]["cpu"][:-1])
    assert cpu > 100_000_000, "checkout runs above its 100m request (its HPA is at max)"


# ---------------------------------------------------------------------- determinism and knobs


NEW_KINDS = (
    "persistentvolumeclaims",
    "persistentvolumes",
    "endpoints",
    "endpointslices",
    "jobs",
    "cronjobs",
    "ingresses",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "controllerrevisions",
    "customresourcedefinitions",
    "certificates.cert-manager.io",
)


def _dump(cluster: SampleCluster) -> bytes:
    return orjson.dumps({k: list(cluster.objects[k].values()) for k in NEW_KINDS})


def test_new_kinds_are_deterministic_by_seed() -> None:
    first = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    again = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    other = SampleCluster(pods=60, seed=1, now=FIXED_NOW)
    assert _dump(first) == _dump(again) != _dump(other)
    usage = [m["containers"] for m in first.pod_metrics()]
    assert usage == [m["containers"] for m in again.pod_metrics()]
    fixed = [k for k in NEW_KINDS if not k.startswith("endpoint")]
    assert {k: set(first.objects[k]) for k in fixed if k != "persistentvolumes"} == {
        k: set(other.objects[k]) for k in fixed if k != "persistentvolumes"
    }, "another seed, the same named objects"


@pytest.mark.slow
def test_broken_knob_spreads_that_many_broken_pods() -> None:
    cluster = SampleCluster(pods=10_000, broken=250, now=FIXED_NOW)
    assert 9_900 <= cluster.pod_count <= 10_100
    profiles: dict[str, int] = {}
    workloads: dict[tuple[str, str], str] = {}
    for key, pod in cluster.objects["pods"].items():
        profile = cluster.profile_of_pod(*key)
        profiles[profile] = profiles.get(profile, 0) + 1
        wl = cluster.workload_of_pod(*key)
        if wl is not None and wl.profile != "healthy":
            workloads[(wl.namespace, wl.name)] = wl.profile
    broken = sum(n for p, n in profiles.items() if p not in ("healthy", "node-lost"))
    assert broken == 250
    assert len(workloads) >= 24 and len({ns for ns, _ in workloads}) >= 10
    assert {"crashloop", "imagepull", "pending", "oom"} <= set(workloads.values())
    crashing = next(k for k in cluster.objects["pods"] if cluster.profile_of_pod(*k) == "crashloop")
    container = cluster.objects["pods"][crashing]["spec"]["containers"][0]["name"]
    assert cluster.pod_log(*crashing, container, previous=True)
    pulling = next(k for k in cluster.objects["pods"] if cluster.profile_of_pod(*k) == "imagepull")
    messages = [
        e["message"]
        for e in cluster.objects["events"].values()
        if e["involvedObject"]["name"] == pulling[1] and e["reason"] == "Failed"
    ]
    assert any(m.startswith("Failed to pull image") for m in messages)
    default = SampleCluster(pods=10_000, now=FIXED_NOW)
    assert default.unhealthy_pod_keys() != cluster.unhealthy_pod_keys()


def test_extra_knob_adds_filler_objects_two_percent_unhealthy() -> None:
    cluster = SampleCluster(
        pods=60, extra={"certificates.cert-manager.io": 10_000, "configmaps": 10_000}
    )
    plain = SampleCluster(pods=60)
    certs = cluster.objects["certificates.cert-manager.io"]
    assert len(certs) - len(plain.objects["certificates.cert-manager.io"]) == 10_000
    assert len(cluster.objects["configmaps"]) - len(plain.objects["configmaps"]) == 10_000
    failing = [
        c
        for c in certs.values()
        if any(x["type"] == "Ready" and x["status"] == "False" for x in c["status"]["conditions"])
    ]
    assert len(failing) == 200 + 1, "every 50th filler, and shop-tls"
    assert len({c["metadata"]["namespace"] for c in certs.values()}) == 7
    claims = SampleCluster(pods=60, extra={"persistentvolumeclaims": 100})
    pending = [
        c
        for c in claims.objects["persistentvolumeclaims"].values()
        if c["status"]["phase"] == "Pending"
    ]
    assert len(pending) == 2 + 1
    volumes = claims.objects["persistentvolumes"]
    for pvc in claims.objects["persistentvolumeclaims"].values():
        if pvc["status"]["phase"] == "Bound":
            assert ("", pvc["spec"]["volumeName"]) in volumes
    with pytest.raises(ValueError, match="no filler objects for 'widgets'"):
        SampleCluster(extra={"widgets": 3})


# ---------------------------------------------------------------------- CronJobs on the clock

HOUR = 3600.0


def _minutes(when: datetime) -> int:
    return int(when.timestamp() // 60)


def _cronjob(sample: Sample, namespace: str, name: str) -> Any:
    """The CronJob as one GET reads it: every request plays what fell due first."""
    return sample.batch.read_namespaced_cron_job(name, namespace)


def _cronjob_events(sample: Sample, name: str) -> list[tuple[str, str]]:
    events = sorted(sample.events("data", name), key=lambda e: e.first_timestamp)
    return [(e.reason, e.message) for e in events if e.involved_object.kind == "CronJob"]


def test_a_cronjob_due_on_the_clock_runs_its_job_through_to_the_end(sample: Sample) -> None:
    etl_due = datetime(2025, 3, 15, 1, 30, tzinfo=timezone.utc)
    etl_job = f"etl-daily-{_minutes(etl_due)}"
    sample.cluster.advance(etl_due.timestamp() + 600 - FIXED_NOW.timestamp())
    etl = _cronjob(sample, "data", "etl-daily")
    assert etl.status.last_schedule_time == etl_due
    assert [ref.name for ref in etl.status.active] == [etl_job]
    running = sample.batch.read_namespaced_job(etl_job, "data")
    assert running.status.active == 1 and running.status.conditions is None
    assert running.metadata.owner_references[0].name == "etl-daily"
    (pod,) = sample.core.list_namespaced_pod("data", label_selector=f"job-name={etl_job}").items
    assert pod.status.phase == "Running" and pod.status.container_statuses[0].ready
    assert "finished" not in sample.core.read_namespaced_pod_log(pod.metadata.name, "data")

    sample.cluster.advance(HOUR)
    etl = _cronjob(sample, "data", "etl-daily")
    done = sample.batch.read_namespaced_job(etl_job, "data")
    assert not etl.status.active and _condition(done, "Complete").status == "True"
    assert etl.status.last_successful_time == done.status.completion_time
    assert done.status.completion_time - etl_due < timedelta(minutes=30)
    assert sample.core.read_namespaced_pod(pod.metadata.name, "data").status.phase == "Succeeded"
    log = sample.core.read_namespaced_pod_log(pod.metadata.name, "data")
    assert log.rstrip().endswith("pipeline=daily finished ok rows=18230411")
    assert _cronjob_events(sample, "etl-daily")[-2:] == [
        ("SuccessfulCreate", f"Created job {etl_job}"),
        ("SawCompletedJob", f"Saw completed job: {etl_job}, status: Complete"),
    ]
    etl_jobs = sample.batch.list_namespaced_job("data", label_selector="app=etl-daily").items
    assert len(etl_jobs) == 2, "the earlier run stays: successfulJobsHistoryLimit is 3"


def test_the_backup_fails_again_and_only_the_last_failed_job_is_kept(sample: Sample) -> None:
    old_failed = sample.batch.list_namespaced_job("data", label_selector="app=backup-nightly")
    old = max(old_failed.items, key=lambda j: j.metadata.name).metadata.name
    old_pods = [
        p.metadata.name
        for p in sample.core.list_namespaced_pod("data", label_selector=f"job-name={old}").items
    ]
    assert len(old_pods) == 3
    due = datetime(2025, 3, 15, 2, 0, tzinfo=timezone.utc)
    sample.cluster.advance(due.timestamp() + HOUR - FIXED_NOW.timestamp())
    new = f"backup-nightly-{_minutes(due)}"
    backup = _cronjob(sample, "data", "backup-nightly")
    assert backup.status.last_schedule_time == due and not backup.status.active
    assert backup.status.last_successful_time < due - timedelta(days=1)
    failed = sample.batch.read_namespaced_job(new, "data")
    condition = _condition(failed, "Failed")
    assert (condition.reason, condition.message) == ("BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE)
    assert failed.status.failed == 3
    pods = sample.core.list_namespaced_pod("data", label_selector=f"job-name={new}").items
    assert [p.status.phase for p in pods] == ["Failed"] * 3
    for pod in pods:
        log = sample.core.read_namespaced_pod_log(pod.metadata.name, "data")
        assert log.rstrip().endswith(BACKUP_ERROR)
    with pytest.raises(ApiException) as gone:
        sample.batch.read_namespaced_job(old, "data")
    assert gone.value.status == 404
    names = {p.metadata.name for p in sample.core.list_namespaced_pod("data").items}
    assert not names & set(old_pods), "the deleted Job's pods go with it"
    assert _cronjob_events(sample, "backup-nightly")[-3:] == [
        ("SuccessfulCreate", f"Created job {new}"),
        ("SawCompletedJob", f"Saw completed job: {new}, status: Failed"),
        ("SuccessfulDelete", f"Deleted job {old}"),
    ]
    retrain = _cronjob(sample, "ml", "retrain-weekly")
    assert retrain.status.last_schedule_time < due - timedelta(days=7), "suspended: no run"


def test_a_watch_on_jobs_sees_the_run_the_clock_starts(sample: Sample) -> None:
    due = datetime(2025, 3, 15, 1, 30, tzinfo=timezone.utc)
    seen: list[tuple[str, str]] = []
    started = threading.Event()
    created = threading.Event()

    def follow() -> None:
        stream = k8s_watch.Watch().stream(
            sample.batch.list_namespaced_job, "data", timeout_seconds=30
        )
        for change in stream:
            seen.append((change["type"], change["object"].metadata.name))
            if len(seen) == 3:
                started.set()
            if change["object"].metadata.name == f"etl-daily-{_minutes(due)}":
                created.set()
                return

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    assert started.wait(10), seen
    sample.cluster.advance(due.timestamp() + 60 - FIXED_NOW.timestamp())
    sample.batch.list_namespaced_cron_job("data")
    assert created.wait(10), seen
    assert seen[3] == ("ADDED", f"etl-daily-{_minutes(due)}")
    watcher.join(10)


def test_a_day_later_diagnose_reports_the_backup_failing_again_and_no_missed_run(
    tmp_path: Path,
) -> None:
    cluster = SampleCluster(pods=60, seed=0, now=datetime.now(timezone.utc) - timedelta(days=1))
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        clients = KubeClients(str(kubeconfig), None)
        try:
            cluster.advance(86400)
            ctx = ToolContext(cluster=clients.cluster(None))
            result = call_tool(ctx, "diagnose_cluster", {"namespace": "data"})
        finally:
            clients.close()
    found = {(r["category"], r["object"]) for r in result.data or []}
    assert ("Job failed", "data/backup-nightly") in found, found
    assert not any(category == "CronJob not scheduled" for category, _ in found), found
    assert BACKUP_ERROR in result.text


def test_a_running_job_pod_that_is_deleted_is_replaced_and_counted_failed(sample: Sample) -> None:
    due = datetime(2025, 3, 15, 1, 30, tzinfo=timezone.utc)
    job = f"etl-daily-{_minutes(due)}"
    sample.cluster.advance(due.timestamp() + 300 - FIXED_NOW.timestamp())
    assert [r.name for r in _cronjob(sample, "data", "etl-daily").status.active] == [job]
    (first,) = sample.core.list_namespaced_pod("data", label_selector=f"job-name={job}").items
    sample.core.delete_namespaced_pod(first.metadata.name, "data")
    pods = sample.core.list_namespaced_pod("data", label_selector=f"job-name={job}").items
    (second,) = [p for p in pods if p.metadata.name != first.metadata.name]
    assert second.status.phase == "Running"
    assert sample.batch.read_namespaced_job(job, "data").status.failed == 1

    sample.cluster.advance(HOUR)
    assert not _cronjob(sample, "data", "etl-daily").status.active
    done = sample.batch.read_namespaced_job(job, "data")
    assert _condition(done, "Complete").status == "True"
    assert (done.status.succeeded, done.status.failed) == (1, 1)
    assert sample.core.read_namespaced_pod(second.metadata.name, "data").status.phase == "Succeeded"


def test_the_runs_do_not_depend_on_how_often_the_cluster_is_read() -> None:
    once = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    often = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    once.advance(2 * 86400)
    once.clock()
    for _ in range(96):
        often.advance(1800)
        often.clock()

    def batch(cluster: SampleCluster) -> Any:
        return (
            sorted(cluster.objects["jobs"]),
            sorted(
                k
                for k, p in cluster.objects["pods"].items()
                if "job-name" in p["metadata"]["labels"]
            ),
            {k: c["status"] for k, c in cluster.objects["cronjobs"].items()},
        )

    jobs, pods, statuses = batch(once)
    assert (jobs, pods, statuses) == batch(often)
    backups = [j for j in jobs if j[1].startswith("backup-nightly")]
    last = _minutes(datetime(2025, 3, 16, 2, 0, tzinfo=timezone.utc))
    assert backups[-1] == ("data", f"backup-nightly-{last}"), "the last failed run is kept"
    assert len(backups) == 2, "with the one successful run left from before"
    assert statuses[("data", "etl-daily")]["lastScheduleTime"] == "2025-03-16T01:30:00Z"


def test_a_label_written_after_a_schedule_fell_due_does_not_skip_the_run(sample: Sample) -> None:
    due = datetime(2025, 3, 15, 1, 30, tzinfo=timezone.utc)
    sample.cluster.advance(due.timestamp() + 900 - FIXED_NOW.timestamp())
    body = {"metadata": {"labels": {"team": "data-eng"}}}
    sample.batch.patch_namespaced_cron_job("etl-daily", "data", body)
    etl = _cronjob(sample, "data", "etl-daily")
    assert etl.metadata.labels["team"] == "data-eng"
    assert etl.status.last_schedule_time == due
    assert [r.name for r in etl.status.active] == [f"etl-daily-{_minutes(due)}"]


def test_a_cluster_made_while_the_etl_runs_shows_it_running(tmp_path: Path) -> None:
    due = datetime(2025, 3, 14, 1, 30, tzinfo=timezone.utc)
    cluster = SampleCluster(pods=60, seed=0, now=due + timedelta(minutes=10))
    assert cluster.pod_count == 60, "the running pod counts in the size asked for"
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        with new_client_from_config(config_file=str(kubeconfig)) as client:
            sample = Sample(cluster, client)
            etl = _cronjob(sample, "data", "etl-daily")
            job = f"etl-daily-{_minutes(due)}"
            assert etl.status.last_schedule_time == due
            assert [r.name for r in etl.status.active] == [job]
            assert etl.status.last_successful_time < due
            pods = sample.core.list_namespaced_pod("data", label_selector=f"job-name={job}")
            assert [p.status.phase for p in pods.items] == ["Running"]
            done = sample.batch.list_namespaced_job("data", label_selector="app=etl-daily").items
            finished = [j for j in done if j.status.completion_time is not None]
            assert all(j.status.completion_time < due for j in finished)
