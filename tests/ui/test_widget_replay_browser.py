"""A ``ChatWidget`` answer about 10,000 pods, live and replayed, in a real notebook.

The live view gets every row by message; the ``events`` trait (what a later view replays and a
saved notebook keeps) holds the first ``STORED_ROWS`` rows and the total, so a replayed card
says how many rows the call had, as a reloaded panel card does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import lab_page
from kchat_lab import EXPOSE_APP, KChatLab
from lab_browser import notebook, run_cell
from playwright.sync_api import Browser, Page, expect

from jupyter_kchat.store import STORED_ROWS

pytestmark = pytest.mark.browser

PODS = 10_000


@pytest.fixture(scope="module")
def big_widget_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KChatLab]:
    lab = KChatLab(tmp_path_factory.mktemp("kchat-widget-big"), pods=PODS, extra_args=[EXPOSE_APP])
    with lab.running():
        yield lab


@pytest.fixture
def big_widget_page(
    kchat_browser: Browser,
    big_widget_lab: KChatLab,
    kchat_workspace: str,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    with lab_page(kchat_browser, big_widget_lab, kchat_workspace, request) as page:
        yield page


def test_a_replayed_widget_card_says_it_shows_the_first_rows(
    big_widget_page: Page, big_widget_lab: KChatLab
) -> None:
    page = big_widget_page
    (big_widget_lab.tmp / "root" / "big.ipynb").write_text(
        notebook(
            "from jupyter_kchat import ChatWidget\nw = ChatWidget('list all pods')\nw",
            "w.wait(300)\nprint('rows', len(w.last.to_dataframe()))",
            "w",
        )
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'big.ipynb', factory: 'Notebook'})"
    )
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.first.wait_for()
    run_cell(page, 0)
    run_cell(page, 1)
    output = cells.nth(1).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("rows ")
    total = int(output.inner_text().split()[-1])
    assert total >= PODS, "the kernel's to_dataframe() has every row"

    live = cells.nth(0).locator(".jp-kchat-tool-call[data-status='completed']").first
    expect(live.locator(".jp-kchat-show-all")).to_have_text(f"Show all {total} rows")
    expect(live.locator(".jp-kchat-table-trimmed")).to_have_count(0)

    run_cell(page, 2)
    replayed = cells.nth(2).locator(".jp-kchat-tool-call[data-status='completed']").first
    expect(replayed.locator(".jp-kchat-table-trimmed")).to_have_text(
        f"Showing the first {STORED_ROWS:,} of {total:,} rows: a saved answer keeps only these. "
        "Ask again for all of them."
    )
    expect(replayed.locator(".jp-kchat-show-all")).to_have_text(f"Show all {STORED_ROWS} rows")
