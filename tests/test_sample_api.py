"""The API emulation serves every kind as kube-apiserver v1.30 does, through the real client.

Discovery through ``kubernetes.dynamic.DynamicClient``, Tables with kubectl's columns per kind,
custom resources derived from their CRD objects (also one added while serving), metrics-server
on and off, the one-namespace viewer's 403 texts and the kubeconfig's contexts. Objects of
kinds the sample cluster does not generate are put into ``SampleCluster.objects`` before the
server starts, as any stored object.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from jupyter_kchat.sample.cluster import Obj, SampleCluster, rfc3339
from jupyter_kchat.sample.kube_api import ALL_CONTEXTS, NAMESPACE_VIEWER, KubeAPIServer

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
READY = '.status.conditions[?(@.type=="Ready")]'


def _meta(name: str, namespace: str | None, created: float, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "uid": f"uid-{name}", "resourceVersion": "900"}
    if namespace is not None:
        meta["namespace"] = namespace
    return {**meta, "creationTimestamp": rfc3339(created), **extra}


def _crd(
    plural: str,
    kind: str,
    scope: str,
    columns: list[Obj],
    group: str = "cert-manager.io",
    **names: Any,
) -> Obj:
    return {
        "kind": "CustomResourceDefinition",
        "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": _meta(f"{plural}.{group}", None, 0),
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, **names},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                }
            ],
        },
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }


CERT_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": f"{READY}.status"},
    {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
    {"name": "Issuer", "type": "string", "jsonPath": ".spec.issuerRef.name", "priority": 1},
    {"name": "Status", "type": "string", "jsonPath": f"{READY}.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _extras(cluster: SampleCluster) -> dict[str, list[Obj]]:
    """One object of each kind the tests need, as the real controllers would have written it."""
    now = cluster.clock()
    day = 86400
    return {
        "customresourcedefinitions": [
            _crd(
                "certificates",
                "Certificate",
                "Namespaced",
                CERT_COLUMNS,
                shortNames=["cert", "certs"],
                categories=["cert-manager"],
            ),
            _crd("clusterissuers", "ClusterIssuer", "Cluster", []),
        ],
        "certificates.cert-manager.io": [
            {
                "kind": "Certificate",
                "apiVersion": "cert-manager.io/v1",
                "metadata": _meta("t-tls", "shop", now - 3 * day),
                "spec": {"secretName": "t-tls", "issuerRef": {"name": "letsencrypt-prod"}},
                "status": {
                    "conditions": [
                        {"type": "Issuing", "status": "True", "message": "issuing"},
                        {"type": "Ready", "status": "False", "message": "order is invalid"},
                    ]
                },
            }
        ],
        "clusterissuers.cert-manager.io": [
            {
                "kind": "ClusterIssuer",
                "apiVersion": "cert-manager.io/v1",
                "metadata": _meta("t-issuer", None, now - 2 * day),
                "spec": {"acme": {}},
            }
        ],
        "horizontalpodautoscalers": [
            {
                "kind": "HorizontalPodAutoscaler",
                "apiVersion": "autoscaling/v2",
                "metadata": _meta("t-hpa", "shop", now - day),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "t"},
                    "minReplicas": 2,
                    "maxReplicas": 4,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 80},
                            },
                        }
                    ],
                },
                "status": {
                    "currentReplicas": 4,
                    "desiredReplicas": 4,
                    "currentMetrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "current": {"averageUtilization": 95}},
                        }
                    ],
                    "conditions": [
                        {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"}
                    ],
                },
            }
        ],
        "poddisruptionbudgets": [
            {
                "kind": "PodDisruptionBudget",
                "apiVersion": "policy/v1",
                "metadata": _meta("t-pdb", "data", now - day),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "postgres"}}},
                "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1},
            }
        ],
        "serviceaccounts": [
            {
                "kind": "ServiceAccount",
                "apiVersion": "v1",
                "metadata": _meta("t-sa", "shop", now - day),
                "secrets": [{"name": "t-sa-token"}],
            }
        ],
        "controllerrevisions": [
            {
                "kind": "ControllerRevision",
                "apiVersion": "apps/v1",
                "metadata": _meta(
                    "t-rev-1",
                    "data",
                    now - day,
                    ownerReferences=[
                        {
                            "apiVersion": "apps/v1",
                            "kind": "StatefulSet",
                            "name": "postgres",
                            "uid": "x",
                            "controller": True,
                        }
                    ],
                ),
                "data": {"spec": {"template": {}}},
                "revision": 3,
            }
        ],
    }


class Metered(SampleCluster):
    """A sample cluster whose metrics-server reports fixed usage (two pods, one node)."""

    def pod_metrics(self, namespace: str | None = None) -> list[Obj]:
        return [
            {
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": _meta(name, "shop", self.now, labels={"app": name}),
                "timestamp": rfc3339(self.now),
                "window": "15s",
                "containers": [
                    {"name": "a", "usage": {"cpu": "250m", "memory": "1024Ki"}},
                    {"name": "b", "usage": {"cpu": "1500000n", "memory": "1Mi"}},
                ],
            }
            for name in (("t-a", "t-b") if namespace in (None, "shop") else ())
        ]

    def node_metrics(self) -> list[Obj]:
        return [
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": _meta("node-1", None, self.now),
                "timestamp": rfc3339(self.now),
                "window": "20s",
                "usage": {"cpu": "2", "memory": "4Gi"},
            }
        ]


@dataclass
class Served:
    api: KubeAPIServer
    cluster: SampleCluster
    kubeconfig: Path
    client: k8s.ApiClient

    def get(self, path: str, accept: str = "application/json", **query: Any) -> tuple[int, Any]:
        """GET ``path`` with the client's auth; (status, decoded JSON)."""
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
        return response.status, orjson.loads(response.data)

    def ok(self, path: str, accept: str = "application/json", **query: Any) -> Any:
        status, body = self.get(path, accept, **query)
        assert status == 200, body
        return body

    def table(self, path: str, **query: Any) -> tuple[list[str], dict[str, list[Any]]]:
        """A Table's column names and its rows' cells by object name."""
        body = self.ok(path, TABLE, **query)
        names = [c["name"] for c in body["columnDefinitions"]]
        where = names.index("Name") if "Name" in names else -1
        return names, {str(r["cells"][where]): r["cells"] for r in body["rows"]}


