"""kchat under a real JupyterHub: hub + configurable-http-proxy + one single-user server per user.

Alice and Bob log in through the hub; every request goes through the proxy at ``/user/<name>/``.
The hub's own OAuth cookies and API tokens authenticate, the hub's scopes (``access:servers``
for that user's server) authorize, and each user's history lives in their own Jupyter data dir.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hub_support import CHP_INSTALL, Browser, Hub, Response, fetch, find_chp
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.model_server import ModelServer

CHP = find_chp()


def hub_test(func: Any) -> Any:
    """Slow (a hub, a proxy, user servers), and skipped with the fix when the proxy is missing."""
    needs_proxy = pytest.mark.skipif(
        CHP is None,
        reason=f"configurable-http-proxy is not installed; run `{CHP_INSTALL}` in the repo",
    )
    return pytest.mark.slow(needs_proxy(func))

EVENT_TIMEOUT = 60.0


@dataclass
class Offline:
    model: ModelServer
    model_url: str
    kubeconfig: str


@dataclass
class Person:
    """A hub user: a logged-in browser (hub and own-server cookies), the token JupyterLab's page
    carries, and an API token for scripts."""

    name: str
    browser: Browser
    page_token: str
    token: str


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    model = ModelServer()
    api = KubeAPIServer(SampleCluster(pods=60))
    kubeconfig = tmp_path_factory.mktemp("cluster") / "kubeconfig.yaml"
    with model.run_in_thread(port=0) as model_url, api.run_in_thread(port=0):
        yield Offline(model, model_url, str(api.write_kubeconfig(kubeconfig)))


@pytest.fixture(scope="module")
def hub(offline: Offline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub with both users' servers started (in parallel) and ready.

    Configured the way deploy/z2jh/values.yaml configures user pods: the model endpoint in the
    environment (a Secret there), ``c.KChat`` in a jupyter_server_config.json, and websockets
    refused on cookie auth alone.
    """
    assert CHP is not None
    hub = Hub(
        tmp_path_factory.mktemp("hub"),
        users=["alice", "bob"],
        chp=CHP,
        server_env={
            "OPENAI_BASE_URL": offline.model_url,
            "OPENAI_API_KEY": "x",
            "JUPYTERHUB_ALLOW_WEBSOCKET_COOKIE_AUTH": "false",
        },
        server_config={"KChat": {"model": "kchat-demo", "kubeconfig": offline.kubeconfig}},
    )
    hub.start()
    try:
        for name in hub.users:
            hub.request_spawn(name)
        for name in hub.users:
            hub.wait_ready(name)
        yield hub
    finally:
        hub.stop()


def person(hub: Hub, name: str) -> Person:
    """Log in through the hub's form, open the own server (OAuth), mint an API token."""
    browser = hub.login(name)
    landing = hub.open_server(browser, name)
    assert landing.status == 200 and landing.url.startswith(hub.user_url(name))
    assert f"jupyterhub-user-{name}" in hub.cookie_names(browser), "OAuth set the server cookie"
    return Person(name, browser, hub.page_token(browser, name), hub.token_for(name))


@pytest.fixture(scope="module")
def alice(hub: Hub) -> Person:
    return person(hub, "alice")


@pytest.fixture(scope="module")
def bob(hub: Hub) -> Person:
    return person(hub, "bob")


def ws_url(hub: Hub, owner: str, token: str | None = None) -> str:
    url = hub.user_url(owner, "ws/chat", scheme="ws")
    return f"{url}?token={token}" if token else url


def cookies_for(hub: Hub, browser: Browser, owner: str) -> dict[str, str]:
    """The headers a browser adds when a page opens ``owner``'s socket: its cookies for that
    path, and the fetch mode JupyterHub uses to tell websockets apart."""
    return {
        "Cookie": browser.cookie_header(hub.user_url(owner, "ws/chat")),
        "Sec-Fetch-Mode": "websocket",
    }


def chat(url: str, headers: dict[str, str], origin: str, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send one chat frame and collect its events up to ``complete``."""
    events: list[dict[str, Any]] = []
    with connect(url, additional_headers=headers, origin=origin, open_timeout=EVENT_TIMEOUT) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps(frame))
        while True:
            events.append(json.loads(ws.recv(timeout=EVENT_TIMEOUT)))
            if events[-1]["type"] == "complete":
                return events


def refused_status(url: str, headers: dict[str, str], origin: str) -> int:
    """The HTTP status of a refused WebSocket upgrade; fails the test if the socket opens."""
    with pytest.raises(InvalidStatus) as refused:
        with connect(url, additional_headers=headers, origin=origin, open_timeout=EVENT_TIMEOUT):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


def http(hub: Hub, owner: str, path: str, token: str, method: str = "GET", body: Any = None) -> Response:
    """A script's request to ``owner``'s server through the proxy, with an API token."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    return fetch(
        hub.user_url(owner, path), method=method, body=data, headers=headers, follow_redirects=False
    )


@pytest.fixture(scope="module")
def alice_conversation(hub: Hub, alice: Person) -> dict[str, Any]:
    """Alice chats as her JupyterLab page does: her cookies plus the page's token in the URL."""
    events = chat(
        ws_url(hub, "alice", alice.page_token),
        cookies_for(hub, alice.browser, "alice"),
        hub.url,
        {"message": "list all pods"},
    )
    return events[-1]["data"]


@hub_test
def test_alice_chats_through_the_proxy_from_her_lab_page(alice_conversation, offline):
    assert alice_conversation["conversation_id"]
    [call] = alice_conversation["tool_calls"]
    assert (call["tool_name"], call["status"]) == ("list_pods", "completed")
    assert alice_conversation["message"], "the model answered"
    assert offline.model.requests, "the chat reached the demo model"


