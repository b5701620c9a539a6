"""diagnose_cluster reaches the cause: one finding per broken object of the sample cluster, with
the evidence from where the cause is (Warning events, the crashed container's log), grouped
by workload, ordered by impact, and an RBAC-limited user diagnosed in what it may read.

All through the real ``kubernetes`` client over loopback HTTP against the API emulation.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tool_support import Env, secret_values

from jupyter_kchat.sample.cluster import (
    CONFIG_API_KEY,
    CONFIG_DB_PASSWORD,
    HELM_PAYLOAD_MARKER,
    PAYMENTS_PANIC,
    TYPO_IMAGE,
    SampleCluster,
)
from jupyter_kchat.sample.cluster.autoscaling import HPA_PINNED
from jupyter_kchat.sample.cluster.batch import BACKOFF_LIMIT_MESSAGE, BACKUP_ERROR
from jupyter_kchat.sample.cluster.certmanager import CERT_FAILURE
from jupyter_kchat.sample.cluster.common import rfc3339
from jupyter_kchat.sample.cluster.networking import MISSING_BACKEND, ORPHAN_SERVICE
from jupyter_kchat.sample.cluster.registry import DENIED, PRIVATE_IMAGE
from jupyter_kchat.sample.cluster.storage import (
    CLAIM_LOST,
    MISSING_STORAGE_CLASS,
    PROVISIONING_FAILED,
)
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.kube_api.kubeconfig import ALL_CONTEXTS, VIEWER_CONTEXT
from jupyter_kchat.tools import KubeClients, ToolError, ToolResult

WIDE = 60_000
"""A budget that fits every finding in full, to check each one's evidence."""


def _serve(tmp_path: Path) -> Iterator[Env]:
    cluster = SampleCluster(pods=60, seed=0)
    api = KubeAPIServer(cluster)
    with api.run_in_thread():
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig.yaml", contexts=ALL_CONTEXTS)
        clients = KubeClients(str(kubeconfig), None)
        try:
            yield Env(cluster, api, kubeconfig, clients)
        finally:
            clients.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from _serve(tmp_path_factory.mktemp("diagnose"))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Env]:
    yield from _serve(tmp_path)


@pytest.fixture(scope="module")
def wide(env: Env) -> ToolResult:
    return env.call("diagnose_cluster", budget=WIDE)


def _finding(result: ToolResult, category: str, key: str) -> dict[str, Any]:
    rows = [r for r in result.data or [] if r["category"] == category and r["object"] == key]
    assert len(rows) == 1, (
        category,
        key,
        [(r["category"], r["object"]) for r in result.data or []],
    )
    return rows[0]


def _block(text: str, header: str) -> str:
    """One finding's lines in the text, from its header to its Next line."""
    start = text.index(header)
    return text[start : text.index("Next:", start)]


CASES = [
    ("Crash loop", "payments/payments-api", ["CrashLoopBackOff", PAYMENTS_PANIC]),
    ("Image pull", "shop/frontend", [f'failed to resolve reference "{TYPO_IMAGE}"', "not found"]),
    ("Image pull", "payments/payments-exporter", [PRIVATE_IMAGE, DENIED]),
    ("Job failed", "data/backup-nightly", [BACKOFF_LIMIT_MESSAGE, BACKUP_ERROR]),
    ("CronJob suspended", "ml/retrain-weekly", ["suspend=true", "last scheduled 20d ago"]),
    (
        "Volume pending",
        "ml/datasets-cache",
        [f"StorageClass {MISSING_STORAGE_CLASS} does not exist", PROVISIONING_FAILED],
    ),
    ("Volume lost", "shop/uploads", ["no longer exists", CLAIM_LOST]),
    ("Service without endpoints", f"shop/{ORPHAN_SERVICE}", ["matches no pod"]),
    ("Ingress backend missing", "shop/shop", [f"Service {MISSING_BACKEND}:8080, which does not"]),
    ("Autoscaler at maximum", "shop/checkout", ["maxReplicas 4", HPA_PINNED]),
    (
        "Autoscaler unable to scale",
        "payments/payments-api",
        ["FailedGetResourceMetric", "missing request for cpu"],
    ),
    ("Disruption budget blocks evictions", "data/postgres", ["minAvailable 1", "refused"]),
    ("Certificate not ready", "shop/shop-tls", ["Ready=False", CERT_FAILURE]),
    ("Node not ready", "node-3", ["Kubelet stopped posting node status", "pods on it not ready"]),
    ("Node pressure", "node-2", ["MemoryPressure"]),
    ("Unschedulable", "data/etl-worker", ["0/4 nodes are available"]),
    ("Out of memory", "ml/trainer", ["memory limit 16Gi", "exit code 137"]),
    ("Evicted", "monitoring/prometheus", ["The node was low on resource: memory"]),
]