def _serve(tmp_path: Path, cluster: SampleCluster, **options: Any) -> Iterator[Served]:
    for key, objects in _extras(cluster).items():
        store = cluster.objects.setdefault(key, {})
        for obj in objects:
            store[(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
    api = KubeAPIServer(cluster, **options)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml", contexts=ALL_CONTEXTS)
        with new_client_from_config(config_file=str(kubeconfig)) as api_client:
            yield Served(api, cluster, kubeconfig, api_client)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, Metered(pods=60, seed=0))


KINDS = [
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"]),
    ("v1", "PersistentVolume", "persistentvolumes", False, ["pv"]),
    ("v1", "Endpoints", "endpoints", True, ["ep"]),
    ("v1", "ServiceAccount", "serviceaccounts", True, ["sa"]),
    ("apps/v1", "ControllerRevision", "controllerrevisions", True, []),
    ("batch/v1", "Job", "jobs", True, []),
    ("batch/v1", "CronJob", "cronjobs", True, ["cj"]),
    ("networking.k8s.io/v1", "Ingress", "ingresses", True, ["ing"]),
    ("networking.k8s.io/v1", "IngressClass", "ingressclasses", False, []),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, ["netpol"]),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ["hpa"]),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"]),
    ("storage.k8s.io/v1", "StorageClass", "storageclasses", False, ["sc"]),
    ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True, []),
    (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ["crd", "crds"],
    ),
    ("cert-manager.io/v1", "Certificate", "certificates", True, ["cert", "certs"]),
    ("cert-manager.io/v1", "ClusterIssuer", "clusterissuers", False, []),
    ("metrics.k8s.io/v1beta1", "PodMetrics", "pods", True, []),
    ("metrics.k8s.io/v1beta1", "NodeMetrics", "nodes", False, []),
]


