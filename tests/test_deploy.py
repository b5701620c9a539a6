"""``deploy/`` against the code it deploys.

The RBAC roles against what the tools really send: every request the tools make is allowed by
the read role (or, for writes and secrets, by the opt-in roles), and nothing more is granted.
The Zero to JupyterHub values against kchat's settings and the RBAC files they rely on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tool_support import Env, serve

from jupyter_kchat.config import KChat
from jupyter_kchat.tools import ToolError, all_tools

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SECRET_READERS = {"list_secrets", "list_helm_releases"}
"""Read tools whose answers come from Secrets (metadata only), so only the opt-in role allows."""
def rules(*files: str) -> list[dict[str, Any]]:
    """Every PolicyRule of the ClusterRoles in ``deploy/rbac/<file>``."""
    found = []
    for name in files:
        for doc in yaml.safe_load_all((DEPLOY / "rbac" / name).read_text()):
            if doc and doc["kind"] == "ClusterRole":
                found.extend(doc["rules"])
    return found


def rbac_attributes(method: str, path: str, query: dict[str, str]) -> tuple[str, str, str] | None:
    """(verb, apiGroup, resource[/subresource]) the API server authorizes a request as, or
    None for discovery, which every authenticated identity may read."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource, name, sub = (rest + [None, None])[:3]
    watching = query.get("watch") in ("true", "1")
    verb = {
        "GET": "watch" if watching else ("get" if name else "list"),
        "PATCH": "patch",
        "PUT": "update",
        "DELETE": "delete",
        "POST": "create",
    }[method]
    return verb, group, f"{resource}/{sub}" if sub else str(resource)


def allowed(attributes: tuple[str, str, str], policy: list[dict[str, Any]]) -> bool:
    verb, group, resource = attributes
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in policy
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """The sample cluster and the tools' view of it, as a user server has one."""
    yield from serve(tmp_path)


def requests_of(env: Env, calls: list[tuple[str, dict[str, Any]]]) -> set:
    """Run tools (their answers don't matter here) and return what the API server saw."""
    env.api.requests.clear()
    for name, args in calls:
        try:
            env.call(name, args)
        except ToolError:
            pass
    seen = {rbac_attributes(s.method, s.path, s.query) for s in env.api.requests}
    seen.discard(None)
    assert seen, "the tools reached the API server"
    return seen


def test_read_role_covers_every_request_of_the_read_tools(env):
    pod = env.call("list_pods", {"all_namespaces": True}).data[0]
    where = {"name": pod["name"], "namespace": pod["namespace"]}
    calls = [
        ("diagnose_cluster", {}),
        ("diagnose_cluster", {"namespace": pod["namespace"]}),
        ("list_pods", {"all_namespaces": True}),
        ("list_pods", {"namespace": pod["namespace"]}),
        ("get_pod", where),
        ("get_pod_logs", where),
        ("get_pod_logs", {**where, "previous": True}),
        ("list_events", {"all_namespaces": True}),
        ("list_events", {"namespace": pod["namespace"], "warnings_only": True}),
        ("list_nodes", {}),
        ("list_deployments", {"all_namespaces": True, "kind": "all"}),
        ("list_services", {"all_namespaces": True}),
        ("list_namespaces", {}),
        ("list_resources", {"kind": "pvc", "all_namespaces": True}),
        ("list_resources", {"kind": "certificates", "all_namespaces": True}),
        ("list_resources", {"kind": "cronjobs", "all_namespaces": True}),
        ("list_resources", {"kind": "configmaps", "namespace": "shop"}),
        ("get_resource", {"kind": "configmap", "name": "app-config", "namespace": "shop"}),
        ("get_resource", {"kind": "certificate", "name": "shop-tls", "namespace": "shop"}),
        ("get_resource", {"kind": "ingress", "name": "shop", "namespace": "shop"}),
        ("get_resource", {"kind": "crd", "name": "certificates.cert-manager.io", "output": "yaml"}),
        ("rollout_history", {"name": "checkout", "namespace": "shop"}),
        ("rollout_history", {"name": "postgres", "namespace": "data", "kind": "statefulset"}),
        ("top", {"all_namespaces": True}),
        ("top", {"kind": "nodes"}),
        ("list_contexts", {}),
    ]
    assert {name for name, _ in calls} == {
        t.name for t in all_tools() if not t.writes and t.name not in SECRET_READERS
    }, "every read tool but those that read Secrets is exercised"
    seen = requests_of(env, calls)
    read = rules("kchat-read.yaml")
    assert [a for a in sorted(seen) if not allowed(a, read)] == []
    assert all(verb in ("get", "list", "watch") for rule in read for verb in rule["verbs"])
    assert not any("secrets" in rule["resources"] for rule in read), "secrets stay opt-in"