@pytest.mark.parametrize(("category", "key", "evidence"), CASES, ids=[c[1] for c in CASES])
def test_every_broken_object_is_one_finding_with_its_cause(
    wide: ToolResult, category: str, key: str, evidence: list[str]
) -> None:
    row = _finding(wide, category, key)
    for needle in evidence:
        assert needle in row["evidence"] or needle in row["summary"], (key, needle)
    assert row["next"]
    assert f"{category}: " in wide.text and key in wide.text


def test_the_registry_answer_and_the_crash_log_are_quoted_in_the_text(wide: ToolResult) -> None:
    """What a person needs to know why, without a second call."""
    text = wide.text
    assert DENIED in _block(text, "Image pull: Deployment payments/payments-exporter")
    assert PAYMENTS_PANIC in _block(text, "Crash loop: Deployment payments/payments-api")
    backup = _block(text, "Job failed: CronJob data/backup-nightly")
    assert BACKUP_ERROR in backup and "(last run)" in backup
    assert "Log of payments-api-" in text and "(previous instance)" in text


def test_findings_are_ordered_by_impact_and_healthy_jobs_are_quiet(wide: ToolResult) -> None:
    order = [(r["category"], r["object"]) for r in wide.data or []]
    position = {entry: index for index, entry in enumerate(order)}
    assert order[0] == ("Node not ready", "node-3")
    assert (
        position[("Crash loop", "payments/payments-api")]
        < position[("Image pull", "shop/frontend")]
    )
    assert (
        position[("Image pull", "shop/frontend")] < position[("Unschedulable", "data/etl-worker")]
    )
    assert (
        position[("Unschedulable", "data/etl-worker")]
        < position[("Disruption budget blocks evictions", "data/postgres")]
    )
    assert order[-1][0] == "Warning events"
    assert "etl-daily" not in wide.text
    assert "3 jobs, 3 cronjobs, 3 PVCs" in wide.text.splitlines()[1]


def test_the_default_budget_names_every_finding(env: Env) -> None:
    for budget in (12_000, 4_000):
        result = env.call("diagnose_cluster", budget=budget)
        assert len(result.text) <= budget
        for row in result.data or []:
            assert row["object"] in result.text, (budget, row["object"])


def test_a_budget_too_small_for_every_detail_still_gives_each_finding_its_cause(
    env: Env,
) -> None:
    """What the demo's window leaves for a whole-cluster diagnosis: one line each, none by name
    only, and the certificate's line quotes cert-manager's own answer, not just its reason."""
    result = env.call("diagnose_cluster", budget=7_000)
    text = result.text
    assert len(text) <= 7_000 and result.truncated
    assert "by name only" not in text
    for fragment in (DENIED, MISSING_STORAGE_CLASS, CERT_FAILURE, "Crash loop: ", "Evidence: "):
        assert fragment in text, fragment
    numbers = [int(line.split(".", 1)[0]) for line in text.splitlines() if line[:1].isdigit()]
    assert numbers == list(range(1, len(result.data or []) + 1))


def test_a_service_whose_pods_all_fail_is_part_of_their_finding(wide: ToolResult) -> None:
    keys = {(r["category"], r["object"]) for r in wide.data or []}
    assert ("Service without endpoints", "payments/payments-api") not in keys
    crash = _block(wide.text, "Crash loop: Deployment payments/payments-api")
    assert "Impact: Service payments/payments-api has no ready endpoints" in crash


def test_thirty_crashing_pods_of_one_workload_are_one_finding(fresh: Env) -> None:
    fresh.call(
        "scale_deployment", {"name": "payments-api", "namespace": "payments", "replicas": 30}
    )
    result = fresh.call("diagnose_cluster", {"namespace": "payments"}, budget=WIDE)
    crash = [r for r in result.data or [] if r["object"] == "payments/payments-api"]
    assert [r["category"] for r in crash] == ["Crash loop", "Autoscaler unable to scale"]
    block = _block(result.text, "Crash loop: Deployment payments/payments-api has 0/30 ready")
    assert "30 pods CrashLoopBackOff" in block and "and 24 more" in block
    logs = [line for line in block.splitlines() if "Log of " in line]
    assert 1 <= len(logs) <= 5
    assert len({line.split(" (")[0] for line in logs}) <= 2


def test_a_namespace_viewer_is_diagnosed_where_it_may_read(env: Env) -> None:
    result = env.call("diagnose_cluster", context=VIEWER_CONTEXT)
    text = result.text
    assert text.startswith("Diagnosis of the namespaces this user can read (shop): ")
    keys = {r["object"] for r in result.data or []}
    assert {"shop/frontend", "shop/uploads", "shop/shop", "shop/checkout", "shop/shop-tls"} <= keys
    assert not any(key.startswith(("payments/", "data/", "node-")) for key in keys)
    assert "were read in the namespaces it can read: shop" in text
    assert text.count("forbidden (403)") == 1
    assert "Could not read nodes, storageclasses" in text and "at the cluster scope" in text
    assert "one namespace instead of all" not in text