def test_dynamic_client_discovery_resolves_every_kind(served: Served) -> None:
    dynamic = DynamicClient(served.client)
    for api_version, kind, plural, namespaced, short in KINDS:
        resource = dynamic.resources.get(api_version=api_version, kind=kind)
        assert (resource.name, resource.namespaced) == (plural, namespaced), kind
        assert list(resource.short_names or []) == short, kind
        listed = resource.get() if kind != "PodMetrics" else resource.get(namespace="shop")
        assert listed.kind == f"{kind}List" and listed.apiVersion == api_version
    hpa = dynamic.resources.get(api_version="autoscaling/v1", kind="HorizontalPodAutoscaler")
    converted = hpa.get(namespace="shop", name="t-hpa")
    assert converted.spec.targetCPUUtilizationPercentage == 80
    assert converted.status.currentCPUUtilizationPercentage == 95
    assert (
        "TooManyReplicas"
        in converted.metadata.annotations["autoscaling.alpha.kubernetes.io/conditions"]
    )


def test_discovery_documents_are_the_real_shapes(served: Served) -> None:
    groups = {g["name"]: g for g in served.ok("/apis")["groups"]}
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    assert groups["autoscaling"]["preferredVersion"] == {
        "groupVersion": "autoscaling/v2",
        "version": "v2",
    }
    assert list(groups)[-2:] == ["cert-manager.io", "metrics.k8s.io"]
    core = {r["name"]: r for r in served.ok("/api/v1")["resources"]}
    assert core["pods/log"] == {
        "name": "pods/log",
        "singularName": "",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get"],
    }
    assert core["pods"]["categories"] == ["all"]
    assert core["pods"]["storageVersionHash"] == "xPOwRZ+Yhw8="
    apps = {r["name"]: r for r in served.ok("/apis/apps/v1")["resources"]}
    assert apps["deployments"]["storageVersionHash"] == "8aSe+NMegvE="
    hpa = [served.ok(f"/apis/autoscaling/{v}")["resources"][0] for v in ("v1", "v2")]
    assert hpa[0]["storageVersionHash"] == hpa[1]["storageVersionHash"]
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert apps["deployments/scale"]["kind"] == "Scale"
    batch = {r["name"]: r for r in served.ok("/apis/batch/v1")["resources"]}
    assert batch["cronjobs"]["categories"] == ["all"] and batch["jobs"]["categories"] == ["all"]
    certs = {r["name"]: r for r in served.ok("/apis/cert-manager.io/v1")["resources"]}
    assert certs["certificates"]["categories"] == ["cert-manager"]
    assert "certificates/status" in certs
    metrics = {r["name"]: r for r in served.ok("/apis/metrics.k8s.io/v1beta1")["resources"]}
    assert metrics["pods"]["verbs"] == ["get", "list"] and metrics["nodes"]["kind"] == "NodeMetrics"

    aggregated = served.ok("/apis", AGGREGATED + ",application/json")
    assert aggregated["kind"] == "APIGroupDiscoveryList"
    by_group = {i["metadata"]["name"]: i for i in aggregated["items"]}
    deployments = next(
        r for r in by_group["apps"]["versions"][0]["resources"] if r["resource"] == "deployments"
    )
    assert deployments["scope"] == "Namespaced" and deployments["shortNames"] == ["deploy"]
    assert {s["subresource"] for s in deployments["subresources"]} == {"scale", "status"}
    legacy = served.ok("/api", AGGREGATED)["items"]
    assert [v["version"] for v in legacy[0]["versions"]] == ["v1"]