def test_secrets_need_the_opt_in_role(env):
    calls = [
        ("list_secrets", {"all_namespaces": True}),
        ("list_helm_releases", {"all_namespaces": True}),
        ("list_resources", {"kind": "secrets", "namespace": "payments"}),
        ("get_resource", {"kind": "secret", "name": "payments-db", "namespace": "payments"}),
    ]
    assert SECRET_READERS <= {name for name, _ in calls}
    seen = requests_of(env, calls)
    secrets = {a for a in seen if a[2] == "secrets"}
    assert secrets, "the calls read Secrets"
    assert not any(allowed(a, rules("kchat-read.yaml")) for a in secrets)
    assert all(allowed(a, rules("kchat-read-secrets.yaml")) for a in secrets)
    assert all(allowed(a, rules("kchat-read.yaml")) for a in seen - secrets)


def test_write_role_covers_what_the_write_tools_change(env):
    pod = env.call("list_pods", {"all_namespaces": True}).data[0]
    deployment = env.call("list_deployments", {"all_namespaces": True}).data[0]
    target = {"name": deployment["name"], "namespace": deployment["namespace"]}
    calls = [
        ("delete_pod", {"name": pod["name"], "namespace": pod["namespace"]}),
        ("scale_deployment", {**target, "replicas": 2}),
        ("restart_deployment", target),
    ]
    assert {name for name, _ in calls} == {t.name for t in all_tools() if t.writes}
    seen = requests_of(env, calls)
    both = rules("kchat-read.yaml", "kchat-write.yaml")
    assert [a for a in sorted(seen) if not allowed(a, both)] == []
    changes = {a for a in seen if a[0] not in ("get", "list", "watch")}
    assert changes and not any(allowed(a, rules("kchat-read.yaml")) for a in changes)


# ---------------------------------------------------------------- deploy/z2jh/values.yaml


def values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())


def test_the_helm_values_set_only_real_kchat_settings():
    """A misspelt trait would be ignored by Jupyter with no more than a log line."""
    singleuser = values()["singleuser"]
    config = singleuser["extraFiles"]["kchat-config"]
    assert config["mountPath"].endswith("/jupyter_server_config.json")
    settings = config["data"]["KChat"]
    assert settings and set(settings) <= set(KChat.class_own_traits(config=True))
    assert settings["read_only"] is True, "changes stay off unless a deployment turns them on"
    for name, value in settings.items():
        KChat(**{name: value})


def test_the_helm_values_use_the_service_account_the_roles_are_bound_to():
    account = values()["singleuser"]["serviceAccountName"]
    for name in ("kchat-read.yaml", "kchat-read-secrets.yaml", "kchat-write.yaml"):
        docs = [d for d in yaml.safe_load_all((DEPLOY / "rbac" / name).read_text()) if d]
        bound = {
            subject["name"]
            for doc in docs
            if doc["kind"].endswith("Binding")
            for subject in doc["subjects"]
        }
        assert bound == {account}, name
    accounts = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all((DEPLOY / "rbac" / "kchat-read.yaml").read_text())
        if d and d["kind"] == "ServiceAccount"
    ]
    assert accounts == [account]


def test_the_helm_values_keep_the_model_key_in_a_secret():
    env = values()["singleuser"]["extraEnv"]
    assert set(env["OPENAI_API_KEY"]) == {"valueFrom"}, "the key is never written in the values"
    assert env["JUPYTERHUB_ALLOW_WEBSOCKET_COOKIE_AUTH"] == "false"
