"""Payloads the first safe-rendering tests did not try (issue 13 review), in the panel, the
``ChatWidget`` and a ``%%kchat`` output in a real JupyterLab: ``srcset`` in ``<picture>``, SVG
``<use>``, MathML, ``<link rel=prefetch>``, ``background=``, Markdown reference images and
autolinks, entity-encoded ``javascript:``, ``data:text/html`` links, a very long URL, and TeX
(JupyterLab typesets ``$...$`` in Markdown and HTML outputs: ``\\style``, ``\\bbox`` and
``\\class`` would put CSS from the answer on the page). The loopback counter must count zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import screenshot
from exfil import RequestCounter, counting_server
from kchat_lab import EXPOSE_APP, KChatLab
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

pytestmark = pytest.mark.browser

MARKER = "ATTACKS_END"


def attack_payload(exfil: str, base_url: str) -> str:
    """One block per payload, each URL naming itself; one image of our own that may load."""
    long_path = "".join(f"k{i:04d}" for i in range(600))  # 3,000 characters
    return "\n\n".join(
        [
            "## Attacks",
            (f'<picture><source srcset="{exfil}/picture-source 1x"><img src="{exfil}/picture-img"'
            ' alt="pic"></picture> picture text'),
            (f'<img src="{base_url}static/favicons/favicon.ico" srcset="{exfil}/own-srcset 2x"'
            ' alt="own">'),
            f'<svg><use href="{exfil}/svg-use#a"/></svg> svg text',
            f'<math><mi href="{exfil}/math-href">x</mi></math> math text',
            (f'<link rel="prefetch" href="{exfil}/prefetch"><link rel="preload" as="image"'
            f' href="{exfil}/preload">'),
            (f'<table background="{exfil}/table-bg"><tr><td background="{exfil}/td-bg">cell'
            "</td></tr></table>"),
            f'<div style="--x: url({exfil}/css-var); background-image: var(--x)">var text</div>',
            f'<input type="image" src="{exfil}/input-image">',
            # The panel renders block by block: the definitions stay in the image's block.
            (f"- ![ref image][1] and ![other][two]\n\n  [1]: {exfil}/ref-image\n"
            f"  [two]: <{exfil}/ref2>"),
            f"autolink <{exfil}/autolink> and bare {exfil}/bare",
            "[entity](&#106;avascript:alert(1)) <a href=\"&#x6A;avascript:alert(2)\">hex</a>",
            "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            f"![long]({exfil}/long/{long_path})",
            f"tex style $\\style{{background-image:url({exfil}/tex-style)}}{{S}}$ end",
            f"tex bbox $\\bbox[background-image:url({exfil}/tex-bbox)]{{B}}$ end",
            f"tex href $\\href{{{exfil}/tex-href}}{{H}}$ and $\\require{{{exfil}/tex-req}}$ end",
            MARKER,
        ]
    )


@pytest.fixture(scope="module")
def exfil() -> Iterator[RequestCounter]:
    with counting_server() as counter:
        yield counter


@pytest.fixture(scope="module")
def attack_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KChatLab]:
    lab = KChatLab(tmp_path_factory.mktemp("kchat-attacks"), extra_args=[EXPOSE_APP])
    with lab.running():
        yield lab


@pytest.fixture
def attack_page(
    kchat_browser: Browser,
    attack_lab: KChatLab,
    kchat_workspace: str,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    with watched_page(kchat_browser, attack_lab, kchat_workspace, request) as page:
        yield page


def assert_no_page_styles(scope: Locator) -> None:
    """No element of the answer carries a CSS image (inline style, TeX \\style or \\bbox)."""
    images = scope.evaluate(
        "root => [...root.querySelectorAll('*')].map(e => getComputedStyle(e).backgroundImage)"
        ".filter(b => b && b !== 'none')"
    )
    assert images == [], images


def test_more_payloads_fetch_nothing_in_the_panel(
    attack_page: Page, attack_lab: KChatLab, exfil: RequestCounter
) -> None:
    page = attack_page
    answer = panel_answer(page, "say " + attack_payload(exfil.url, attack_lab.base_url))
    assert_rendered_inert(page, answer, MARKER, exfil)
    assert_no_page_styles(answer)
    for text in ("picture text", "svg text", "math text", "cell", "var text", "tex style"):
        expect(answer).to_contain_text(text)
    blocked = answer.locator("a.jp-kchat-blocked")
    for path in ("picture-source", "picture-img", "ref-image", "ref2", "long/k0000"):
        expect(blocked.filter(has_text=f"{exfil.url}/{path}")).to_have_count(1)
    assert_safe_links(answer)
    expect(answer.locator("a[href]", has_text="entity")).to_have_count(0)
    expect(answer.locator("a[href]", has_text="data link")).to_have_count(0)
    screenshot(page, "panel_safe_more_payloads.png")
    prove_counter_works(page, exfil)


def test_more_payloads_fetch_nothing_in_the_widget_and_the_magic(
    attack_page: Page, attack_lab: KChatLab, exfil: RequestCounter
) -> None:
    """The ``ChatWidget`` and ``%%kchat`` answer in one notebook, typeset by JupyterLab."""
    page = attack_page
    question = "say " + attack_payload(exfil.url, attack_lab.base_url)
    open_notebook(
        page,
        attack_lab,
        "attacks.ipynb",
        f"from jupyter_kchat import ChatWidget\nw = ChatWidget({json.dumps(question)})\nw",
        "%load_ext jupyter_kchat",
        f"%%kchat\n{question}",
    )
    widget = page.locator(".jp-Notebook .jp-kchat-widget")
    expect(widget.locator(".jp-kchat-assistant").last).to_contain_text(MARKER)
    magic = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".kchat-answer")
    expect(magic).to_contain_text(MARKER)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
        ".every(p => /\\[\\d+\\]/.test(p.textContent))"
    )
    wait_own_image(widget.locator(".jp-kchat-assistant").last)
    # JupyterLab typesets TeX in HTML outputs; typeset the answer again and wait until done.
    typeset = magic.evaluate(
        "async node => { const t = window.jupyterapp.shell.currentWidget.content.rendermime"
        ".latexTypesetter; if (!t) return false; await t.typeset(node); return true; }"
    )
    assert typeset, "JupyterLab has a TeX typesetter"
    expect(magic.locator("mjx-container").first).to_be_attached()
    assert_nothing_fetched(page, exfil)
    assert widget.locator(FORBIDDEN).count() == 0
    assert magic.locator(FORBIDDEN.replace("img:not([alt='own'])", "img")).count() == 0
    assert_no_page_styles(page.locator(".jp-Notebook"))
    for text in ("picture text", "svg text", "math text", "tex style"):
        expect(magic).to_contain_text(text)
    screenshot(page, "notebook_safe_more_payloads.png")
    prove_counter_works(page, exfil)
