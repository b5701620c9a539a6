"""The sample cluster and its API emulation, exercised through the official kubernetes client.

Every test talks real HTTP on 127.0.0.1 to a ``KubeAPIServer`` running in a background thread
(or, for the async test, on the test's own loop), using ``new_client_from_config`` on a
kubeconfig the server wrote, exactly as kchat's tools will.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config
from kubernetes.watch import Watch

from jupyter_kchat.sample.cluster import PAYMENTS_PANIC, SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer, human_duration

FIXED_NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=timezone.utc)
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json"


@dataclass
class Sample:
    api: KubeAPIServer
    cluster: SampleCluster
    client: k8s.ApiClient
    kubeconfig: Path
    url: str

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.client)

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.client)

    def raw(self, path: str, accept: str = "application/json", **query: Any) -> Any:
        """GET ``path`` with the client's auth, returning decoded JSON (or text)."""
        response = self.client.call_api(
            *self.client.param_serialize(
                "GET",
                path,
                query_params=list(query.items()),
                header_params={"Accept": accept},
                auth_settings=["BearerToken"],
            )
        )
        response.read()
        body = response.data
        if response.status >= 400:
            raise ApiException(status=response.status, reason=body.decode())
        if response.getheader("content-type", "").startswith("application/json"):
            return orjson.loads(body)
        return body.decode()


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Sample]:
    """A 60-pod sample cluster served from a background thread, with an admin client."""
    cluster = SampleCluster(pods=60, seed=0)
    api = KubeAPIServer(cluster)
    with api.run_in_thread() as url:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        with new_client_from_config(config_file=str(kubeconfig)) as api_client:
            yield Sample(api, cluster, api_client, kubeconfig, url)


def _pods(sample: Sample, namespace: str, app: str) -> list[k8s.V1Pod]:
    return sample.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def _dump(cluster: SampleCluster) -> bytes:
    return orjson.dumps({kind: list(objects.values()) for kind, objects in cluster.objects.items()})


def _status_of(exc: ApiException) -> dict[str, Any]:
    return orjson.loads(exc.body)


# ---------------------------------------------------------------------- generation


def test_generation_is_deterministic_sized_and_fast() -> None:
    first = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    again = SampleCluster(pods=60, seed=0, now=FIXED_NOW)
    other = SampleCluster(pods=60, seed=1, now=FIXED_NOW)
    assert _dump(first) == _dump(again)
    assert _dump(first) != _dump(other)
    assert first.pod_count == 60
    assert SampleCluster(pods=300).pod_count == 300
    assert SampleCluster(pods=5).pod_count >= 30, "the broken workloads are always there"
    names = {(ns, name) for (ns, name) in first.objects["deployments"]}
    for key in [
        ("payments", "payments-api"),
        ("shop", "frontend"),
        ("data", "etl-worker"),
        ("ml", "trainer"),
        ("monitoring", "prometheus"),
    ]:
        assert key in names
    assert ("data", "postgres") in first.objects["statefulsets"]
    assert {("monitoring", "node-exporter"), ("kube-system", "kube-proxy")} <= set(
        first.objects["daemonsets"]
    )
    big = SampleCluster(pods=10_000)
    assert 9_900 <= big.pod_count <= 10_100
    namespaces = {ns for ns, _ in big.objects["pods"]}
    assert len(namespaces) >= 30
    unhealthy = big.unhealthy_pod_keys()
    assert 100 < len(unhealthy) < 600
    assert len({ns for ns, _ in unhealthy if ns.startswith("team-")}) >= 20


# ---------------------------------------------------------------------- reads


def test_every_list_deserializes_into_the_client_models(sample: Sample) -> None:
    core, apps = sample.core, sample.apps
    pods = core.list_pod_for_all_namespaces()
    assert len(pods.items) == 60
    assert all(p.metadata.uid and p.metadata.creation_timestamp for p in pods.items)
    assert pods.metadata.resource_version
    for pod in pods.items:
        if pod.status.phase == "Running":
            assert pod.status.container_statuses[0].image_id
            assert pod.status.pod_ip and pod.status.host_ip and pod.status.qos_class
    assert len(core.list_namespace().items) == 7
    assert len(core.list_node().items) == 4
    assert core.read_namespace("payments").status.phase == "Active"
    assert core.read_node("node-1").status.node_info.kubelet_version.startswith("v1.")
    assert core.list_service_for_all_namespaces().items
    assert core.list_secret_for_all_namespaces().items
    assert core.list_config_map_for_all_namespaces().items
    assert core.list_event_for_all_namespaces().items
    assert core.list_namespaced_pod("payments").items
    assert apps.list_deployment_for_all_namespaces().items
    assert apps.list_replica_set_for_all_namespaces().items
    assert apps.list_namespaced_stateful_set("data").items[0].metadata.name == "postgres"
    assert len(apps.list_daemon_set_for_all_namespaces().items) == 2
    pod = pods.items[0]
    again = core.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
    assert again.kind == "Pod" and again.api_version == "v1"
    assert again.metadata.uid == pod.metadata.uid
    deployment = apps.read_namespaced_deployment("payments-api", "payments")
    rs = apps.list_namespaced_replica_set("payments", label_selector="app=payments-api").items
    current = [r for r in rs if r.spec.replicas]
    assert len(current) == 1 and len(rs) == 3, "two old revisions are kept at 0 replicas"
    for pod in _pods(sample, "payments", "payments-api"):
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name) == ("ReplicaSet", current[0].metadata.name)
        assert (
            pod.metadata.labels["pod-template-hash"]
            == current[0].metadata.labels["pod-template-hash"]
        )
    assert current[0].metadata.owner_references[0].uid == deployment.metadata.uid