def test_field_selectors_follow_each_kind(served: Served) -> None:
    status, body = served.get("/apis/batch/v1/jobs", fieldSelector="spec.suspend=true")
    assert status == 400 and body["message"] == "field label not supported: spec.suspend"
    complete = served.ok("/apis/batch/v1/jobs", fieldSelector="status.successful=1")["items"]
    assert complete and all(j["status"]["succeeded"] == 1 for j in complete)
    claims = served.ok("/api/v1/persistentvolumeclaims", fieldSelector="name=datasets-cache")
    assert [c["metadata"]["name"] for c in claims["items"]] == ["datasets-cache"]
    certs = served.ok("/apis/cert-manager.io/v1/certificates", fieldSelector="metadata.name=t-tls")
    assert len(certs["items"]) == 1
    status, body = served.get("/apis/cert-manager.io/v1/certificates", fieldSelector="spec.x=1")
    assert status == 400 and body["message"] == "field label not supported: spec.x"
    labelled = served.ok("/apis/batch/v1/cronjobs", labelSelector="app=backup-nightly")
    assert [c["metadata"]["name"] for c in labelled["items"]] == ["backup-nightly"]


def test_tables_have_kubectl_columns_and_cells(served: Served) -> None:
    names, rows = served.table("/api/v1/persistentvolumeclaims")
    assert names == [
        "Name",
        "Status",
        "Volume",
        "Capacity",
        "Access Modes",
        "StorageClass",
        "VolumeAttributesClass",
        "Age",
        "VolumeMode",
    ]
    assert rows["datasets-cache"][1:7] == ["Pending", "", "", "", "fast-ssd", "<unset>"]
    assert rows["data-postgres-0"][3:5] == ["50Gi", "RWO"]
    names, rows = served.table("/apis/batch/v1/namespaces/data/jobs")
    assert names[:5] == ["Name", "Status", "Completions", "Duration", "Age"]
    backups = {cells[1] for name, cells in rows.items() if name.startswith("backup-nightly-")}
    assert backups == {"Failed", "Complete"}
    names, rows = served.table("/apis/batch/v1/cronjobs")
    assert names[:7] == [
        "Name",
        "Schedule",
        "Timezone",
        "Suspend",
        "Active",
        "Last Schedule",
        "Age",
    ]
    assert rows["retrain-weekly"][1:4] == ["0 3 * * 0", "<none>", True]
    _, rows = served.table("/apis/storage.k8s.io/v1/storageclasses")
    assert rows["standard (default)"][1:5] == [
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
    ]
    names, rows = served.table("/apis/networking.k8s.io/v1/ingresses")
    assert names == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    assert rows["shop"][1:3] == ["nginx", "shop.example.com"] and rows["shop"][4] == "80, 443"
    _, rows = served.table("/api/v1/namespaces/default/endpoints")
    assert rows["kubernetes"][1] == "172.20.0.2:6443"
    names, rows = served.table("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")
    assert names == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    assert rows["kubernetes"][1:4] == ["IPv4", "6443", "172.20.0.2"]
    names, rows = served.table("/apis/autoscaling/v2/horizontalpodautoscalers")
    assert names == ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"]
    assert rows["t-hpa"][1:6] == ["Deployment/t", "95%/80%", "2", 4, 4]
    _, rows = served.table("/apis/policy/v1/poddisruptionbudgets")
    assert rows["t-pdb"][1:4] == ["1", "N/A", 0]
    _, rows = served.table("/api/v1/serviceaccounts")
    assert rows["t-sa"][1] == 1
    _, rows = served.table("/apis/apps/v1/controllerrevisions")
    assert rows["t-rev-1"][1:3] == ["statefulset.apps/postgres", 3]
    _, rows = served.table("/apis/networking.k8s.io/v1/ingressclasses")
    assert rows["nginx"][2] == "<none>"
    names, rows = served.table("/apis/networking.k8s.io/v1/networkpolicies")
    assert names == ["Name", "Pod-Selector", "Age"] and rows
    names, rows = served.table("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    assert names == ["Name", "Created At"]
    assert rows["certificates.cert-manager.io"][1] == "1970-01-01T00:00:00Z"


def test_table_pages_follow_writes_and_the_clock(served: Served) -> None:
    path = "/apis/cert-manager.io/v1/namespaces/shop/certificates"

    def paged() -> dict[str, list[Any]]:
        """Every row, one per page, by name."""
        rows: dict[str, list[Any]] = {}
        query = {"limit": "1", "includeObject": "Object"}
        while True:
            page = served.ok(path, TABLE, **query)
            assert len(page["rows"]) == 1 and page["rows"][0]["object"]["kind"] == "Certificate"
            rows.update((r["cells"][0], r["cells"]) for r in page["rows"])
            if "continue" not in page["metadata"]:
                return rows
            query["continue"] = page["metadata"]["continue"]

    cert = served.cluster.objects["certificates.cert-manager.io"][("shop", "t-tls")]
    before = paged()
    assert before["t-tls"] == [
        "t-tls",
        "False",
        "t-tls",
        "letsencrypt-prod",
        "order is invalid",
        "3d",
    ]
    assert len(before) > 1
    fixed = orjson.loads(orjson.dumps(cert))
    fixed["status"]["conditions"][1].update(status="True", message="up to date")
    served.cluster.replace_object("certificates.cert-manager.io", fixed)
    assert paged()["t-tls"][1::3] == ["True", "up to date"]
    served.cluster.advance(86400)
    assert paged()["t-tls"][-1] == "4d"
    _, rows = served.table(f"{path}/t-tls")
    assert rows["t-tls"][-1] == "4d"


def test_custom_resources_print_their_crd_columns(served: Served) -> None:
    body = served.ok("/apis/cert-manager.io/v1/namespaces/shop/certificates", TABLE)
    columns = [(c["name"], c["type"], c["priority"]) for c in body["columnDefinitions"]]
    assert columns == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Secret", "string", 0),
        ("Issuer", "string", 1),
        ("Status", "string", 1),
        ("Age", "date", 0),
    ]
    rows = {r["cells"][0]: r["cells"] for r in body["rows"]}
    assert rows["t-tls"] == [
        "t-tls",
        "False",
        "t-tls",
        "letsencrypt-prod",
        "order is invalid",
        "3d",
    ]
    names, rows = served.table("/apis/cert-manager.io/v1/clusterissuers")
    assert names == ["Name", "Age"] and rows["t-issuer"][1] == "2d"
    status, body = served.get("/apis/cert-manager.io/v1/namespaces/shop/certificates/nope")
    assert status == 404
    assert body["message"] == 'certificates.cert-manager.io "nope" not found'


