"""Debian's Chromium on a JupyterLab with kchat: launched, the panel opened, screenshots kept.

Shared by the browser tests (``conftest.py``) and the install test (``tests/test_install.py``,
which drives the lab of a fresh virtualenv), so every page is opened and shot the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from kchat_lab import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import Browser, Page, sync_playwright


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless ``/usr/bin/chromium`` through Playwright: never a browser a tool downloaded."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_panel(page: Page) -> None:
    """Click the sidebar tab unless the panel is already showing (a restored layout).

    First the lab finishes restoring its layout (the splash screen goes): until then it may move
    the focus (to the Launcher), and keys typed into the panel would go there instead."""
    page.locator("#jupyterlab-splash").wait_for(state="detached")
    tab = page.locator('[data-id="jp-kchat-panel"]')
    tab.wait_for()
    panel = page.locator("#jp-kchat-panel")
    if not panel.is_visible():
        tab.click()
    page.locator("#jp-kchat-panel textarea[aria-label='Message']").wait_for()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


def notebook(*sources: str) -> str:
    """A Python 3 notebook of these code cells, unexecuted, as the file a test puts in the lab."""
    kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    cells = [new_code_cell(source.strip()) for source in sources]
    return nbformat.writes(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}))


def run_cell(page: Page, index: int) -> None:
    """Select cell ``index`` of the open notebook and run it (the lab's own command)."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).click()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