def test_discovery(sample: Sample) -> None:
    assert k8s.VersionApi(sample.client).get_code().git_version.startswith("v1.")
    assert k8s.CoreApi(sample.client).get_api_versions().versions == ["v1"]
    groups = k8s.ApisApi(sample.client).get_api_versions()
    assert "apps" in [g.name for g in groups.groups]
    core = sample.core.get_api_resources()
    names = {r.name for r in core.resources}
    assert {"pods", "pods/log", "nodes", "events", "secrets", "services"} <= names
    apps = sample.apps.get_api_resources()
    assert "deployments/scale" in {r.name for r in apps.resources}


def test_label_selectors(sample: Sample) -> None:
    core = sample.core

    def names(selector: str, namespace: str | None = None) -> set[str]:
        if namespace:
            items = core.list_namespaced_pod(namespace, label_selector=selector).items
        else:
            items = core.list_pod_for_all_namespaces(label_selector=selector).items
        return {p.metadata.name for p in items}

    payments = names("app=payments-api")
    assert len(payments) == 3 and all(n.startswith("payments-api-") for n in payments)
    assert names("app==payments-api") == payments
    shop = names("app in (cart, checkout)")
    assert len(shop) == 6 and not any(n.startswith("frontend") for n in shop)
    assert payments.isdisjoint(names("app!=payments-api"))
    assert names("app notin (payments-api)") == names("app!=payments-api")
    no_hash = names("!pod-template-hash")
    assert "postgres-0" in no_hash and any(n.startswith("kube-proxy-") for n in no_hash)
    assert names("app=payments-api,pod-template-hash") == payments
    assert names("app=payments-api", "shop") == set()
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(label_selector="app in (a")
    assert caught.value.status == 400


def test_field_selectors(sample: Sample) -> None:
    core = sample.core
    pending = core.list_pod_for_all_namespaces(field_selector="status.phase=Pending").items
    assert {p.metadata.labels["app"] for p in pending} == {
        "frontend",
        "etl-worker",
        "payments-exporter",
    }
    on_lost = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-3").items
    assert on_lost and all(p.spec.node_name == "node-3" for p in on_lost)
    for pod in on_lost:
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        assert ready.status == "False"
    running_not_payments = core.list_namespaced_pod(
        "payments", field_selector="status.phase==Running,metadata.namespace!=shop"
    ).items
    assert all(p.metadata.namespace == "payments" for p in running_not_payments)
    name = pending[0].metadata.name
    one = core.list_pod_for_all_namespaces(field_selector=f"metadata.name={name}").items
    assert [p.metadata.name for p in one] == [name]
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(field_selector="spec.bogus=1")
    assert caught.value.status == 400
    assert "field label not supported: spec.bogus" in _status_of(caught.value)["message"]


def test_pagination_yields_every_pod_once(sample: Sample) -> None:
    core = sample.core
    seen: list[tuple[str, str]] = []
    token = None
    pages = 0
    while True:
        page = core.list_pod_for_all_namespaces(limit=7, _continue=token)
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == 60 - len(seen)
    assert pages == 9
    assert len(seen) == len(set(seen)) == 60
    assert set(seen) == set(sample.cluster.objects["pods"])
    selected: list[str] = []
    token = None
    while True:
        page = core.list_pod_for_all_namespaces(
            limit=2, _continue=token, label_selector="app in (payments-api,frontend)"
        )
        assert page.metadata.remaining_item_count is None
        selected += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert len(selected) == len(set(selected)) == 5
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(limit=2, _continue="not-a-token")
    assert caught.value.status == 400


# ---------------------------------------------------------------------- the broken cluster