def test_a_crd_added_while_serving_appears_in_discovery(served: Served) -> None:
    dynamic = DynamicClient(served.client)
    with pytest.raises(ResourceNotFoundError):
        dynamic.resources.get(api_version="kchat.example.com/v1alpha1", kind="Widget")
    columns = [
        ("Ready", "string", f"{READY}.status"),
        ("App", "string", ".metadata.labels['app.kubernetes.io/name']"),
        ("First", "string", ".spec.parts[0].name"),
        ("Ports", "integer", ".spec.parts[*].port"),
        ("Other", "string", '.status.conditions[?(@.type!="Ready")].type'),
        ("Size", "integer", ".spec.size"),
        ("On", "boolean", ".spec.on"),
        ("Bad", "integer", ".spec.parts[0].name"),
        ("Broken", "string", ".spec[?bad"),
        ("Spec", "string", ".spec.tags"),
    ]
    crd = _crd(
        "widgets",
        "Widget",
        "Namespaced",
        [{"name": n, "type": t, "jsonPath": p} for n, t, p in columns],
        group="kchat.example.com",
    )
    crd["spec"]["versions"][0]["name"] = "v1alpha1"
    served.cluster.replace_object("customresourcedefinitions", crd)
    widget = {
        "kind": "Widget",
        "apiVersion": "kchat.example.com/v1alpha1",
        "metadata": _meta(
            "t-widget", "shop", served.cluster.clock(), labels={"app.kubernetes.io/name": "w"}
        ),
        "spec": {
            "parts": [{"name": "a", "port": 80}, {"name": "b", "port": 81}],
            "size": 3,
            "on": True,
            "tags": ["x", "y"],
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "True"},
            ]
        },
    }
    served.cluster.replace_object("widgets.kchat.example.com", widget)
    found = dynamic.resources.get(api_version="kchat.example.com/v1alpha1", kind="Widget")
    assert [w.metadata.name for w in found.get(namespace="shop").items] == ["t-widget"]
    names, rows = served.table("/apis/kchat.example.com/v1alpha1/widgets")
    assert names == ["Name"] + [n for n, _, _ in columns]
    assert rows["t-widget"][1:] == [
        "True",
        "w",
        "a",
        80,
        "Synced",
        3,
        True,
        None,
        None,
        '["x","y"]',
    ]
    assert "kchat.example.com" in {g["name"] for g in served.ok("/apis")["groups"]}