@hub_test
def test_cookie_only_sockets_are_refused(hub, alice, offline):
    """What another user's page could make alice's browser send: her cookie, no token."""
    seen = len(offline.model.requests)
    assert refused_status(ws_url(hub, "alice"), cookies_for(hub, alice.browser, "alice"), hub.url) == 403
    assert len(offline.model.requests) == seen


@hub_test
def test_alice_token_works_for_her_own_http_api(hub, alice, alice_conversation):
    conversation_id = alice_conversation["conversation_id"]
    listing = http(hub, "alice", "api/kchat/conversations", alice.token)
    assert listing.status == 200
    assert conversation_id in [c["id"] for c in listing.json()["conversations"]]

    stored = http(hub, "alice", f"api/kchat/conversations/{conversation_id}", alice.token)
    assert stored.status == 200
    assert [m["role"] for m in stored.json()["messages"]][:3] == ["user", "assistant", "tool"]

    answer = http(hub, "alice", "api/kchat/chat", alice.token, "POST", {
        "message": "say hello from the hub", "conversation_id": conversation_id,
    })
    assert answer.status == 200
    assert answer.json()["message"] == "hello from the hub"


@hub_test
def test_alice_token_opens_her_socket(hub, alice):
    headers = {"Authorization": f"token {alice.token}"}
    events = chat(ws_url(hub, "alice"), headers, hub.url, {"message": "say token auth works"})
    assert events[-1]["data"]["message"] == "token auth works"


@hub_test
def test_bob_cannot_open_alices_socket(hub, alice, bob, offline, alice_conversation):
    seen = len(offline.model.requests)
    bobs_cookies = cookies_for(hub, bob.browser, "alice")
    stolen = bob.browser.cookie("jupyterhub-user-bob")
    attempts = {
        "bob's API token": (ws_url(hub, "alice"), {"Authorization": f"token {bob.token}"}),
        "bob's API token in the URL": (ws_url(hub, "alice", bob.token), {}),
        "bob's lab page, pointed at alice": (ws_url(hub, "alice", bob.page_token), bobs_cookies),
        "bob's server cookie renamed": (ws_url(hub, "alice"), {
            **bobs_cookies, "Cookie": f"jupyterhub-user-alice={stolen}; {bobs_cookies['Cookie']}",
        }),
        "no credentials": (ws_url(hub, "alice"), {}),
    }
    for what, (url, headers) in attempts.items():
        assert refused_status(url, headers, hub.url) == 403, what
    assert len(offline.model.requests) == seen, "no refused attempt reached the model"


@hub_test
def test_bob_cannot_read_alices_history(hub, alice, bob, alice_conversation):
    conversation_id = alice_conversation["conversation_id"]
    for path in ("api/kchat/conversations", f"api/kchat/conversations/{conversation_id}"):
        with_token = http(hub, "alice", path, bob.token)
        assert with_token.status == 403, path
        assert conversation_id.encode() not in with_token.body

        as_browser = fetch(hub.user_url("alice", path), browser=bob.browser)
        assert as_browser.status == 403, (path, as_browser.url)
        assert conversation_id.encode() not in as_browser.body

    deleted = http(hub, "alice", f"api/kchat/conversations/{conversation_id}", bob.token, "DELETE")
    assert deleted.status == 403
    assert http(hub, "alice", f"api/kchat/conversations/{conversation_id}", alice.token).status == 200


@hub_test
def test_bob_cannot_log_into_alices_server(hub, bob):
    """The hub itself refuses bob the OAuth grant for alice's server (its scopes decide)."""
    page = hub.open_server(bob.browser, "alice")
    assert page.status == 403
    assert "/hub/api/oauth2/authorize" in page.url
    assert "jupyterhub-user-alice" not in hub.cookie_names(bob.browser)


@hub_test
def test_scopes_decide_even_for_alices_own_token(hub, alice):
    """A token of alice's without ``access:servers`` is refused by her own server."""
    answer = hub.api("POST", "users/alice/tokens", body={"scopes": ["read:users!user=alice"]})
    assert answer.status == 201, answer.body
    narrow = answer.json()["token"]
    assert http(hub, "alice", "api/kchat/conversations", narrow).status == 403
    assert refused_status(ws_url(hub, "alice", narrow), {}, hub.url) == 403


@hub_test
def test_each_user_has_their_own_store(hub, alice, bob, alice_conversation):
    headers = {"Authorization": f"token {bob.token}"}
    events = chat(ws_url(hub, "bob"), headers, hub.url, {"message": "list all pods"})
    bobs = events[-1]["data"]["conversation_id"]
    alices = alice_conversation["conversation_id"]

    def listed(owner: Person) -> set[str]:
        answer = http(hub, owner.name, "api/kchat/conversations", owner.token)
        return {c["id"] for c in answer.json()["conversations"]}

    assert listed(bob) == {bobs}
    assert alices in listed(alice) and bobs not in listed(alice)
    assert http(hub, "bob", f"api/kchat/conversations/{alices}", bob.token).status == 404

    for name in ("alice", "bob"):
        store = hub.data_dir(name) / "kchat" / "history.sqlite3"
        assert store.is_file(), f"{name}'s history is under their own JUPYTER_DATA_DIR"


@hub_test
def test_the_hub_stops_user_servers_promptly(hub, alice, bob, alice_conversation):
    """LocalProcessSpawner stops a server with SIGINT first; kchat must not keep it alive.

    Runs last: it stops both servers. A stop that outlasts the hub's ``slow_stop_timeout``
    (10 s) answers 202 instead of 204.
    """
    for name in ("alice", "bob"):
        stopped = hub.api("DELETE", f"users/{name}/server")
        assert stopped.status == 204, f"{name}'s server took more than 10 s to stop"