def test_broken_pods_look_like_the_real_thing(sample: Sample) -> None:
    crash = _pods(sample, "payments", "payments-api")
    assert len(crash) == 3
    for pod in crash:
        status = pod.status.container_statuses[0]
        assert pod.status.phase == "Running" and not status.ready
        assert status.state.waiting.reason == "CrashLoopBackOff"
        assert status.state.waiting.message.startswith(
            "back-off 5m0s restarting failed container=api pod="
        )
        assert status.restart_count >= 40
        assert status.last_state.terminated.reason == "Error"
        assert status.last_state.terminated.exit_code == 1
        env = {e.name: e for e in pod.spec.containers[0].env}
        assert env["DATABASE_PASSWORD"].value == "hunter2-payments-db"
        assert "S3cr3tP4ss" in env["DATABASE_URL"].value
        assert env["STRIPE_API_KEY"].value_from.secret_key_ref.name == "payments-stripe"
    pull = _pods(sample, "shop", "frontend")
    for pod in pull:
        waiting = pod.status.container_statuses[0].state.waiting
        assert waiting.reason == "ImagePullBackOff"
        assert (
            waiting.message
            == 'Back-off pulling image "registry.example.com/shop/frontend:v2.3.1-typo"'
        )
    pending = _pods(sample, "data", "etl-worker")
    for pod in pending:
        assert pod.status.phase == "Pending" and not pod.spec.node_name
        scheduled = pod.status.conditions[0]
        assert (scheduled.type, scheduled.status, scheduled.reason) == (
            "PodScheduled",
            "False",
            "Unschedulable",
        )
        assert scheduled.message.startswith("0/4 nodes are available: ")
        assert "Insufficient memory" in scheduled.message
        assert "untolerated taint {node.kubernetes.io/unreachable: }" in scheduled.message
        assert "preemption: 0/4 nodes are available" in scheduled.message
    trainer = _pods(sample, "ml", "trainer")
    last = [p.status.container_statuses[0].last_state.terminated for p in trainer]
    assert {(t.reason, t.exit_code) for t in last} == {("OOMKilled", 137)}
    states = {
        p.status.container_statuses[0].state.waiting.reason
        if p.status.container_statuses[0].state.waiting
        else "Running"
        for p in trainer
    }
    assert states == {"Running", "CrashLoopBackOff"}
    evicted = [p for p in _pods(sample, "monitoring", "prometheus") if p.status.phase == "Failed"]
    assert len(evicted) == 1
    assert evicted[0].status.reason == "Evicted"
    assert evicted[0].status.message == (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 85432Ki."
    )
    unhealthy = sample.cluster.unhealthy_pod_keys()
    for pod in crash + pull + pending + trainer + evicted:
        assert (pod.metadata.namespace, pod.metadata.name) in unhealthy
    healthy = [
        p
        for p in sample.core.list_pod_for_all_namespaces().items
        if (p.metadata.namespace, p.metadata.name) not in unhealthy
    ]
    assert len(healthy) > 30
    for pod in healthy:
        if pod.metadata.labels.get("job-name"):
            assert pod.status.phase == "Succeeded", "a finished Job's pod"
            continue
        assert pod.status.phase == "Running"
        assert all(c.ready and c.restart_count <= 2 for c in pod.status.container_statuses)


def test_deployments_report_missing_replicas(sample: Sample) -> None:
    for ns, name, ready in [
        ("payments", "payments-api", 0),
        ("shop", "frontend", 0),
        ("data", "etl-worker", 0),
        ("ml", "trainer", 1),
    ]:
        deployment = sample.apps.read_namespaced_deployment(name, ns)
        status = deployment.status
        assert (status.ready_replicas or 0) == ready
        assert (status.available_replicas or 0) == ready
        assert status.unavailable_replicas == deployment.spec.replicas - ready
        conditions = {c.type: c for c in status.conditions}
        assert conditions["Available"].status == "False"
        assert conditions["Available"].reason == "MinimumReplicasUnavailable"
        assert conditions["Progressing"].reason == "ProgressDeadlineExceeded"
    payments = sample.apps.read_namespaced_deployment("payments-api", "payments")
    applied = payments.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]
    assert "hunter2-payments-db" in applied and orjson.loads(applied)["kind"] == "Deployment"
    healthy = sample.apps.read_namespaced_deployment("payments-webhooks", "payments").status
    assert healthy.ready_replicas == healthy.replicas == 2


