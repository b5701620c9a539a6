"""The demo model picks the tools for any kind (issue 11's questions) and answers from them.

First the model's own choice, given the real tool schemas; then each question through a real
chat: Jupyter server, /ws/chat, the real ``openai`` client against the demo model server, the
real ``kubernetes`` client against the sample API.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_kchat.sample import cluster as sample
from jupyter_kchat.sample.demo_model import decide
from jupyter_kchat.tools import default_registry

TOOLS = default_registry().openai_tools(read_only=True, contexts=("sample", "sample-readonly"))

QUESTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("which PVCs are pending and why?", "list_resources", {"kind": "pvc", "all_namespaces": True}),
    ("show the ingress for shop", "list_resources", {"kind": "ingress", "namespace": "shop"}),
    (
        "did last night's backup job fail?",
        "list_resources",
        {"kind": "jobs", "all_namespaces": True},
    ),
    (
        "what's in configmap app-config?",
        "get_resource",
        {"kind": "configmaps", "name": "app-config"},
    ),
    (
        "is my cert-manager certificate ready?",
        "list_resources",
        {"kind": "certificates.cert-manager.io", "all_namespaces": True},
    ),
    ("what changed in the last rollout of checkout?", "rollout_history", {"name": "checkout"}),
    ("which pods use the most memory?", "top", {"kind": "pods", "all_namespaces": True}),
    ("what Helm releases are installed?", "list_helm_releases", {}),
    ("which kubeconfig contexts can I use?", "list_contexts", {}),
    (
        "show revisions of statefulset postgres in data",
        "rollout_history",
        {"name": "postgres", "kind": "statefulset", "namespace": "data"},
    ),
    (
        "describe job backup-nightly-29934840 in data",
        "get_resource",
        {"kind": "jobs", "name": "backup-nightly-29934840", "namespace": "data"},
    ),
    ("what's the cpu usage of the nodes?", "top", {"kind": "nodes", "sort_by": "cpu"}),
    ("any nodes with memory pressure?", "list_nodes", {}),
]


@pytest.mark.parametrize(("question", "tool", "arguments"), QUESTIONS)
def test_the_demo_model_picks_the_tool_for_the_question(
    question: str, tool: str, arguments: dict[str, Any]
) -> None:
    decision = decide([{"role": "user", "content": question}], TOOLS)
    assert [(call.name, call.arguments) for call in decision.tool_calls] == [(tool, arguments)]


def test_without_the_new_tools_the_old_answers_stay() -> None:
    old = [t for t in TOOLS if t["function"]["name"] in ("list_pods", "diagnose_cluster")]
    decision = decide([{"role": "user", "content": "which PVCs are pending and why?"}], old)
    assert [call.name for call in decision.tool_calls] == ["diagnose_cluster"]


# ---------------------------------------------------------------------- through a real chat


ANSWERS: list[tuple[str, list[str], list[str]]] = [
    (
        "which PVCs are pending and why?",
        ["list_resources"],
        ["datasets-cache", 'storageclass.storage.k8s.io "fast-ssd" not found', "uploads", "Lost"],
    ),
    (
        "show the ingress for shop",
        ["list_resources", "get_resource"],
        ['shop-api:8080 (<error: endpoints "shop-api" not found>)', "does not exist"],
    ),
    (
        "did last night's backup job fail?",
        ["list_resources", "list_pods", "get_pod_logs"],
        ["BackoffLimitExceeded", "password authentication failed for user"],
    ),
    (
        "what's in configmap app-config?",
        ["get_resource"],
        ["LOG_LEVEL: info", "FEATURE_FLAGS: checkout-v2,new-cart", "PAYMENT_API_KEY: ***"],
    ),
    (
        "is my cert-manager certificate ready?",
        ["list_resources"],
        ["shop/shop-tls", 'order is in "invalid" state', "ACME"],
    ),
    (
        "what changed in the last rollout of checkout?",
        ["rollout_history"],
        ["checkout:v1.5.0 -> registry.example.com/shop/checkout:v1.5.1", "PAYMENT_TIMEOUT_MS"],
    ),
    (
        "which pods use the most memory?",
        ["top"],
        ["| Mem Req/Lim | Mem%Limit |", "% of its limit 16384Mi", "OOM-killed"],
    ),
    (
        "what Helm releases are installed?",
        ["list_helm_releases"],
        ["revision 2 failed; revision 1 is the last deployed", "prometheus"],
    ),
]


@pytest.mark.parametrize(("question", "tools", "said"), ANSWERS)
async def test_each_question_gets_an_answer_from_the_cluster(
    kchat_ws: Any, question: str, tools: list[str], said: list[str]
) -> None:
    sock = await kchat_ws()
    events = await sock.turn({"message": question, "conversation_id": None}, timeout=60)
    complete = events[-1]["data"]
    assert [call["tool_name"] for call in complete["tool_calls"]] == tools
    assert all(call["status"] == "completed" for call in complete["tool_calls"])
    answer = complete["message"]
    for text in said:
        assert text in answer
    for secret in (sample.CONFIG_API_KEY, sample.CONFIG_DB_PASSWORD, sample.DB_PASSWORD):
        assert secret not in answer


BROKEN = {
    "node-3": "Kubelet stopped posting node status",
    "payments/payments-api": sample.PAYMENTS_PANIC,
    "data/backup-nightly": "password authentication failed for user",
    "ml/trainer": "OOMKilled",
    "shop/uploads": "lost its PersistentVolume",
    "shop/frontend": "not found",
    "payments/payments-exporter": "insufficient_scope: authorization failed",
    "data/etl-worker": "0/4 nodes are available",
    "ml/datasets-cache": "fast-ssd",  # "does not exist", or the provisioner's "not found"
    "node-2": "MemoryPressure",
    "monitoring/prometheus": "The node was low on resource: memory",
    "shop/legacy-search": "matches no pod",
    "shop/shop": "shop-api:8080, which does not exist",
    "shop/checkout": "at its maximum",
    "ml/retrain-weekly": "suspend=true",
    "data/postgres": "every voluntary eviction is refused",
    "shop/shop-tls": 'order is in "invalid" state',
}
"""Every broken object of the sample cluster, and the words of its cause."""


async def test_a_whole_cluster_diagnosis_names_every_broken_object_with_its_cause(
    kchat_ws: Any,
) -> None:
    sock = await kchat_ws()
    events = await sock.turn(
        {"message": "what's wrong in the cluster?", "conversation_id": None}, timeout=60
    )
    answer = events[-1]["data"]["message"]
    bullets = [line for line in answer.splitlines() if line.startswith("- ")]
    for key, cause in BROKEN.items():
        said = [line for line in bullets if key in line]
        assert any(cause in line for line in said), (key, said)


LOOKED_UP: list[tuple[str, str, str]] = [
    ("what changed in the last rollout of checkout?", "rollout_history", "namespace shop"),
    ("describe pod postgres-0", "get_pod", "namespace data"),
]
"""Questions naming an object without its namespace (not the chat's default one), the tool
that answers, and where the tool's lookup found the object."""


@pytest.mark.parametrize(("question", "tool", "where"), LOOKED_UP)
async def test_a_name_without_its_namespace_is_found_by_the_tools_lookup(
    kchat_ws: Any, question: str, tool: str, where: str
) -> None:
    sock = await kchat_ws()
    events = await sock.turn({"message": question, "conversation_id": None}, timeout=60)
    complete = events[-1]["data"]
    [call] = complete["tool_calls"]
    assert call["tool_name"] == tool and call["status"] == "completed"
    assert "namespace" not in call["arguments"], "the demo names no namespace the user did not"
    assert f"is not in namespace default, the default; found it in {where}" in call["result"]
    assert where in complete["message"]
