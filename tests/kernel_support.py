"""Fixtures for kernel-side tests (magics, widget): an isolated environment, offline services.

A plugin of tests/conftest.py; a module opts in to the isolation with
``pytestmark = pytest.mark.usefixtures("isolated")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_kchat.sample.offline import OfflineServices, start_offline_services


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real Jupyter config, kubeconfig, model key or service account can leak in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_NO_CONFIG", "1")
    for name in ("KUBECONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL", "KCHAT_MODEL",
                 "JUPYTER_KCHAT_CONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def services() -> Iterator[OfflineServices]:
    """The demo model and a 60-pod sample cluster, served from background threads."""
    running = start_offline_services(pods=60)
    yield running
    running.close()