def test_nodes_have_realistic_conditions(sample: Sample) -> None:
    nodes = {n.metadata.name: n for n in sample.core.list_node().items}
    assert sorted(nodes) == ["node-1", "node-2", "node-3", "node-4"]

    def condition(node: str, kind: str) -> k8s.V1NodeCondition:
        return next(c for c in nodes[node].status.conditions if c.type == kind)

    lost = condition("node-3", "Ready")
    assert (lost.status, lost.reason, lost.message) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert {t.key for t in nodes["node-3"].spec.taints} == {"node.kubernetes.io/unreachable"}
    assert condition("node-2", "MemoryPressure").status == "True"
    assert condition("node-1", "Ready").status == "True"
    for name in ("node-1", "node-2", "node-4"):
        assert condition(name, "Ready").reason == "KubeletReady"
    for kind in ("DiskPressure", "PIDPressure", "NetworkUnavailable"):
        assert condition("node-1", kind).status == "False"
    node = nodes["node-1"]
    assert node.status.capacity["pods"] == "110" and node.status.allocatable["cpu"]
    assert node.metadata.labels["topology.kubernetes.io/zone"].startswith("eu-west-1")
    assert node.metadata.labels["role"] == "worker"
    assert nodes["node-4"].metadata.labels["role"] == "gpu"
    assert {a.type for a in node.status.addresses} >= {"InternalIP", "Hostname"}


def test_events_and_their_field_selectors(sample: Sample) -> None:
    core = sample.core
    pod = _pods(sample, "payments", "payments-api")[0]
    events = core.list_namespaced_event(
        "payments", field_selector=f"involvedObject.name={pod.metadata.name}"
    ).items
    reasons = {e.reason for e in events}
    assert {"BackOff", "Pulled", "Started"} <= reasons
    backoff = next(e for e in events if e.reason == "BackOff")
    assert backoff.type == "Warning" and backoff.count > 10
    assert backoff.message.startswith("Back-off restarting failed container")
    assert backoff.involved_object.uid == pod.metadata.uid
    assert backoff.first_timestamp < backoff.last_timestamp
    assert backoff.source.component == "kubelet"
    warnings = core.list_event_for_all_namespaces(field_selector="type=Warning").items
    assert {"BackOff", "Failed", "FailedScheduling", "OOMKilling", "Evicted", "NodeNotReady"} <= {
        e.reason for e in warnings
    }
    failed = core.list_namespaced_event("shop", field_selector="reason=Failed").items
    assert any("ErrImagePull" in e.message for e in failed)
    on_nodes = core.list_event_for_all_namespaces(field_selector="involvedObject.kind=Node").items
    assert {e.reason for e in on_nodes} >= {"OOMKilling", "NodeNotReady"}
    assert all(e.metadata.namespace == "default" for e in on_nodes)
    scheduling = core.list_event_for_all_namespaces(
        field_selector="reason=FailedScheduling,involvedObject.namespace=data"
    ).items
    assert len(scheduling) == 2 and "Insufficient memory" in scheduling[0].message
    normal = core.list_event_for_all_namespaces(field_selector="type!=Warning").items
    assert {e.type for e in normal} == {"Normal"}


# ---------------------------------------------------------------------- logs


def test_pod_logs(sample: Sample) -> None:
    core = sample.core
    crash = _pods(sample, "payments", "payments-api")[0].metadata.name
    previous = core.read_namespaced_pod_log(crash, "payments", previous=True)
    lines = previous.splitlines()
    assert lines[-1] == PAYMENTS_PANIC
    assert "password=hunter2-payments-db" in previous and "Authorization: Bearer eyJ" in previous
    assert core.read_namespaced_pod_log(crash, "payments", tail_lines=1).strip() == PAYMENTS_PANIC
    assert core.read_namespaced_pod_log(crash, "payments", tail_lines=0) == ""
    stamped = core.read_namespaced_pod_log(crash, "payments", tail_lines=2, timestamps=True)
    first, rest = stamped.splitlines()[1].split(" ", 1)
    assert first.endswith("Z") and len(first) == 30 and rest == PAYMENTS_PANIC
    assert len(core.read_namespaced_pod_log(crash, "payments", limit_bytes=10)) == 10
    healthy = _pods(sample, "shop", "cart")[0].metadata.name
    log = core.read_namespaced_pod_log(healthy, "shop")
    assert 200 <= len(log.splitlines()) <= 402
    assert {"INFO", "WARN", "ERROR"} <= {line.split()[1] for line in log.splitlines()[1:]}
    assert core.read_namespaced_pod_log(healthy, "shop") == log, "logs are stable"
    assert len(core.read_namespaced_pod_log(healthy, "shop", tail_lines=25).splitlines()) == 25
    assert core.read_namespaced_pod_log(healthy, "shop", since_seconds=1) == ""
    multi = _pods(sample, "shop", "checkout")[0].metadata.name
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(multi, "shop")
    assert caught.value.status == 400
    assert _status_of(caught.value)["message"] == (
        f"a container name must be specified for pod {multi}, choose one of: [checkout log-shipper]"
    )
    assert core.read_namespaced_pod_log(multi, "shop", container="log-shipper")
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(multi, "shop", container="nope")
    assert "container nope is not valid for pod" in _status_of(caught.value)["message"]
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(healthy, "shop", previous=True)
    assert _status_of(caught.value)["message"] == (
        f'previous terminated container "cart" in pod "{healthy}" not found'
    )
    pulling = _pods(sample, "shop", "frontend")[0].metadata.name
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(pulling, "shop")
    assert (
        "is waiting to start: trying and failing to pull image"
        in _status_of(caught.value)["message"]
    )
    pending = _pods(sample, "data", "etl-worker")[0].metadata.name
    assert core.read_namespaced_pod_log(pending, "data") == ""
    oom = [p for p in _pods(sample, "ml", "trainer") if p.status.phase == "Running"]
    assert "loss=" in core.read_namespaced_pod_log(oom[0].metadata.name, "ml", previous=True)
    raw = core.read_namespaced_pod_log(crash, "payments", tail_lines=3, _preload_content=False)
    assert raw.headers["Content-Type"].startswith("text/plain")
    assert raw.data.decode().splitlines()[-1] == PAYMENTS_PANIC
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(crash, "payments", tail_lines=-1)
    assert caught.value.status == 422


