"""Issue 13 in the panel: tables that answer the question, and failed cells sent to the chat.

On the demo cluster at JupyterLab's default sidebar width, a ``list_pods`` card shows the broken
pods first with their reason in view, a header click still sorts, and "Open in a tab" shows every
column at full width. A cell whose output is a ``kubernetes`` traceback, or a failing shell
command, goes to the chat with its error text from the cell context menu or the cell toolbar.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import screenshot
from kchat_lab import SCREENSHOTS, KChatLab
from lab_browser import notebook, run_cell
from playwright.sync_api import Page, expect
from test_panel_browser import PANEL, ask, wait_idle

pytestmark = pytest.mark.browser

BROKEN = ("CrashLoopBackOff", "ImagePullBackOff")


# The words of the cells laid out on more than one line (broken inside), from their text's boxes.
SPLIT_WORDS_JS = """cells => cells.flatMap(cell => {
  const split = [];
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const word of node.data.matchAll(/[^\\s-]+-?/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const tops = new Set(Array.from(range.getClientRects(), rect => Math.round(rect.top)));
      if (tops.size > 1) {
        split.push(word[0]);
      }
    }
  }
  return split;
})"""


def model_requests(lab: KChatLab) -> str:
    url = lab.model_url.rstrip("/").removesuffix("/v1") + "/_control/requests"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.dumps(json.load(response))


def test_list_pods_shows_problems_first_with_the_reason_in_view(kchat_page: Page) -> None:
    page = kchat_page
    ask(page, "list all pods")
    card = (
        page.locator(f"{PANEL} .jp-kchat-tool-call")
        .filter(has=page.locator(".jp-kchat-tool-name", has_text="list_pods"))
        .first
    )
    expect(card).to_have_attribute("data-status", "completed")
    wait_idle(page)
    reason = card.locator('th[data-column="reason"]')
    expect(reason).to_be_visible()
    # In view at the default width: inside the card's scroll box, no horizontal scrolling.
    scroll = card.locator(".jp-kchat-table-scroll").bounding_box()
    header = reason.bounding_box()
    assert scroll and header
    assert header["x"] + header["width"] <= scroll["x"] + scroll["width"] + 1, (header, scroll)
    expect(card.locator('th[data-column="age"]')).to_be_hidden()
    expect(card.locator(".jp-kchat-table-hidden:visible")).to_contain_text("age")
    columns = card.locator("th").evaluate_all("ths => ths.map(th => th.dataset.column)")
    reason_at = columns.index("reason") + 1
    cells = card.locator(f"tbody tr td:nth-child({reason_at})")
    # A reason of its own, not the phase standing in for it.
    reasons = cells.evaluate_all(
        "tds => tds.map(td => td.querySelector('.jp-kchat-stand-in') ? '' : td.textContent)"
    )
    broken = [i for i, text in enumerate(reasons) if text.strip()]
    assert broken and broken == list(range(len(broken))), reasons
    for wanted in BROKEN:
        assert any(wanted in text for text in reasons[:10]), (wanted, reasons[:10])
    # Every row keeps a status at this width: the reason, else the phase (its column hidden).
    expect(card.locator('th[data-column="phase"]')).to_be_hidden()
    statuses = cells.all_inner_texts()
    assert statuses and all(text.strip() for text in statuses), statuses
    healthy = statuses[len(broken) :]
    assert healthy and set(healthy) <= {"Running", "Succeeded"}, statuses
    split = card.locator("tbody tr td.jp-mod-wrap").evaluate_all(SPLIT_WORDS_JS)
    assert split == [], split
    card.locator("table").scroll_into_view_if_needed()
    screenshot(page, "panel_problem_first.png")

    name = card.locator('th[data-column="name"]')
    name.locator("button").click()
    expect(name).to_have_attribute("aria-sort", "ascending")
    names = card.locator(f"tbody tr td:nth-child({columns.index('name') + 1})").all_inner_texts()
    assert names == sorted(names, key=str.lower) or names[0] <= names[-1]

    total = int(card.locator(".jp-kchat-show-all").inner_text().split()[2])
    card.locator(".jp-kchat-open-table").click()
    view = page.locator(".jp-kchat-table-view")
    expect(view).to_be_visible()
    expect(page.get_by_role("tab", name="list_pods all_namespaces=true")).to_be_visible()
    for column in ("namespace", "name", "reason", "restarts", "node", "age"):
        expect(view.locator(f'th[data-column="{column}"]')).to_be_visible()
    expect(view.locator("tbody tr")).to_have_count(total)
    expect(view.locator(".jp-kchat-table-hidden:visible")).to_have_count(0)
    first = view.locator(f"tbody tr td:nth-child({reason_at})").first
    expect(first).not_to_be_empty()
    screenshot(page, "table_full_width.png")


ERROR_CELL = """
from kubernetes import client, config
api = client.CoreV1Api(config.new_client_from_config({kubeconfig!r}))
api.read_namespaced_pod("no-such-pod", "payments")
"""

SHELL_CELL = """
!sh -c 'echo "Error from server (NotFound): deployments.apps \\"no-such-app\\" not found"; exit 1'
"""


def test_ask_kchat_about_a_failed_cell(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    page = kchat_page
    kubeconfig = str(kchat_ui_lab.tmp / "kubeconfig.yaml")
    (kchat_ui_lab.tmp / "root" / "errors.ipynb").write_text(
        notebook(ERROR_CELL.format(kubeconfig=kubeconfig), SHELL_CELL, "print('fine')")
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'errors.ipynb', factory: 'Notebook'})"
    )
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.first.wait_for()
    for index in range(3):
        run_cell(page, index)
    expect(cells.nth(0).locator(".jp-OutputArea-output")).to_contain_text("(404)")
    expect(cells.nth(1).locator(".jp-OutputArea-output")).to_contain_text("Error from server")
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_contain_text("fine")

    # A cell without an error offers nothing.
    cells.nth(2).click(button="right")
    menu = page.locator(".lm-Menu")
    expect(menu.first).to_be_visible()
    expect(menu.get_by_text("Ask kchat about this error")).to_be_hidden()
    page.keyboard.press("Escape")

    # The traceback, from the cell's context menu.
    cells.nth(0).locator(".jp-OutputArea-output").click(button="right")
    menu.get_by_text("Ask kchat about this error").click()
    question = page.locator(f"{PANEL} .jp-kchat-user").last
    expect(question).to_contain_text("NotFoundException")
    expect(question).to_contain_text("Reason: Not Found")
    expect(question.locator(".jp-kchat-cell-context")).to_contain_text("python cell")
    wait_idle(page)
    screenshot(page, "panel_ask_about_error.png")
    recorded = model_requests(kchat_ui_lab)
    assert "no-such-pod" in recorded and "NotFoundException" in recorded

    # The shell command's error, from the cell toolbar of the active cell.
    cells.nth(1).locator(".jp-InputArea").click()
    toolbar = cells.nth(1).locator(".jp-cell-toolbar [data-command='kchat:ask-about-error']")
    expect(toolbar).to_be_visible()
    toolbar.click()
    expect(page.locator(f"{PANEL} .jp-kchat-user").last).to_contain_text(
        'deployments.apps "no-such-app" not found'
    )
    wait_idle(page)
    assert "no-such-app" in model_requests(kchat_ui_lab)


def test_chat_widget_tables_show_problems_first(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    """The notebook widget shares the cards: the same rows first, the reason in view."""
    page = kchat_page
    (kchat_ui_lab.tmp / "root" / "widget_table.ipynb").write_text(
        notebook("from jupyter_kchat import ChatWidget\nw = ChatWidget('list all pods')\nw")
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'widget_table.ipynb', factory: 'Notebook'})"
    )
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    run_cell(page, 0)
    widget = page.locator(".jp-Notebook .jp-kchat-widget")
    card = (
        widget.locator(".jp-kchat-tool-call[data-status='completed']")
        .filter(has=page.locator(".jp-kchat-tool-name", has_text="list_pods"))
        .first
    )
    expect(card.locator("tbody tr").first).to_be_visible()
    expect(widget.locator(".jp-kchat-stop")).to_be_hidden()
    expect(card.locator('th[data-column="reason"]')).to_be_visible()
    columns = card.locator("th").evaluate_all("ths => ths.map(th => th.dataset.column)")
    assert columns.index("reason") == columns.index("name") + 1, columns
    reasons = card.locator(
        f"tbody tr td:nth-child({columns.index('reason') + 1})"
    ).all_inner_texts()
    broken = [i for i, text in enumerate(reasons) if text.strip()]
    assert broken and broken == list(range(len(broken))), reasons
    for wanted in BROKEN:
        assert any(wanted in text for text in reasons[:10]), (wanted, reasons[:10])
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(SCREENSHOTS / "widget_problem_first.png"))
