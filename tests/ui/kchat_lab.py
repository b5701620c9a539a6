"""A real JupyterLab with kchat for browser tests and benchmarks, and Debian's Chromium to drive it.

``KChatLab`` starts the scripted demo model and the sample cluster (``python -m
jupyter_kchat.sample_model`` / ``sample_cluster``) on loopback, then ``jupyter lab`` under a
JupyterHub-like ``base_url`` pointed at them, with its own config, data, settings and history
directories. Used by ``tests/ui/conftest.py`` and ``benchmarks/bench_panel_render.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from processes import Service, free_port

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
LABEXTENSION = REPO / "jupyter_kchat" / "labextension"
EXPOSE_APP = "--LabApp.expose_app_in_browser=True"
"""Lets a test run lab commands (``window.jupyterapp``)."""

CHROMIUM = os.environ.get("KCHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BASE_URL = "/user/alice/"
STARTUP_TIMEOUT = 120.0

# Runs in every page before JupyterLab: records kchat's sockets so a test can drop them, can
# send reconnects to a closed port ("the network is down"), and timestamps socket events.
RECORDER_JS = """
(() => {
  const Native = window.WebSocket;
  const state = {
    sockets: [],
    block: false,
    textArrivals: 0,
    firstText: null,
    lastText: null,
    completeLength: null,
    opened: 0
  };
  window.__kchat = state;
  class RecordedWebSocket extends Native {
    constructor(url, protocols) {
      const chat = String(url).includes('/ws/chat');
      super(chat && state.block ? 'ws://127.0.0.1:9/ws/chat' : url, protocols);
      if (!chat) {
        return;
      }
      state.sockets.push(this);
      this.addEventListener('open', () => { state.opened += 1; });
      this.addEventListener('message', event => {
        if (typeof event.data !== 'string') {
          return;
        }
        const parsed = JSON.parse(event.data);
        if (parsed.type === 'text') {
          state.textArrivals += 1;
          if (state.firstText === null) {
            state.firstText = event.timeStamp;
          }
          state.lastText = event.timeStamp;
        } else if (parsed.type === 'complete') {
          state.completeLength = parsed.data.message.length;
        }
      });
    }
  }
  window.WebSocket = RecordedWebSocket;
})();
"""

# Keeps JupyterLab's own pop-ups out of screenshots and timings.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class KChatLab:
    """JupyterLab + kchat + the offline doubles, each in its own process."""

    def __init__(
        self,
        tmp: Path,
        *,
        pods: int = 60,
        read_only: bool = True,
        extra_args: list[str] = (),
        cluster_command: list[str] | None = None,
    ) -> None:
        """``cluster_command`` replaces ``python -m jupyter_kchat.sample_cluster`` (same options
        and banner), e.g. a script serving a ``SampleCluster`` with objects of a test's own."""
        self.tmp = tmp
        self.pods = pods
        self.cluster_command = cluster_command
        self.read_only = read_only
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = BASE_URL
        self.model_url = ""
        self.services: list[Service] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.tmp / "config"),
            "JUPYTER_DATA_DIR": str(self.tmp / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.tmp / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.tmp / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.tmp / "workspaces"),
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "KUBECONFIG", "KCHAT_MODEL"):
            env.pop(name, None)
        # A source checkout that was not pip-installed still works.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
        )
        return env

    def _write_config(self, kubeconfig: Path) -> None:
        """Enable the extensions explicitly (an editable install or a bare checkout both work)
        and put the ``KChat`` settings in the config file, where kernels find them too."""
        config = self.tmp / "config"
        config.mkdir(parents=True, exist_ok=True)
        server: dict[str, Any] = {
            "ServerApp": {"jpserver_extensions": {"jupyter_kchat": True}},
            "KChat": {
                "base_url": self.model_url,
                "api_key": "demo",
                "model": "kchat-demo",
                "kubeconfig": str(kubeconfig),
                "db_path": str(self.tmp / "history.sqlite3"),
                "read_only": self.read_only,
            },
        }
        # The checkout's build, ahead of any installed copy (an editable install copies the
        # build it was installed with): the tests see the front end as last built.
        extra = self.tmp / "labextensions"
        extra.mkdir(parents=True, exist_ok=True)
        link = extra / "jupyter-kchat"
        if not link.exists():
            link.symlink_to(LABEXTENSION, target_is_directory=True)
        server["LabApp"] = {"extra_labextensions_path": [str(extra)]}
        (config / "jupyter_server_config.json").write_text(json.dumps(server))
        for name, value in LAB_SETTINGS.items():
            path = self.tmp / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        (self.tmp / "root").mkdir(exist_ok=True)

    def start(self) -> KChatLab:
        if not (LABEXTENSION / "package.json").exists():
            raise RuntimeError(
                f"{LABEXTENSION} is missing: build the panel first "
                "(pip install -e . or: cd labextension && jlpm install && jlpm build:prod)"
            )
        env = self._env()
        python = sys.executable
        model = Service(
            [python, "-u", "-m", "jupyter_kchat.sample_model", "--port", "0"],
            "kchat demo model: ",
            self.tmp / "model.log",
            env,
        )
        self.services.append(model)
        self.model_url = model.line.split("kchat demo model: ", 1)[1].split()[0]
        kubeconfig = self.tmp / "kubeconfig.yaml"
        cluster = Service(
            [
                *(self.cluster_command or [python, "-u", "-m", "jupyter_kchat.sample_cluster"]),
                "--pods", str(self.pods), "--port", "0", "--kubeconfig", str(kubeconfig),
            ],
            "kchat sample cluster: ",
            self.tmp / "cluster.log",
            env,
        )
        self.services.append(cluster)
        self._write_config(kubeconfig)
        lab = Service(
            [
                python, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                "--ip=127.0.0.1", f"--port={self.port}",
                f"--ServerApp.base_url={self.base_url}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.tmp / 'root'}",
                *self.extra_args,
            ],
            f"127.0.0.1:{self.port}{self.base_url}lab",
            self.tmp / "lab.log",
            env,
        )
        self.services.append(lab)
        return self

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    @contextmanager
    def running(self) -> Iterator[KChatLab]:
        """Started for a ``with`` block (a module's or the session's fixture), then stopped, also
        what did start when the start fails half-way."""
        try:
            yield self.start()
        finally:
            self.stop()

    def push_model_faults(self, *faults: dict[str, Any]) -> None:
        """Queue faults for the next model requests (``{"kind": "slow", "delay": 0.002}``)."""
        root = self.model_url.rstrip("/").removesuffix("/v1")
        request = urllib.request.Request(
            f"{root}/_control/faults",
            data=json.dumps(list(faults)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def shutdown_kernels(self) -> None:
        """End every kernel the lab runs, so one test's notebooks do not slow the next."""
        headers = {"Authorization": f"token {self.token}"}
        request = urllib.request.Request(f"{self.url}api/kernels", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            delete = urllib.request.Request(
                f"{self.url}api/kernels/{kernel['id']}", headers=headers, method="DELETE"
            )
            try:
                with urllib.request.urlopen(delete, timeout=30) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                if error.code != 404:  # already gone
                    raise

    def log_tail(self, chars: int = 4000) -> str:
        path = self.tmp / "lab.log"
        return path.read_text()[-chars:] if path.exists() else ""