# ---------------------------------------------------------------------- representations


def test_partial_metadata_and_tables(sample: Sample) -> None:
    secrets = sample.raw("/api/v1/namespaces/payments/secrets", accept=META_LIST)
    assert secrets["kind"] == "PartialObjectMetadataList"
    assert secrets["apiVersion"] == "meta.k8s.io/v1"
    assert {i["metadata"]["name"] for i in secrets["items"]} >= {"payments-db", "payments-stripe"}
    for item in secrets["items"]:
        assert set(item) == {"kind", "apiVersion", "metadata"}
    assert b"hunter2" not in orjson.dumps(secrets) and b"aHVudGVyM" not in orjson.dumps(secrets)
    full = sample.core.read_namespaced_secret("payments-db", "payments")
    assert full.type == "Opaque" and full.data["password"] == "aHVudGVyMi1wYXltZW50cy1kYg=="
    types = {s.type for s in sample.core.list_secret_for_all_namespaces().items}
    assert {"Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson"} <= types
    one = sample.raw(
        "/api/v1/namespaces/payments/secrets/payments-db",
        accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    )
    assert one["kind"] == "PartialObjectMetadata" and "data" not in one
    paged = sample.raw("/api/v1/pods", accept=META_LIST, limit="10")
    assert len(paged["items"]) == 10 and paged["metadata"]["continue"]
    table = sample.raw(
        "/api/v1/namespaces/payments/pods", accept=TABLE, labelSelector="app=payments-api"
    )
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    for row in table["rows"]:
        name, ready, status, restarts = row["cells"][:4]
        assert name.startswith("payments-api-")
        assert ready == "0/1" and status == "CrashLoopBackOff"
        assert restarts.split()[0].isdigit() and restarts.endswith("ago)")
        assert row["object"]["kind"] == "PartialObjectMetadata"
    nodes = sample.raw("/api/v1/nodes", accept=TABLE)
    statuses = {row["cells"][0]: row["cells"][1] for row in nodes["rows"]}
    assert statuses["node-3"] == "NotReady" and statuses["node-1"] == "Ready"
    deploys = sample.raw("/apis/apps/v1/namespaces/shop/deployments", accept=TABLE)
    assert ["frontend", "0/2"] in [row["cells"][:2] for row in deploys["rows"]]
    with pytest.raises(ApiException) as caught:
        sample.raw("/api/v1/pods", accept="application/yaml")
    assert caught.value.status == 406
    assert human_duration(90) == "90s" and human_duration(3 * 86400 + 7200) == "3d2h"


def test_raw_unparsed_list_reads(sample: Sample) -> None:
    response = sample.core.list_pod_for_all_namespaces(_preload_content=False)
    body = orjson.loads(response.data)
    assert body["kind"] == "PodList" and len(body["items"]) == 60
    assert "kind" not in body["items"][0], "list items carry no kind, as on a real server"
    api = k8s.ApiClient()
    pod = api.deserialize(orjson.dumps(body["items"][0]).decode(), "V1Pod", "application/json")
    assert pod.metadata.name == body["items"][0]["metadata"]["name"]


# ---------------------------------------------------------------------- writes


