"""Browser fixtures: one real JupyterLab with kchat per session, Debian's Chromium, a fresh page
(own browser context, own JupyterLab workspace) per test with the kchat panel open."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kchat_lab import EXPOSE_APP, RECORDER_JS, SCREENSHOTS, KChatLab
from lab_browser import chromium, open_panel, screenshot
from playwright.sync_api import Browser, Page, expect

UI_TIMEOUT_MS = 60_000
# Assertions wait as long as a kernel may take to start on a busy two-core machine; a passing
# assertion still returns as soon as it holds.
expect.set_options(timeout=30_000)
_workspaces = itertools.count(1)


# Playwright's sync API runs its event loop in this thread for the whole session, so
# pytest-jupyter's autouse fixtures would find it as "the running loop" and close or reuse it.
# Browser tests start no in-process ServerApp (Jupyter is a subprocess): give them their own
# loop and nothing to clean up.
@pytest.fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup() -> None:
    return None


@pytest.fixture(scope="session")
def kchat_ui_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KChatLab]:
    """Write tools enabled (each change still waits for approval), app exposed for commands."""
    lab = KChatLab(tmp_path_factory.mktemp("kchat-ui"), read_only=False, extra_args=[EXPOSE_APP])
    with lab.running():
        yield lab


@pytest.fixture(scope="session")
def kchat_browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def kchat_workspace() -> str:
    """A JupyterLab workspace of its own, so no test restores another's conversation."""
    return f"lab/workspaces/kchat-ui-{next(_workspaces)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Keep each phase's report on the test, so a page fixture knows whether the test failed."""
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


@contextmanager
def lab_page(
    browser: Browser, lab: KChatLab, workspace: str, request: pytest.FixtureRequest | None = None
) -> Iterator[Page]:
    """A page of its own browser context on ``lab``, the kchat panel open; fails the test on
    any kchat error the page raised. When the test failed, ``failed-<workspace>.png`` and
    ``.txt`` (the page's errors, the lab's log) are left in the screenshots. The lab's kernels
    end with the page."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.add_init_script(RECORDER_JS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(lab.lab_url(workspace))
        open_panel(page)
        yield page
        call = request.node.stash.get(_reports, {}).get("call") if request else None
        if call is not None and call.failed:
            name = workspace.rsplit("/", 1)[-1]
            screenshot(page, f"failed-{name}.png")
            (SCREENSHOTS / f"failed-{name}.txt").write_text(
                "\n".join(errors) + "\n\n" + lab.log_tail()
            )
    finally:
        context.close()
        lab.shutdown_kernels()
    kchat_errors = [e for e in errors if "kchat" in e.lower()]
    assert not kchat_errors, kchat_errors


@pytest.fixture
def kchat_page(
    kchat_browser: Browser,
    kchat_ui_lab: KChatLab,
    kchat_workspace: str,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    with lab_page(kchat_browser, kchat_ui_lab, kchat_workspace, request) as page:
        yield page
