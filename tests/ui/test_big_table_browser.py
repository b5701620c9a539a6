"""A 10,000-pod answer in the panel: the table keeps a window of rows in the DOM, scrolls through
all of them, and sorts all of them, in a real Chromium against a real JupyterLab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import lab_page, screenshot
from kchat_lab import KChatLab
from playwright.sync_api import Browser, Page, expect
from test_panel_browser import PANEL, ask, wait_idle

pytestmark = pytest.mark.browser

PODS = 10_000


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KChatLab]:
    with KChatLab(tmp_path_factory.mktemp("kchat-big"), pods=PODS).running() as lab:
        yield lab


@pytest.fixture
def big_page(
    kchat_browser: Browser, big_lab: KChatLab, kchat_workspace: str, request: pytest.FixtureRequest
) -> Iterator[Page]:
    with lab_page(kchat_browser, big_lab, kchat_workspace, request) as page:
        yield page


def test_ten_thousand_pods_scroll_and_sort_in_a_window_of_rows(big_page: Page) -> None:
    page = big_page
    ask(page, "list all pods")
    card = page.locator(f"{PANEL} .jp-kchat-tool-call").filter(
        has=page.locator(".jp-kchat-tool-name", has_text="list_pods")
    ).first
    expect(card).to_have_attribute("data-status", "completed")
    wait_idle(page)
    show_all = card.locator(".jp-kchat-show-all")
    total = int(show_all.inner_text().split()[2])
    assert total >= PODS
    show_all.click()

    table = card.locator("table")
    expect(table).to_have_attribute("aria-rowcount", str(total + 1))
    rows = card.locator("tbody tr[aria-rowindex]")
    in_dom = rows.count()
    assert 20 < in_dom < 200, f"{in_dom} rows in the DOM for {total}"

    # Scroll to the very end: the last rows are there, and still only a window of them.
    scroll = card.locator(".jp-kchat-table-scroll")
    scroll.evaluate("node => { node.scrollTop = node.scrollHeight; }")
    expect(rows.last).to_have_attribute("aria-rowindex", str(total + 1))
    assert rows.count() < 200
    expect(rows.last).to_be_in_viewport()
    screenshot(page, "panel_big_table_end.png")

    # Sort by name, descending, then back to the top: the window there is the sorted start.
    header = card.locator('th[data-column="name"]')
    header.locator("button").click()
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    scroll.evaluate("node => { node.scrollTop = 0; }")
    expect(rows.first).to_have_attribute("aria-rowindex", "2")
    column = [t.split()[0] for t in card.locator("th").all_inner_texts()].index("name")
    names = rows.locator(f"td:nth-child({column + 1})").all_inner_texts()
    assert len(names) == rows.count() > 20
    descending = page.evaluate(
        """names => names.every((name, i) => i === 0 ||
            names[i - 1].localeCompare(name, undefined, {numeric: true, sensitivity: 'base'}) >= 0)""",
        names,
    )
    assert descending, names[:10]