def test_scale_changes_later_reads(sample: Sample) -> None:
    apps = sample.apps
    scale = apps.read_namespaced_deployment_scale("payments-webhooks", "payments")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=payments-webhooks"
    apps.patch_namespaced_deployment_scale(
        "payments-webhooks", "payments", {"spec": {"replicas": 5}}
    )
    assert apps.read_namespaced_deployment("payments-webhooks", "payments").spec.replicas == 5
    assert len(_pods(sample, "payments", "payments-webhooks")) == 5
    status = apps.read_namespaced_deployment("payments-webhooks", "payments").status
    assert status.replicas == status.ready_replicas == 5
    scale = apps.read_namespaced_deployment_scale("payments-webhooks", "payments")
    scale.spec.replicas = 1
    apps.replace_namespaced_deployment_scale("payments-webhooks", "payments", scale)
    assert len(_pods(sample, "payments", "payments-webhooks")) == 1
    scale.spec.replicas = 3
    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment_scale("payments-webhooks", "payments", scale)
    assert caught.value.status == 409
    assert "the object has been modified" in _status_of(caught.value)["message"]
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale(
            "payments-webhooks", "payments", {"spec": {"replicas": -1}}
        )
    assert caught.value.status == 422
    assert _status_of(caught.value)["reason"] == "Invalid"
    apps.patch_namespaced_deployment("payments-webhooks", "payments", {"spec": {"replicas": 4}})
    assert len(_pods(sample, "payments", "payments-webhooks")) == 4
    apps.patch_namespaced_deployment(
        "payments-webhooks", "payments", {"spec": {"replicas": 9}}, dry_run="All"
    )
    assert len(_pods(sample, "payments", "payments-webhooks")) == 4
    events = sample.core.list_namespaced_event(
        "payments", field_selector="involvedObject.name=payments-webhooks,reason=ScalingReplicaSet"
    ).items
    assert any("to 4" in e.message for e in events)


def test_rollout_restart_and_image_fix(sample: Sample) -> None:
    apps = sample.apps
    before = {p.metadata.name for p in _pods(sample, "payments", "payments-api")}
    stamp = "2025-03-14T10:00:00Z"
    restarted = apps.patch_namespaced_deployment(
        "payments-api",
        "payments",
        {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}
                }
            }
        },
    )
    assert restarted.metadata.generation > 3
    assert restarted.metadata.annotations["deployment.kubernetes.io/revision"] == "4"
    after = _pods(sample, "payments", "payments-api")
    assert len(after) == 3 and before.isdisjoint(p.metadata.name for p in after)
    for pod in after:
        assert pod.metadata.creation_timestamp.year >= 2025
        waiting = pod.status.container_statuses[0].state.waiting
        assert waiting.reason == "CrashLoopBackOff", "a restart does not fix a crashing app"
    sets = apps.list_namespaced_replica_set("payments", label_selector="app=payments-api").items
    assert sorted(rs.spec.replicas for rs in sets) == [0, 0, 0, 3]
    fixed = apps.patch_namespaced_deployment(
        "frontend",
        "shop",
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "registry.example.com/shop/frontend:v2.3.1",
            }
        ],
    )
    assert fixed.status.ready_replicas == 2
    pods = _pods(sample, "shop", "frontend")
    assert [p.status.phase for p in pods] == ["Running", "Running"]
    assert sample.core.read_namespaced_pod_log(pods[0].metadata.name, "shop")
    conditions = {
        c.type: c.status
        for c in apps.read_namespaced_deployment("frontend", "shop").status.conditions
    }
    assert conditions == {"Available": "True", "Progressing": "True"}
    body = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "api", "env": [{"name": "LOG_LEVEL", "value": "info"}]}]
                }
            }
        }
    }
    merged = apps.patch_namespaced_deployment("payments-api", "payments", body)
    env = {e.name: e.value for e in merged.spec.template.spec.containers[0].env}
    assert env["LOG_LEVEL"] == "info" and env["DATABASE_PASSWORD"] == "hunter2-payments-db"
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment(
            "payments-api", "payments", {"spec": {"selector": {"matchLabels": {"app": "x"}}}}
        )
    assert caught.value.status == 422


def test_delete_pod_replaces_it(sample: Sample) -> None:
    core = sample.core
    victim = _pods(sample, "shop", "cart")[0]
    deleted = core.delete_namespaced_pod(victim.metadata.name, "shop")
    assert deleted.metadata.name == victim.metadata.name
    assert deleted.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod(victim.metadata.name, "shop")
    assert caught.value.status == 404
    cart = _pods(sample, "shop", "cart")
    assert len(cart) == 2 and victim.metadata.name not in {p.metadata.name for p in cart}
    assert all(p.status.phase == "Running" for p in cart)
    core.delete_namespaced_pod("postgres-0", "data")
    assert core.read_namespaced_pod("postgres-0", "data").status.phase == "Running"
    survivor = cart[0].metadata.name
    core.delete_namespaced_pod(survivor, "shop", dry_run="All")
    assert core.read_namespaced_pod(survivor, "shop")
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_pod("nope", "shop")
    assert caught.value.status == 404


