"""A ``ChatWidget`` in a saved notebook: its chat as static HTML where no widget runs.

A notebook that shows two widgets and asks them questions (demo model, sample cluster) is
executed by nbclient, as ``jupyter nbconvert --execute`` or papermill would, with its widget
state saved (nbclient's default), then exported by nbconvert's HTML exporter with no kchat
extension anywhere and opened in Chromium next to the safe-rendering tests' request counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import nbformat
import pytest
from exfil import RequestCounter, counting_server
from kchat_lab import REPO, SCREENSHOTS
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell
from playwright.sync_api import Browser, Route, expect
from test_notebook_html import assert_inert, parse, payloads, run_and_export

pytestmark = pytest.mark.browser

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ARTIFACTS = REPO / "artifacts"


def cells(host: str) -> list[Any]:
    say = "say " + "\n\n".join(payloads(host).values())
    return [
        new_code_cell(
            "from jupyter_kchat.sample.offline import use_offline_demo\nuse_offline_demo(pods=60);",
            id="setup",
        ),
        new_code_cell("from jupyter_kchat import ChatWidget\nchat = ChatWidget()\nchat", id="chat"),
        new_code_cell('chat.ask("list all pods");', id="ask"),
        new_code_cell(f"chat.ask({say!r});", id="payloads"),
        new_code_cell("other = ChatWidget('list pods in payments')\nother", id="other"),
        new_code_cell("other.wait(120);", id="wait"),
    ]


@pytest.fixture(scope="module")
def exfil() -> Iterator[RequestCounter]:
    with counting_server() as counter:
        yield counter


@pytest.fixture(scope="module")
def saved(exfil: RequestCounter, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The executed notebook and its nbconvert HTML, written to artifacts/."""
    tmp_path = tmp_path_factory.mktemp("saved-widget")
    return run_and_export(cells(exfil.url), tmp_path, "widget_saved")


def outputs(notebook: Any, cell_id: str) -> list[Any]:
    cell = next(c for c in notebook.cells if c.get("id") == cell_id)
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{cell_id}: {errors[0].evalue}"
    return list(cell.outputs)


def saved_copy(notebook: Any, cell_id: str) -> str:
    """The widget cell's outputs: the live view first, then the chat's static copy."""
    view, copy = outputs(notebook, cell_id)
    assert WIDGET_VIEW in view.data and "text/html" not in view.data
    assert WIDGET_VIEW not in copy.data
    return str(copy.data["text/html"])


def test_saved_widget_output_holds_the_chat_as_html(saved: dict[str, Any]) -> None:
    notebook = saved["notebook"]
    html = saved_copy(notebook, "chat")
    parsed = assert_inert(html)
    text = "".join(parsed.text)
    assert text.index("list all pods") < text.index("list_pods(all_namespaces=True)")
    assert "need attention" in text and "rows in all" in text, "first rows and how many more"
    first_row = html.split("<tbody><tr>", 1)[1].split("</tr>", 1)[0]
    assert "background:#fff8c5" in first_row, "problems first"
    assert "tokens" in text, "the usage line"
    assert text.index("list_pods(all_namespaces=True)") < text.index("say ")
    assert "javascript:" in text and "styled text" in text, "the payload answer stays text"
    assert "Answering" not in text
    later = "".join(parse(saved_copy(notebook, "other")).text)
    assert "list pods in payments" in later and "list_pods(namespace='payments')" in later, (
        "a question asked in the constructor: its copy was updated once the answer came"
    )
    assert "Answering" not in later
    assert not outputs(notebook, "ask") and not outputs(notebook, "wait")


def test_saved_html_shows_the_chat_and_fetches_nothing(
    saved: dict[str, Any], exfil: RequestCounter, kchat_browser: Browser
) -> None:
    """nbconvert without the widget's front end (its state is saved, but the HTML manager it
    would load is not reachable): the static copy is what shows, and nothing is fetched."""
    elsewhere: list[str] = []

    def only_local(route: Route) -> None:
        """nbconvert's template links require.js, MathJax and the widget manager from a CDN."""
        if route.request.url.startswith(("file:", exfil.url)):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page = kchat_browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.route("**/*", only_local)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        before = len(exfil.paths)
        page.goto((ARTIFACTS / "widget_saved.html").as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        chats = page.locator(".kchat-conversation")
        expect(chats).to_have_count(2)
        chat = chats.first
        expect(chat).to_be_visible()
        expect(chat.locator(".kchat-question").first).to_have_text("list all pods")
        block = chat.locator("details.kchat-tool[open]").first
        expect(block.locator(":scope > summary")).to_contain_text("list_pods(all_namespaces=True)")
        expect(block.locator(":scope > table tbody tr")).to_have_count(10)
        expect(block).to_contain_text("rows in all")
        expect(chat.locator(".kchat-answer").first).not_to_be_empty()
        expect(chat).to_contain_text("javascript:")
        expect(chat.locator("img, iframe, svg")).to_have_count(0)
        expect(chats.nth(1)).to_contain_text("list_pods(namespace='payments')")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        chat.screenshot(path=str(SCREENSHOTS / "widget_saved_html.png"))
        assert exfil.paths[before:] == [], "no payload URL was fetched"
        page.evaluate("url => fetch(url, {mode: 'no-cors'})", f"{exfil.url}/control")
        assert exfil.wait_for("/control"), "the counter does count this page's requests"
    finally:
        page.close()
    assert not dialogs, "no script ran"
    assert all(urlsplit(url).hostname not in ("127.0.0.1", "localhost") for url in elsewhere)


def test_saved_notebook_stays_readable_without_widget_state(saved: dict[str, Any]) -> None:
    """Saved from JupyterLab (which keeps no widget state by default): nbconvert picks the copy."""
    notebook = nbformat.from_dict(saved["notebook"])
    notebook.metadata.pop("widgets", None)
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    assert html.count('class="kchat-conversation') == 2
    assert "list all pods" in html and "widget-view+json" not in html
