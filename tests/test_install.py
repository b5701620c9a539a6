"""The README's install works: the wheel into a fresh virtualenv, then JupyterLab with kchat.

The wheel is built once (its panel prebuilt, as released) and installed with pip as ``make
setup`` installs: the user's pip configuration and cache, no ``--no-index`` (the dependencies come
from the configured registry). The fresh environment's own commands then run with nothing of this
checkout or of the developer's Jupyter configuration in reach: with nothing configured,
``jupyter-kchat-demo`` serves JupyterLab on the demo model and the sample cluster, and Debian's
Chromium opens the kchat panel there and asks it a question.
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
from playwright.sync_api import expect
from processes import Service, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent / "ui"))
from kchat_lab import LAB_SETTINGS, RECORDER_JS
from lab_browser import chromium, open_panel, screenshot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 900
TOKEN = "kchat-install-test"
PAGE_CONFIG = re.compile(
    r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.DOTALL
)
PANEL = "#jp-kchat-panel"
# A fresh environment's first lab page compiles every module it imports: wait long for it.
UI_TIMEOUT_MS = 120_000


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
    # pip keeps the user's HOME: its configuration (the registry or mirror ``make setup`` used)
    # and its cache of downloads and built wheels are found there.
    env = {**clean_env(home), "HOME": os.environ["HOME"]}
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile",
         str(wheel)],
        check=True, timeout=INSTALL_TIMEOUT, env=env, cwd=root,
    )
    yield venv


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


def quiet_lab_settings(home: Path) -> None:
    """The user's answer to JupyterLab's news and update pop-ups, so none covers the panel."""
    settings = home / ".jupyter" / "lab" / "user-settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def test_the_demo_command_serves_the_panel_which_answers_in_chromium(
    venv: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    quiet_lab_settings(home)
    env = clean_env(home, venv)
    bin_dir = venv / "bin"
    assert (bin_dir / "jupyter-lab").exists(), "`jupyter lab` is there after `pip install`"

    # Nothing configured (no OPENAI_*, no KUBECONFIG, no ~/.kube/config): the demo model and
    # the sample cluster start next to the lab, as with `make demo` in a checkout.
    port = free_port()
    lab = Service(
        [str(bin_dir / "jupyter-kchat-demo"), "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={tmp_path}", "--LabApp.extension_manager=readonly",
         "--LabApp.news_url=None"],
        banner=f"http://127.0.0.1:{port}/lab", log=tmp_path / "lab.log", env=env,
    )
    try:
        wait_until_listening(lab, port)
        log = lab.log_path.read_text()
        assert "kchat demo model: http://127.0.0.1:" in log
        assert "kchat sample cluster: http://127.0.0.1:" in log
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
        ask_the_panel(f"http://127.0.0.1:{port}/lab?token={TOKEN}", lab)
    finally:
        lab.stop()
    assert not lab.killed, f"jupyter-kchat-demo did not stop:\n{lab.log_path.read_text()}"


def ask_the_panel(url: str, lab: Service) -> None:
    """Open the panel from the side bar, ask, and see a tool card and the answer stream in."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.set_default_timeout(UI_TIMEOUT_MS)
        context.add_init_script(RECORDER_JS)
        page = context.new_page()
        try:
            page.goto(url)
            open_panel(page)
            box = page.locator(f"{PANEL} textarea[aria-label='Message']")
            box.fill("list all pods")
            box.press("Enter")
            expect(page.locator(f"{PANEL} .jp-kchat-user")).to_contain_text(
                "list all pods", timeout=UI_TIMEOUT_MS
            )
            card = page.locator(f"{PANEL} .jp-kchat-tool-call").filter(
                has=page.locator(".jp-kchat-tool-name", has_text="list_pods")
            ).first
            expect(card).to_have_attribute("data-status", "completed", timeout=UI_TIMEOUT_MS)
            expect(card.locator("tbody tr").first).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.locator(f"{PANEL} .jp-kchat-view:not(.jp-mod-busy)").wait_for()
            streamed = page.evaluate("() => window.__kchat")
            rendered = page.eval_on_selector_all(
                f"{PANEL} .jp-kchat-assistant",
                "nodes => nodes.map(n => Number(n.getAttribute('data-rendered-length')))",
            )
            assert streamed["textArrivals"] > 1, "the answer arrives in pieces, as it is written"
            assert streamed["completeLength"] and sum(rendered) > 0, "the answer is shown"
            card.scroll_into_view_if_needed()
            screenshot(page, "install_fresh_venv_panel.png")
        except Exception:
            screenshot(page, "failed-install_fresh_venv_panel.png")
            print(lab.log_path.read_text()[-4000:])
            raise
        finally:
            context.close()