def test_other_writes_and_refusals(sample: Sample) -> None:
    core, apps = sample.core, sample.apps
    core.patch_node("node-1", {"spec": {"unschedulable": True}})
    assert core.read_node("node-1").spec.unschedulable is True
    cordoned = sample.raw("/api/v1/nodes", accept=TABLE, fieldSelector="spec.unschedulable=true")
    assert [row["cells"][:2] for row in cordoned["rows"]] == [
        ["node-1", "Ready,SchedulingDisabled"]
    ]
    pod = _pods(sample, "shop", "cart")[0].metadata.name
    core.patch_namespaced_pod(pod, "shop", {"metadata": {"labels": {"debug": "true"}}})
    debug = core.list_namespaced_pod("shop", label_selector="debug").items
    assert [p.metadata.name for p in debug] == [pod]
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_stateful_set("postgres", "data", {"spec": {"replicas": 3}})
    assert caught.value.status == 422
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("shop", {"metadata": {"name": "new"}, "data": {}})
    assert caught.value.status == 405
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment(
            "cart", "shop", {"spec": {"replicas": 1}}, _content_type="application/apply-patch+yaml"
        )
    assert caught.value.status == 415
    stream = core.list_namespaced_pod(
        "payments",
        label_selector="app=payments-api",
        watch=True,
        timeout_seconds=1,
        _preload_content=False,
    ).data
    lines = [orjson.loads(line) for line in stream.splitlines()]
    assert [e["type"] for e in lines] == ["ADDED"] * 3


# ---------------------------------------------------------------------- errors and auth


def test_errors_are_status_objects(sample: Sample) -> None:
    with pytest.raises(ApiException) as caught:
        sample.core.read_namespaced_pod("x", "payments")
    assert caught.value.status == 404
    assert _status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "kind": "pods"},
        "code": 404,
    }
    with pytest.raises(ApiException) as caught:
        sample.apps.read_namespaced_deployment("x", "payments")
    assert _status_of(caught.value)["message"] == 'deployments.apps "x" not found'
    with pytest.raises(ApiException) as caught:
        sample.raw("/api/v1/widgets")
    assert caught.value.status == 404


def test_readonly_token_reads_but_cannot_write(sample: Sample) -> None:
    with new_client_from_config(
        config_file=str(sample.kubeconfig), context="sample-readonly"
    ) as reader:
        core = k8s.CoreV1Api(reader)
        assert len(core.list_pod_for_all_namespaces().items) == 60
        assert core.read_namespaced_secret("payments-db", "payments").data
        pod = core.list_namespaced_pod("payments").items[0].metadata.name
        with pytest.raises(ApiException) as caught:
            core.delete_namespaced_pod(pod, "payments")
        assert caught.value.status == 403
        status = _status_of(caught.value)
        assert status["reason"] == "Forbidden"
        assert status["message"] == (
            f'pods "{pod}" is forbidden: User "system:serviceaccount:kchat:reader" cannot delete '
            'resource "pods" in API group "" in the namespace "payments"'
        )
        with pytest.raises(ApiException) as caught:
            k8s.AppsV1Api(reader).patch_namespaced_deployment_scale(
                "payments-api", "payments", {"spec": {"replicas": 0}}
            )
        assert (
            'cannot patch resource "deployments/scale" in API group "apps"'
            in (_status_of(caught.value)["message"])
        )
    assert len(_pods(sample, "payments", "payments-api")) == 3


def test_unknown_token_is_unauthorized(sample: Sample, tmp_path: Path) -> None:
    config = sample.api.write_kubeconfig(tmp_path / "bad.yaml", token="not-a-token")
    with (
        new_client_from_config(config_file=str(config)) as bad,
        pytest.raises(ApiException) as caught,
    ):
        k8s.CoreV1Api(bad).list_namespace()
    assert caught.value.status == 401
    assert _status_of(caught.value)["reason"] == "Unauthorized"


