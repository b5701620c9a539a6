"""Every notebook in ``notebooks/`` runs top to bottom offline, and shows what it promises.

Each runs in a fresh kernel with an isolated environment (no real Jupyter config, kubeconfig or
model key), so ``use_offline_demo()`` starts the demo model and the sample cluster in it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TIMEOUT = 120


def kernel_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment minus everything that could point at real services."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "KCHAT_", "KUBERNETES_", "JUPYTER_", "JPY_"))
        and key not in ("KUBECONFIG", "IPYTHONDIR", "MPLBACKEND")
    }
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(tmp_path / "ipython"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        JUPYTER_NO_CONFIG="1",
    )
    return env


def execute(name: str, tmp_path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=kernel_env(tmp_path))
    return notebook


def cell(notebook: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.get("id") == cell_id)


def texts(notebook: nbformat.NotebookNode, cell_id: str, mime: str = "text/html") -> str:
    """Everything a cell shows in one MIME type (streams count as text/plain)."""
    parts: list[str] = []
    for output in cell(notebook, cell_id).outputs:
        if output.output_type == "stream" and mime == "text/plain":
            parts.append(output.text)
        elif "data" in output and mime in output.data:
            parts.append(str(output.data[mime]))
    return "\n".join(parts)


def assert_clean_run(notebook: nbformat.NotebookNode) -> None:
    for code in (c for c in notebook.cells if c.cell_type == "code"):
        errors = [o for o in code.outputs if o.output_type == "error"]
        assert not errors, f"cell {code.id} failed: {errors[0].get('evalue')}"
        stderr = [o.text for o in code.outputs
                  if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"cell {code.id} wrote to stderr: {''.join(stderr)[:500]}"


def test_every_notebook_is_checked() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


def check_quickstart(notebook: nbformat.NotebookNode) -> None:
    assert "the demo model at http://127.0.0.1:" in texts(notebook, "setup", "text/markdown")
    assert "sample cluster (" in texts(notebook, "setup", "text/markdown")
    answer = texts(notebook, "list-all-pods")
    assert "list_pods" in answer and "rows" in answer
    assert 'class="kchat-tool"' in answer and "need attention)" in answer, "a tool block"
    assert "list_pods" in texts(notebook, "tool-calls", "text/plain")
    table = texts(notebook, "dataframe", "text/html")
    for column in ("namespace", "name", "phase", "ready", "restarts", "node", "reason"):
        assert f">{column}<" in table
    printed = texts(notebook, "dataframe", "text/plain")
    assert " pods in " in printed and " namespaces" in printed
    assert "payments" in texts(notebook, "per-phase", "text/html")
    plot = cell(notebook, "plot").outputs
    assert any("image/png" in o.get("data", {}) or "text/html" in o.get("data", {})
               for o in plot)
    assert texts(notebook, "follow-up").strip()
    assert "list_pods" in texts(notebook, "cell-magic")
    attention = texts(notebook, "needs-attention", "text/html")
    assert "CrashLoopBackOff" in attention and "ImagePullBackOff" in attention
    assert texts(notebook, "widget", "application/vnd.jupyter.widget-view+json")
    assert texts(notebook, "widget-ask").strip()
    assert "<table" in texts(notebook, "widget-data", "text/html")


def check_incident(notebook: nbformat.NotebookNode) -> None:
    overview = texts(notebook, "overview")
    assert "diagnose_cluster" in overview and "get_pod_logs" in overview
    assert "payments-api" in texts(notebook, "crashing", "text/html")
    assert "payments-api" in texts(notebook, "pick", "text/plain")
    assert "get_pod_logs" in texts(notebook, "logs")
    assert "connection refused" in texts(notebook, "log-lines", "text/plain")
    assert "list_events" in texts(notebook, "events")
    assert "<table" in texts(notebook, "events-table", "text/html")
    explanation = texts(notebook, "explain")
    assert "payments-api" in explanation
    assert "connection refused" in explanation


CHECKS: dict[str, Any] = {
    "quickstart.ipynb": check_quickstart,
    "incident.ipynb": check_incident,
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs_offline(name: str, tmp_path: Path) -> None:
    notebook = execute(name, tmp_path)
    assert_clean_run(notebook)
    CHECKS[name](notebook)
    history = tmp_path / "jupyter-data" / "kchat" / "history.sqlite3"
    assert history.exists(), "conversations are saved where the side panel reads them"