def test_include_object_paging_and_metadata_lists(served: Served) -> None:
    body = served.ok("/api/v1/configmaps", TABLE, includeObject="None", limit="3")
    assert len(body["rows"]) == 3 and all("object" not in r for r in body["rows"])
    rest = served.ok(
        "/api/v1/configmaps", TABLE, limit="100", **{"continue": body["metadata"]["continue"]}
    )
    assert len(body["rows"]) + len(rest["rows"]) == len(served.cluster.objects["configmaps"])
    full = served.ok("/apis/cert-manager.io/v1/certificates", TABLE, includeObject="Object")
    objects = {r["cells"][0]: r["object"] for r in full["rows"]}
    assert objects["t-tls"]["spec"]["secretName"] == "t-tls"
    meta = served.ok("/apis/cert-manager.io/v1/certificates", TABLE)["rows"][0]["object"]
    assert meta["kind"] == "PartialObjectMetadata" and "spec" not in meta
    listed = served.ok("/apis/batch/v1/cronjobs", META_LIST)
    assert listed["kind"] == "PartialObjectMetadataList"
    assert all("spec" not in i for i in listed["items"])


def test_metrics_are_served_from_the_cluster(served: Served) -> None:
    pods = served.ok("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods")
    assert pods["kind"] == "PodMetricsList" and pods["metadata"] == {}
    assert [p["metadata"]["name"] for p in pods["items"]] == ["t-a", "t-b"]
    one = served.ok("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/t-a")
    assert one["kind"] == "PodMetrics" and one["containers"][0]["usage"]["cpu"] == "250m"
    names, rows = served.table("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods")
    assert names == ["Name", "cpu", "memory", "Window"]
    assert rows["t-a"][1:] == ["251500000n", "2048Ki", "15s"]
    labelled = served.ok("/apis/metrics.k8s.io/v1beta1/pods", labelSelector="app=t-b")
    assert [p["metadata"]["name"] for p in labelled["items"]] == ["t-b"]
    status, body = served.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/nope")
    assert status == 404 and body["message"] == 'podmetrics.metrics.k8s.io "shop/nope" not found'
    nodes = served.ok("/apis/metrics.k8s.io/v1beta1/nodes")
    assert nodes["items"][0]["usage"] == {"cpu": "2", "memory": "4Gi"}
    status, body = served.get("/apis/metrics.k8s.io/v1beta1/pods", watch="true")
    assert status == 405 and body["reason"] == "MethodNotAllowed"


def test_without_metrics_server_the_api_is_absent(tmp_path: Path) -> None:
    for served in _serve(tmp_path, Metered(pods=60, seed=0), metrics=False):
        assert "metrics.k8s.io" not in {g["name"] for g in served.ok("/apis")["groups"]}
        status, body = served.get("/apis/metrics.k8s.io/v1beta1/pods")
        assert status == 404 and body["reason"] == "NotFound"
        aggregated = served.ok("/apis", AGGREGATED)["items"]
        assert "metrics.k8s.io" not in {i["metadata"]["name"] for i in aggregated}