def test_a_namespace_the_viewer_may_not_read_is_a_clear_error(env: Env) -> None:
    with pytest.raises(ToolError) as caught:
        env.call("diagnose_cluster", {"namespace": "payments"}, context=VIEWER_CONTEXT)
    message = str(caught.value)
    assert message.startswith("diagnose_cluster could not read anything.")
    assert "pods, deployments" in message and "in namespace payments" in message
    assert "A Role in namespace payments with the rule" in message
    assert message.count("forbidden (403)") == 1


def test_a_list_that_fails_is_named_once_and_the_rest_is_diagnosed(fresh: Env) -> None:
    fresh.api.faults.fail(500, path_prefix="/apis/batch/v1/jobs")
    fresh.api.faults.fail(500, path_prefix="/apis/cert-manager.io/v1/certificates")
    result = fresh.call("diagnose_cluster", budget=WIDE)
    text = result.text
    assert "Could not read jobs, certificates.cert-manager.io: the API server failed (500" in text
    assert text.count("the API server failed (500") == 1
    assert "Job failed" not in text
    keys = {(r["category"], r["object"]) for r in result.data or []}
    assert ("Crash loop", "payments/payments-api") in keys
    assert ("Volume pending", "ml/datasets-cache") in keys
    assert ("CronJob suspended", "ml/retrain-weekly") in keys


def test_no_credential_leaves_through_a_diagnosis(env: Env, wide: ToolResult) -> None:
    """Logs, events and messages quoted as evidence pass the same redaction as every tool."""
    secrets = secret_values(env.cluster) | {CONFIG_DB_PASSWORD, CONFIG_API_KEY, HELM_PAYLOAD_MARKER}
    viewer = env.call("diagnose_cluster", context=VIEWER_CONTEXT, budget=WIDE)
    for result in (wide, viewer):
        blob = result.text + repr(result.data)
        for value in secrets:
            assert value not in blob, value


def test_a_cronjob_whose_schedule_fell_due_without_a_run_is_named(fresh: Env) -> None:
    """Its last run an hour ago, so the check holds at any time of day (the sample's etl-daily
    ran at 01:30 UTC, which a five-minute schedule has not yet missed shortly after)."""
    cronjob = copy.deepcopy(fresh.cluster.get("cronjobs", "data", "etl-daily"))
    assert cronjob is not None
    cronjob["spec"]["schedule"] = "*/5 * * * *"
    cronjob["status"]["lastScheduleTime"] = rfc3339(time.time() - 3600)
    fresh.cluster.replace_object("cronjobs", cronjob)
    result = fresh.call("diagnose_cluster", {"namespace": "data"})
    row = _finding(result, "CronJob not scheduled", "data/etl-daily")
    assert "did not start (last scheduled" in row["evidence"]
    assert "startingDeadlineSeconds" in row["next"]
    backup = {r["category"] for r in result.data or [] if r["object"] == "data/backup-nightly"}
    assert backup == {"Job failed"}


def test_a_cordoned_node_is_named_with_how_to_uncordon_it(fresh: Env) -> None:
    node = copy.deepcopy(fresh.cluster.get("nodes", "", "node-1"))
    assert node is not None
    node["spec"]["unschedulable"] = True
    fresh.cluster.replace_object("nodes", node)
    result = fresh.call("diagnose_cluster", budget=WIDE)
    row = _finding(result, "Node cordoned", "node-1")
    assert "kubectl uncordon node-1" in row["next"]
    assert "Node cordoned: node node-1 is " in result.text


def test_a_pending_claim_without_a_pre_provisioned_volume_says_so(fresh: Env) -> None:
    claim = copy.deepcopy(fresh.cluster.get("persistentvolumeclaims", "ml", "datasets-cache"))
    assert claim is not None
    claim["spec"]["storageClassName"] = ""
    fresh.cluster.replace_object("persistentvolumeclaims", claim)
    result = fresh.call("diagnose_cluster", {"namespace": "ml"}, budget=WIDE)
    row = _finding(result, "Volume pending", "ml/datasets-cache")
    assert "asks for a pre-provisioned PersistentVolume and none matches" in row["evidence"]
    assert "create a PersistentVolume" in row["next"]


def test_a_namespace_that_does_not_exist_is_not_called_healthy(env: Env) -> None:
    result = env.call("diagnose_cluster", {"namespace": "nope"})
    assert "Namespace nope does not exist" in result.text
    assert "Everything looks healthy" not in result.text
