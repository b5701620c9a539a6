"""A real JupyterHub on loopback for kchat's hub test and benchmark.

One hub process runs configurable-http-proxy and spawns each user's ``jupyterhub-singleuser`` with
``SimpleLocalProcessSpawner``; every user gets their own HOME, JUPYTER_DATA_DIR and
JUPYTER_CONFIG_DIR under ``root/home/<name>``, as separate pods or home directories would give
them. Clients talk to the proxy only, the way browsers and scripts do in a real deployment.

Everything waits on events (the hub's "now running" log line, the spawn-progress event stream),
never on fixed sleeps.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processes import free_port

CHP_VERSION = "5.2.0"
"""configurable-http-proxy 5.3 pulls in commander 15, which wants Node 22; 5.2 runs on Node 20."""

CHP_INSTALL = f"npm install --prefix .venv/chp --no-audit --no-fund configurable-http-proxy@{CHP_VERSION}"

SERVICE_NAME = "kchat-admin"
SERVICE_SCOPES = [
    "admin:users",
    "admin:servers",
    "admin:server_state",
    "tokens",
    "access:servers",
]
"""What the test/benchmark's own hub service may do: make users, start servers, mint tokens."""


def find_chp() -> str | None:
    """configurable-http-proxy: $KCHAT_CHP, the venv's local npm install, or one on PATH."""
    candidates = [
        os.environ.get("KCHAT_CHP"),
        str(Path(sys.prefix) / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"),
        shutil.which("configurable-http-proxy"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Response:
    """An HTTP answer, whatever its status (urllib raises on 4xx/5xx; tests want to look)."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        return json.loads(self.body)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hand 3xx back to the caller, so a test sees a redirect to the login page as such."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Browser:
    """A cookie jar and the requests a browser makes with it: follows redirects, keeps cookies."""

    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def cookie_header(self, url: str) -> str:
        """The Cookie header this browser would send to ``url`` (cookies are path-scoped)."""
        request = urllib.request.Request(url)
        self.jar.add_cookie_header(request)
        return request.get_header("Cookie") or ""

    def cookie(self, name: str) -> str:
        for cookie in self.jar:
            if cookie.name == name and cookie.value is not None:
                return cookie.value
        raise KeyError(name)


def fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    browser: Browser | None = None,
    follow_redirects: bool = True,
    timeout: float = 60.0,
) -> Response:
    """One request; cookies come from and go to ``browser`` when given."""
    handlers: list[urllib.request.BaseHandler] = []
    if browser is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(browser.jar))
    if not follow_redirects:
        handlers.append(_KeepRedirects())
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers), answer.read(), answer.url)
    except urllib.error.HTTPError as refused:
        with refused:
            return Response(refused.code, dict(refused.headers), refused.read(), refused.url)


def _root_args() -> list[str]:
    """Containers often run everything as root, which jupyter_server refuses without this."""
    return ["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []


def _config_text(hub: Hub) -> str:
    """jupyterhub_config.py for this hub; values are repr()ed so paths with quotes stay safe."""
    return f"""\
import sys

c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {hub.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub.hub_port}
c.JupyterHub.db_url = {f"sqlite:///{hub.root / 'jupyterhub.sqlite'}"!r}
c.JupyterHub.cookie_secret_file = {str(hub.root / 'cookie_secret')!r}
c.JupyterHub.pid_file = {str(hub.root / 'jupyterhub.pid')!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.active_server_limit = 0
c.ConfigurableHTTPProxy.command = [{hub.chp!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{hub.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {str(hub.root / 'proxy.pid')!r}
c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(16)!r}

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {hub.password!r}
c.Authenticator.allowed_users = set({sorted(hub.users)!r})

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(hub.root / 'home' / '{username}')!r}
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.args = {hub.server_args + _root_args()!r}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {{
    "JUPYTER_DATA_DIR": lambda spawner: spawner.home_dir + "/.local/share/jupyter",
    "JUPYTER_CONFIG_DIR": lambda spawner: spawner.home_dir + "/.jupyter",
    "JUPYTER_RUNTIME_DIR": lambda spawner: spawner.home_dir + "/.local/share/jupyter/runtime",
    "PYTHONUNBUFFERED": "1",
    **{hub.server_env!r},
}}

c.JupyterHub.services = [{{"name": {SERVICE_NAME!r}, "api_token": {hub.service_token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": {SERVICE_NAME!r}, "scopes": {SERVICE_SCOPES!r}, "services": [{SERVICE_NAME!r}]}},
]
"""


class Hub:
    """A JupyterHub process with its proxy; user servers are started on demand through its API."""

    def __init__(
        self,
        root: Path,
        *,
        users: list[str],
        chp: str,
        server_args: list[str] | None = None,
        server_env: dict[str, str] | None = None,
        server_config: dict[str, Any] | None = None,
        extensions: dict[str, bool] | None = None,
        user_extensions: dict[str, dict[str, bool]] | None = None,
    ) -> None:
        self.root = root
        self.users = users
        self.chp = chp
        self.server_args = server_args or []
        self.server_env = server_env or {}
        self.server_config = server_config or {}
        self.extensions = {"jupyter_kchat": True} if extensions is None else extensions
        self.user_extensions = user_extensions or {}
        self.password = secrets.token_urlsafe(12)
        self.service_token = secrets.token_hex(32)
        self.port = free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: deque[str] = deque(maxlen=400)
        self.process: subprocess.Popen[str] | None = None

    def home(self, name: str) -> Path:
        return self.root / "home" / name

    def data_dir(self, name: str) -> Path:
        return self.home(name) / ".local" / "share" / "jupyter"

    def _prepare_homes(self) -> None:
        """Each user's jupyter_server_config.json: ``server_config``, and the extension enabled
        explicitly whatever pip did or didn't (a deployment writes the same file into the image
        or mounts it), or as ``user_extensions`` says for that user."""
        for name in self.users:
            config_dir = self.home(name) / ".jupyter"
            config_dir.mkdir(parents=True, exist_ok=True)
            extensions = self.user_extensions.get(name, self.extensions)
            config = {**self.server_config, "ServerApp": {"jpserver_extensions": extensions}}
            (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))

    def start(self, timeout: float = 90.0) -> None:
        """Start the hub and return once it logs that it (and its proxy) are serving."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_homes()
        config = self.root / "jupyterhub_config.py"
        config.write_text(_config_text(self))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=self.root,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()
        self._drainer = threading.Thread(target=self._drain, args=(ready,), daemon=True)
        self._drainer.start()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("JupyterHub did not start:\n" + self.tail())

    def _drain(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line.rstrip())
            if "JupyterHub is now running at" in line:
                ready.set()
        ready.set()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(list(self.log)[-lines:])

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM: the hub stops every user server and the proxy it started, then exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # User servers the hub left behind share its session and its stderr pipe: end them
        # all, so the pipe reaches EOF and can be closed.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._drainer.join(10)
        if self.process.stderr is not None and not self._drainer.is_alive():
            self.process.stderr.close()

    def api(
        self, method: str, path: str, *, token: str | None = None, body: Any = None
    ) -> Response:
        """The hub's REST API (``/hub/api/...``), as the admin service unless a token is given."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"token {token or self.service_token}"}
        return fetch(f"{self.url}/hub/api/{path}", method=method, body=data, headers=headers)

    def user_url(self, name: str, path: str = "", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/user/{name}/{path}"

    def login(self, name: str) -> Browser:
        """Log in through the hub's login form as a browser would (xsrf cookie and field)."""
        browser = Browser()
        fetch(f"{self.url}/hub/login", browser=browser)
        form = urllib.parse.urlencode(
            {"username": name, "password": self.password, "_xsrf": browser.cookie("_xsrf")}
        ).encode()
        answer = fetch(f"{self.url}/hub/login", method="POST", body=form, browser=browser)
        if answer.status != 200 or "jupyterhub-session-id" not in self.cookie_names(browser):
            raise RuntimeError(f"login as {name} failed: {answer.status} {answer.url}")
        return browser

    @staticmethod
    def cookie_names(browser: Browser) -> set[str]:
        return {cookie.name for cookie in browser.jar}

    def open_server(self, browser: Browser, name: str) -> Response:
        """Visit ``/user/<name>/`` and follow the hub's OAuth dance; sets the server's cookie."""
        return fetch(self.user_url(name), browser=browser)

    def page_token(self, browser: Browser, name: str) -> str:
        """The token JupyterHub puts in the JupyterLab page for its frontend's own requests."""
        page = fetch(self.user_url(name, "lab"), browser=browser)
        match = re.search(rb'<script id="jupyter-config-data"[^>]*>(.*?)</script>', page.body, re.S)
        if page.status != 200 or match is None:
            raise RuntimeError(f"no JupyterLab page for {name}: {page.status} {page.url}")
        return json.loads(match.group(1))["token"]

    def token_for(self, name: str) -> str:
        """An API token for ``name`` with that user's own permissions ("inherit")."""
        answer = self.api("POST", f"users/{name}/tokens", body={"note": "kchat test"})
        if answer.status != 201:
            raise RuntimeError(f"token for {name}: {answer.status} {answer.body[:200]!r}")
        return answer.json()["token"]

    def request_spawn(self, name: str) -> None:
        """Ask the hub to start ``name``'s server; the user record is created first if missing."""
        if self.api("GET", f"users/{name}").status == 404:
            self.api("POST", f"users/{name}")
        answer = self.api("POST", f"users/{name}/server")
        if answer.status not in (201, 202, 400):
            raise RuntimeError(f"spawn {name}: {answer.status} {answer.body[:200]!r}")

    def wait_ready(self, name: str, timeout: float = 120.0) -> None:
        """Read the hub's spawn-progress event stream until it says ready (or failed)."""
        url = f"{self.url}/hub/api/users/{name}/server/progress"
        request = urllib.request.Request(
            url, headers={"Authorization": f"token {self.service_token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as stream:
            for raw in stream:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("ready"):
                    return
                if event.get("failed"):
                    raise RuntimeError(f"{name}'s server failed: {event}\n{self.tail()}")
        raise RuntimeError(f"{name}'s progress stream ended early\n{self.tail()}")

    def spawn(self, name: str) -> None:
        self.request_spawn(name)
        self.wait_ready(name)

    def server_pid(self, name: str) -> int:
        """The single-user server's process id, from the spawner state the hub keeps."""
        model = self.api("GET", f"users/{name}").json()
        return int(model["servers"][""]["state"]["pid"])