def test_namespace_viewer_reads_shop_only(served: Served) -> None:
    with new_client_from_config(config_file=str(served.kubeconfig), context="shop-viewer") as c:
        core = k8s.CoreV1Api(c)
        assert core.list_namespaced_pod("shop").items
        assert core.read_namespace("shop").metadata.name == "shop"
        assert k8s.BatchV1Api(c).list_namespaced_cron_job("shop").items == []
        denied = {
            "list pods everywhere": (core.list_pod_for_all_namespaces, ()),
            "list pods in payments": (core.list_namespaced_pod, ("payments",)),
            "list secrets in shop": (core.list_namespaced_secret, ("shop",)),
            "list nodes": (core.list_node, ()),
            "read namespace payments": (core.read_namespace, ("payments",)),
        }
        messages = {}
        for what, (call, args) in denied.items():
            with pytest.raises(ApiException) as info:
                call(*args)
            assert info.value.status == 403, what
            messages[what] = orjson.loads(info.value.body)["message"]
        user = f'User "{NAMESPACE_VIEWER}"'
        assert messages["list pods everywhere"] == (
            f'pods is forbidden: {user} cannot list resource "pods" in API group "" '
            "at the cluster scope"
        )
        assert messages["list pods in payments"] == (
            f'pods is forbidden: {user} cannot list resource "pods" in API group "" '
            'in the namespace "payments"'
        )
        assert messages["list secrets in shop"].endswith('in the namespace "shop"')
        assert messages["list nodes"].startswith("nodes is forbidden")
        assert messages["read namespace payments"] == (
            f'namespaces "payments" is forbidden: {user} cannot get resource "namespaces" in '
            'API group "" in the namespace "payments"'
        )
        pod = core.list_namespaced_pod("shop").items[0].metadata.name
        with pytest.raises(ApiException) as info:
            core.delete_namespaced_pod(pod, "shop")
        assert info.value.status == 403 and "cannot delete resource" in info.value.body


def test_kubeconfig_contexts(served: Served, tmp_path: Path) -> None:
    config = yaml.safe_load(served.kubeconfig.read_text())
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    assert list(contexts) == ["sample", "sample-readonly", "shop-viewer"]
    assert config["current-context"] == "sample" and contexts["shop-viewer"]["namespace"] == "shop"
    plain = yaml.safe_load(served.api.write_kubeconfig(tmp_path / "plain.yaml").read_text())
    assert [c["name"] for c in plain["contexts"]] == ["sample", "sample-readonly"]
    with pytest.raises(ValueError, match="unknown contexts"):
        served.api.write_kubeconfig(tmp_path / "bad.yaml", contexts=["prod"])


