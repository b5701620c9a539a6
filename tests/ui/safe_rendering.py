"""What the safe-rendering browser tests share: a lab of their own, a page whose every request
is recorded, and the checks that a rendered answer fetched nothing, embeds nothing and links
safely. The payload sets stay in the test modules that own them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import lab_page
from exfil import RequestCounter
from kchat_lab import KChatLab
from lab_browser import notebook, run_cell
from playwright.sync_api import Browser, Locator, Page, expect
from test_panel_browser import PANEL, ask, wait_idle

# Tags that would embed, style, refresh, re-base or submit if they reached the page.
FORBIDDEN = (
    "img:not([alt='own']), iframe, object, embed, svg, video, audio, style, link, meta, base, form"
)


@contextmanager
def watched_page(
    browser: Browser, lab: KChatLab, workspace: str, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """``lab_page`` that also records every URL the page requests (``page.exfil_requests``), so
    a request the loopback counter never saw still fails ``assert_nothing_fetched``."""
    with lab_page(browser, lab, workspace, request) as page:
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.exfil_requests = requests  # type: ignore[attr-defined]
        yield page


def panel_answer(page: Page, question: str) -> Locator:
    """Ask in the panel and wait for the turn to end: the last answer."""
    ask(page, question)
    wait_idle(page)
    return page.locator(f"{PANEL} .jp-kchat-assistant").last


def open_notebook(page: Page, lab: KChatLab, name: str, *cells: str) -> None:
    """Write a notebook of ``cells`` into the lab's root, open it and run every cell."""
    (lab.tmp / "root" / name).write_text(notebook(*cells))
    page.evaluate(
        "name => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: name, factory: 'Notebook'})",
        name,
    )
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    for index in range(len(cells)):
        run_cell(page, index)


def wait_own_image(scope: Locator) -> None:
    """Our own image loaded: the browser has fetched this answer's images by now."""
    scope.locator("img[alt='own']").last.evaluate(
        "img => img.complete && img.naturalWidth > 0 ? true : "
        "new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; })"
    )


def assert_nothing_fetched(page: Page, exfil: RequestCounter) -> None:
    assert exfil.paths == [], exfil.paths
    requested: list[str] = page.exfil_requests  # type: ignore[attr-defined]
    sent = [url for url in requested if url.startswith(exfil.url)]
    assert sent == [], sent


def assert_rendered_inert(page: Page, answer: Locator, marker: str, exfil: RequestCounter) -> None:
    """The whole answer (up to ``marker``) is on the page, its images have had their chance to
    load, the counter saw nothing and no forbidden tag made it into the answer."""
    expect(answer).to_contain_text(marker)
    wait_own_image(answer)
    assert_nothing_fetched(page, exfil)
    assert answer.locator(FORBIDDEN).count() == 0


def assert_safe_links(scope: Locator) -> None:
    # JupyterLab's own heading anchors (`#Report`) stay in the page.
    hrefs = scope.locator("a[href]:not([href^='#'])").evaluate_all(
        "links => links.map(a => [a.getAttribute('href'), a.target, a.rel])"
    )
    assert hrefs, "no links at all"
    for href, target, rel in hrefs:
        assert not href.lower().startswith("javascript:"), href
        assert target == "_blank", href
        assert set(rel.split()) >= {"noopener", "noreferrer"}, href


def prove_counter_works(page: Page, exfil: RequestCounter) -> None:
    """The counter does count this browser's requests, so its zero above meant something."""
    page.evaluate("url => fetch(url, {mode: 'no-cors'})", f"{exfil.url}/control")
    assert exfil.wait_for("/control")
    exfil.paths.clear()
    page.exfil_requests.clear()  # type: ignore[attr-defined]
