"""One ``c.KChat.tool_threads`` sizes the tool workers of the server, a kernel and the MCP app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from jupyter_kchat.config import KChat
from jupyter_kchat.kernel import KernelChat


@pytest.fixture
def kchat_settings() -> dict[str, Any]:
    return {"tool_threads": 3}


@pytest.mark.parametrize("command", [["kchat"], ["kchat", "mcp"]])
def test_help_documents_tool_threads_with_its_default(command: list[str]) -> None:
    help_all = subprocess.run(
        [sys.executable, "-m", "jupyter", *command, "--help-all"],
        capture_output=True, text=True, check=True,
    ).stdout
    entry = help_all.split("--KChat.tool_threads=<Int>", 1)[1].split("--KChat.", 1)[0]
    assert "Default: 32" in entry and "kernel" in entry


def test_fewer_than_one_tool_thread_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="tool_threads must be at least 1"):
        KChat(tool_threads=0)


async def test_the_server_and_a_kernel_run_tools_on_as_many_threads_as_set(
    jp_serverapp: Any, kchat_server_config: Config, tmp_path: Path
) -> None:
    (server_app,) = jp_serverapp.extension_manager.extension_apps["jupyter_kchat"]
    assert server_app.executor._max_workers == 3
    kernel = KernelChat(
        Config({"KChat": {**kchat_server_config.KChat, "db_path": str(tmp_path / "k.sqlite3")}})
    )
    try:
        assert kernel.executor._max_workers == 3
    finally:
        kernel.close()