def test_cli_writes_every_context_and_can_serve_without_metrics(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "cli.yaml"
    command = [sys.executable, "-m", "jupyter_kchat.sample_cluster", "--kubeconfig"]
    process = subprocess.Popen(
        [*command, str(kubeconfig), "--viewer-token", "t-viewer", "--no-metrics"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("kchat sample cluster: ")
        config = yaml.safe_load(kubeconfig.read_text())
        assert [c["name"] for c in config["contexts"]] == [
            "sample",
            "sample-readonly",
            "shop-viewer",
        ]
        assert {"name": "shop-viewer", "user": {"token": "t-viewer"}} in config["users"]
        with new_client_from_config(config_file=str(kubeconfig), context="shop-viewer") as c:
            assert k8s.CoreV1Api(c).list_namespaced_pod("shop").items
            groups = k8s.ApisApi(c).get_api_versions().groups
            assert "metrics.k8s.io" not in {g.name for g in groups}
    finally:
        process.terminate()
        assert process.wait(10) == 0
        if process.stdout is not None:
            process.stdout.close()


def _resource_paths(served: Served) -> list[tuple[str, Obj]]:
    """(list path, APIResource) of every resource discovery lists, subresources aside."""
    versions = ["/api/v1"] + [
        f"/apis/{v['groupVersion']}" for g in served.ok("/apis")["groups"] for v in g["versions"]
    ]
    return [
        (f"{base}/{r['name']}", r)
        for base in versions
        for r in served.ok(base)["resources"]
        if "/" not in r["name"]
    ]


def test_every_kind_lists_and_gets_in_every_representation(served: Served) -> None:
    paths = _resource_paths(served)
    assert len(paths) >= 30
    for path, resource in paths:
        items = served.ok(path)["items"]
        table = served.ok(path, TABLE)
        assert len(table["rows"]) == len(items), path
        width = len(table["columnDefinitions"])
        assert all(len(r["cells"]) == width for r in table["rows"]), path
        assert len(served.ok(path, META_LIST)["items"]) == len(items), path
        if not items:
            continue
        meta = items[0]["metadata"]
        where = f"/namespaces/{meta['namespace']}" if resource["namespaced"] else ""
        one = path.replace(f"/{resource['name']}", f"{where}/{resource['name']}/{meta['name']}")
        assert served.ok(one)["metadata"]["name"] == meta["name"], one
        assert len(served.ok(one, TABLE)["rows"]) == 1, one


def test_logs_of_a_pod_on_an_unreachable_node_are_the_real_500(served: Served) -> None:
    lost = {n.name: n.ip for n in served.cluster.nodes if not n.ready}
    (namespace, name), pod = next(
        (key, p)
        for key, p in served.cluster.objects["pods"].items()
        if p["spec"].get("nodeName") in lost
    )
    ip = lost[pod["spec"]["nodeName"]]
    container = pod["spec"]["containers"][0]["name"]
    core = k8s.CoreV1Api(served.client)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log(name, namespace, container=container, tail_lines=20)
    status = orjson.loads(info.value.body)
    assert info.value.status == 500 and "reason" not in status
    assert status["message"] == (
        f'Get "https://{ip}:10250/containerLogs/{namespace}/{name}/{container}?tailLines=20": '
        f"dial tcp {ip}:10250: connect: no route to host"
    )


def test_the_sample_clusters_own_metrics_are_served(tmp_path: Path) -> None:
    for served in _serve(tmp_path, SampleCluster(pods=60, seed=0)):
        expected = {m["metadata"]["name"] for m in served.cluster.pod_metrics("payments")}
        listed = served.ok("/apis/metrics.k8s.io/v1beta1/namespaces/payments/pods")["items"]
        assert expected and {m["metadata"]["name"] for m in listed} == expected
        _, rows = served.table("/apis/metrics.k8s.io/v1beta1/nodes")
        assert set(rows) == {m["metadata"]["name"] for m in served.cluster.node_metrics()}
        assert all(cells[1].endswith("n") and cells[2].endswith("Ki") for cells in rows.values())


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Real kubectl against ``python -m jupyter_kchat.sample_cluster --tls`` (client-go sends
    bearer tokens only over TLS)."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed")
    path = tmp_path / "kubeconfig.yaml"
    command = [sys.executable, "-m", "jupyter_kchat.sample_cluster", "--tls", "--kubeconfig"]
    process = subprocess.Popen([*command, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("kchat sample cluster: https://127.0.0.1:")

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            command = [binary, f"--kubeconfig={path}", f"--cache-dir={tmp_path / 'cache'}"]
            return subprocess.run(
                [*command, *args], capture_output=True, text=True, timeout=60, check=False
            )

        yield run
    finally:
        process.terminate()
        assert process.wait(10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_kubectl_reads_the_sample_cluster_as_a_real_one(kubectl: Callable[..., Any]) -> None:
    resources = kubectl("api-resources").stdout
    for line in ("certificates  cert,certs  cert-manager.io/v1", "pods  metrics.k8s.io/v1beta1"):
        assert re.search(r"\s+".join(line.split()), resources), line
    claims = kubectl("get", "pvc", "-A").stdout
    assert re.search(r"ml\s+datasets-cache\s+Pending\s+fast-ssd\s+<unset>", claims)
    certs = kubectl("get", "certs", "-n", "shop").stdout
    assert re.search(r"shop-tls\s+False\s+shop-tls\s+\S+", certs)
    everything = kubectl("get", "all", "-n", "shop").stdout
    assert "horizontalpodautoscaler.autoscaling/checkout" in everything
    top = kubectl("top", "pods", "-n", "shop")
    assert top.returncode == 0 and "CPU(cores)" in top.stdout
    denied = kubectl("--context=shop-viewer", "get", "secrets")
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:shop:'
        'viewer" cannot list resource "secrets" in API group "" in the namespace "shop"'
    )
    assert kubectl("--context=shop-viewer", "get", "pods").returncode == 0
