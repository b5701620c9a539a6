"""The TypeScript unit tests (protocol client, reducer, views, widget) as part of ``pytest``.

``jlpm test`` type-checks and runs vitest in ``labextension/``; it needs the node_modules that
building the panel installed (``pip install -e .`` or ``jlpm install``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"


def _jlpm() -> str | None:
    local = Path(sys.executable).parent / "jlpm"
    return str(local) if local.exists() else shutil.which("jlpm")


def test_labextension_unit_tests() -> None:
    jlpm = _jlpm()
    if jlpm is None or shutil.which("node") is None:
        pytest.skip("jlpm or node is missing")
    if not (LABEXTENSION / "node_modules" / "vitest").exists():
        pytest.skip("labextension/node_modules is missing: cd labextension && jlpm install")
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(jlpm).parent), os.environ["PATH"]])}
    result = subprocess.run(
        [jlpm, "test"],
        check=False,
        cwd=LABEXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
