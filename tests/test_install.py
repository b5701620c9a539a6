"""The README's install works: the wheel into a fresh virtualenv, then ``jupyter lab`` with kchat.

The wheel is built once (its panel prebuilt, as released), installed with pip from the
configured registry like ``make setup`` installs (no ``--no-index``: the dependencies come from
there), and the fresh environment's own ``jupyter`` commands are run with nothing of this
checkout or of the developer's Jupyter configuration in reach.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Service, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 900
TOKEN = "kchat-install-test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PAGE_CONFIG = re.compile(
    r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.DOTALL
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out),
         str(REPO)],
        check=True, timeout=INSTALL_TIMEOUT,
    )
    return next(out.glob("jupyter_kchat-*.whl"))


def clean_env(home: Path, venv: Path | None = None) -> dict[str, str]:
    """No checkout on the path, no Jupyter config or data of the developer, no real services."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(
            ("JUPYTER", "JPY_", "OPENAI_", "KCHAT_", "KUBERNETES_", "VIRTUAL_ENV")
        )
        and key not in ("PYTHONPATH", "KUBECONFIG", "PYTHONHOME")
    }
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv with nothing but the wheel and what it depends on."""
    root = tmp_path_factory.mktemp("fresh")
    home = root / "home"
    home.mkdir()
    venv = root / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile",
         str(wheel)],
        check=True, timeout=INSTALL_TIMEOUT, env=clean_env(home), cwd=root,
    )
    yield venv


def jupyter(env: dict[str, str], *args: str) -> str:
    """What the fresh environment's ``jupyter`` prints (both streams, without colours)."""
    done = subprocess.run(["jupyter", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return ANSI.sub("", done.stdout + done.stderr)


def wait_until_listening(service: Service, port: int, timeout: float = 60.0) -> None:
    """jupyter_server prints its URL, then binds the port on the loop's first turn: wait for
    the bind (or for the process to end, which is a failure)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
        try:
            code = service.process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"jupyter lab exited ({code}):\n{service.log_path.read_text()}")


def test_wheel_ships_the_prebuilt_panel_widget_and_server_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    lab = f"{data}/data/share/jupyter/labextensions/jupyter-kchat"
    assert f"{lab}/package.json" in names and f"{lab}/install.json" in names
    assert any(n.startswith(f"{lab}/static/remoteEntry.") for n in names)
    assert f"{data}/data/etc/jupyter/jupyter_server_config.d/jupyter_kchat.json" in names
    assert "jupyter_kchat/static/widget.js" in names
    assert not [n for n in names if n.startswith(("tests/", "labextension/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = zipfile.ZipFile(wheel).read(metadata).decode()
    assert re.search(r"^Requires-Dist: jupyterlab\b[^;]*$", requires, re.MULTILINE), (
        "`pip install` alone must bring `jupyter lab`, as the README says"
    )


def test_jupyter_lab_starts_with_the_panel_and_the_server_extension(
    venv: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, venv)
    bin_dir = venv / "bin"
    assert (bin_dir / "jupyter-lab").exists(), "`jupyter lab` is there after `pip install`"

    assert re.search(r"jupyter-kchat v\S+ enabled\s+OK", jupyter(env, "labextension", "list"))
    assert re.search(r"jupyter_kchat enabled", jupyter(env, "server", "extension", "list"))

    port = free_port()
    lab = Service(
        [str(bin_dir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        banner=f"http://127.0.0.1:{port}/lab", log=tmp_path / "lab.log", env=env,
    )
    try:
        wait_until_listening(lab, port)
        headers = {"Authorization": f"token {TOKEN}"}
        with urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{port}/lab", headers=headers), timeout=60
        ) as response:
            page = response.read().decode()
        config = json.loads(PAGE_CONFIG.search(page).group(1))  # type: ignore[union-attr]
        extensions = [e["name"] for e in config.get("federated_extensions", [])]
        assert "jupyter-kchat" in extensions, "the lab page loads the kchat panel"
        with urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{port}/api/kchat/conversations", headers=headers
            ), timeout=60,
        ) as response:
            assert response.status == 200
            assert "conversations" in json.loads(response.read())
    finally:
        lab.stop()
    assert not lab.killed, f"jupyter lab did not stop on SIGTERM:\n{lab.log_path.read_text()}"