def test_faults(sample: Sample) -> None:
    core = sample.core
    sample.api.faults.forbid(resource="secrets", verb="list")
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret("payments")
    assert caught.value.status == 403
    assert _status_of(caught.value)["message"] == (
        'secrets is forbidden: User "kubernetes-admin" cannot list resource "secrets" in API '
        'group "" in the namespace "payments"'
    )
    assert core.read_namespaced_secret("payments-db", "payments"), "only list is forbidden"
    sample.api.faults.clear()
    assert core.list_namespaced_secret("payments").items
    sample.api.faults.fail(503, path_prefix="/api/v1/nodes", times=1)
    with pytest.raises(ApiException) as caught:
        core.list_node()
    assert caught.value.status == 503
    assert _status_of(caught.value)["reason"] == "ServiceUnavailable"
    assert core.list_node().items, "the failure was for one request only"
    sample.api.faults.delay(5.0, path_prefix="/api/v1/pods")
    with pytest.raises(urllib3.exceptions.HTTPError) as held:
        core.list_pod_for_all_namespaces(_request_timeout=0.3)
    timed_out = getattr(held.value, "reason", held.value)  # urllib3 retried, then gave up
    assert isinstance(timed_out, urllib3.exceptions.ReadTimeoutError), "no answer came"
    assert core.list_namespace(_request_timeout=2).items, "other paths are not held"
    sample.api.faults.clear()
    assert len(core.list_pod_for_all_namespaces(_request_timeout=5).items) == 60
    seen = [r for r in sample.api.requests if r.path == "/api/v1/pods"]
    assert seen and seen[-1].method == "GET"
    core.list_namespaced_pod("shop", label_selector="app=cart", limit=5)
    last = sample.api.requests[-1]
    assert last.path == "/api/v1/namespaces/shop/pods"
    assert last.query == {"labelSelector": "app=cart", "limit": "5"}


def test_watch_streams_changes(sample: Sample) -> None:
    events: list[tuple[str, str]] = []
    watch = Watch()
    ready = threading.Event()

    def follow() -> None:
        for event in watch.stream(
            sample.core.list_namespaced_pod, "shop", label_selector="app=cart", timeout_seconds=5
        ):
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 2:
                ready.set()
            if event["type"] == "DELETED":
                watch.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    assert ready.wait(5)
    victim = events[0][1]
    sample.core.delete_namespaced_pod(victim, "shop")
    thread.join(10)
    assert [e for e in events if e[0] == "ADDED"][:2] == events[:2]
    assert ("DELETED", victim) in events


# ---------------------------------------------------------------------- the loop fixture and CLI


async def test_serves_on_the_callers_loop(tmp_path: Path) -> None:
    api = KubeAPIServer(SampleCluster(pods=60))
    url = await api.start(host="127.0.0.1", port=0)
    assert url.startswith("http://127.0.0.1:")
    config = api.write_kubeconfig(tmp_path / "kc.yaml", token="readonly", namespace="payments")
    text = config.read_text()
    assert "sample-readonly" in text and api.readonly_token in text
    assert api.admin_token not in text

    def read() -> int:
        with new_client_from_config(config_file=str(config)) as api_client:
            return len(k8s.CoreV1Api(api_client).list_namespaced_pod("payments").items)

    assert await asyncio.to_thread(read) > 3
    await api.stop()


def test_cli_prints_banner_serves_and_stops(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "cli.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_kchat.sample_cluster",
            "--pods",
            "120",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("kchat sample cluster: http://127.0.0.1:")
        assert banner.rstrip().endswith(f"(120 pods) kubeconfig={kubeconfig}")
        with new_client_from_config(config_file=str(kubeconfig)) as api_client:
            assert len(k8s.CoreV1Api(api_client).list_pod_for_all_namespaces().items) == 120
    finally:
        process.terminate()
        assert process.wait(10) == 0
        if process.stdout is not None:
            process.stdout.close()


# ---------------------------------------------------------------------- scale


def test_ten_thousand_pods_page_through_completely(tmp_path: Path) -> None:
    cluster = SampleCluster(pods=10_000)
    api = KubeAPIServer(cluster)
    with api.run_in_thread() as _url:
        config = api.write_kubeconfig(tmp_path / "big.yaml")
        with new_client_from_config(config_file=str(config)) as api_client:
            core = k8s.CoreV1Api(api_client)
            full = core.list_pod_for_all_namespaces(_preload_content=False).data
            assert len(orjson.loads(full)["items"]) == cluster.pod_count
            seen: set[tuple[str, str]] = set()
            token = None
            while True:
                response = core.list_pod_for_all_namespaces(
                    limit=500, _continue=token, _preload_content=False
                )
                page = orjson.loads(response.data)
                for item in page["items"]:
                    key = (item["metadata"]["namespace"], item["metadata"]["name"])
                    assert key not in seen
                    seen.add(key)
                token = page["metadata"].get("continue")
                if not token:
                    break
            assert seen == set(cluster.objects["pods"])
            broken = core.list_pod_for_all_namespaces(
                field_selector="status.phase=Pending", _preload_content=False
            ).data
            pending = {
                (i["metadata"]["namespace"], i["metadata"]["name"])
                for i in orjson.loads(broken)["items"]
            }
            assert pending and pending <= cluster.unhealthy_pod_keys()
