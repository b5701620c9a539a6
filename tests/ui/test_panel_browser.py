"""The Kubernetes Chat panel in a real JupyterLab, driven like a user with Debian's Chromium.

Scenarios from the issue: streamed answer with a tool card and table, Stop, approval denied,
reload mid-answer, a dropped socket mid-answer, history, notebook context, themes.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from conftest import open_panel, screenshot
from kchat_lab import KChatLab
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PANEL = "#jp-kchat-panel"
SLOW_STREAM = {"kind": "slow", "delay": 0.003}


def ask(page: Page, text: str) -> None:
    """Send a message once the panel takes one (as a person waits for Send), and wait until
    the panel shows it (and so its busy state)."""
    wait_idle(page)
    users = page.locator(f"{PANEL} .jp-kchat-user")
    before = users.count()
    box = page.locator(f"{PANEL} textarea[aria-label='Message']")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")
    expect(users).to_have_count(before + 1)


def wait_idle(page: Page) -> None:
    page.locator(f"{PANEL} .jp-kchat-view:not(.jp-mod-busy)").wait_for()


def assistant_count(page: Page) -> int:
    return page.locator(f"{PANEL} .jp-kchat-assistant").count()


def wait_streamed(page: Page, index: int, chars: int) -> None:
    """Wait until the answer segment ``index`` shows at least ``chars`` characters."""
    page.wait_for_function(
        f"() => Number(document.querySelectorAll('{PANEL} .jp-kchat-assistant')[{index}]"
        f"?.getAttribute('data-rendered-length') || 0) > {chars}"
    )


def answer_length(page: Page) -> int:
    lengths = page.eval_on_selector_all(
        f"{PANEL} .jp-kchat-assistant",
        "nodes => nodes.map(n => Number(n.getAttribute('data-rendered-length')))",
    )
    return int(sum(lengths))


def first_pod(lab: KChatLab) -> tuple[str, str]:
    """A real pod of the sample cluster, read through the Kubernetes API emulation."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(lab.tmp / "kubeconfig.yaml"))
    try:
        pods = client.CoreV1Api(api_client).list_pod_for_all_namespaces(limit=5).items
    finally:
        api_client.close()
    pod = pods[0]
    return pod.metadata.name, pod.metadata.namespace


def test_panel_command_and_accessibility(kchat_page: Page) -> None:
    page = kchat_page
    assert page.evaluate("() => window.jupyterapp.commands.hasCommand('kchat:open')")
    assert page.evaluate("() => window.jupyterapp.commands.label('kchat:open')") == (
        "Open Kubernetes Chat"
    )
    expect(page.locator(f"{PANEL} button[aria-label='New conversation']")).to_be_visible()
    expect(page.locator(f"{PANEL} .jp-kchat-banner")).to_be_hidden()
    page.locator('[data-id="jp-kchat-panel"]').click()
    expect(page.locator(PANEL)).to_be_hidden()
    page.evaluate("() => window.jupyterapp.commands.execute('kchat:open')")
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.locator(f"{PANEL} textarea")).to_be_focused()


def test_list_all_pods_streams_text_and_a_table(kchat_page: Page) -> None:
    page = kchat_page
    ask(page, "list all pods")
    card = page.locator(f"{PANEL} .jp-kchat-tool-call").filter(
        has=page.locator(".jp-kchat-tool-name", has_text="list_pods")
    )
    expect(card.first).to_have_attribute("data-status", "completed")
    wait_idle(page)
    card = card.first
    expect(card.locator(".jp-kchat-tool-duration")).not_to_be_empty()
    rows = card.locator("tbody tr")
    assert rows.count() == 20
    show_all = card.locator(".jp-kchat-show-all")
    expect(show_all).to_have_text(re.compile(r"^Show all \d+ rows$"))
    total = int(show_all.inner_text().split()[2])
    assert total > 20
    assert answer_length(page) > 0
    screenshot(page, "panel_list_pods.png")
    header = card.locator('th[data-column="name"]')
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    show_all.click()
    expect(rows).to_have_count(total)
    # The box is usable again after the turn.
    expect(page.locator(f"{PANEL} .jp-kchat-stop")).to_be_hidden()
    expect(page.locator(f"{PANEL} textarea")).to_be_editable()


def test_stop_a_long_answer(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    page = kchat_page
    kchat_ui_lab.push_model_faults(SLOW_STREAM)
    ask(page, "stream 3000 chunks")
    wait_streamed(page, 0, 200)
    stop = page.locator(f"{PANEL} button[aria-label='Stop the answer']")
    expect(stop).to_be_visible()
    stop.click()
    expect(page.locator(f"{PANEL} .jp-kchat-notice")).to_have_text("Stopped.")
    wait_idle(page)
    stopped_at = answer_length(page)
    complete = page.evaluate("() => window.__kchat.completeLength")
    assert stopped_at == complete
    assert page.evaluate("() => window.__kchat.textArrivals") < 3000
    screenshot(page, "panel_stopped.png")
    ask(page, "say Still here.")
    expect(page.locator(f"{PANEL} .jp-kchat-assistant").last).to_contain_text("Still here.")
    wait_idle(page)


def test_deny_a_change(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    page = kchat_page
    name, namespace = first_pod(kchat_ui_lab)
    ask(page, f"delete pod {name} in namespace {namespace}")
    approval = page.locator(f"{PANEL} .jp-kchat-approval")
    expect(approval).to_be_visible()
    expect(approval.locator(".jp-kchat-approval-reason")).to_contain_text(name)
    card = page.locator(f"{PANEL} .jp-kchat-tool-call[data-status='awaiting_approval']")
    expect(card.locator(".jp-kchat-tool-arguments pre")).to_contain_text(namespace)
    screenshot(page, "panel_approval.png")
    page.locator(f"{PANEL} button[aria-label='Deny delete_pod']").click()
    denied = page.locator(f"{PANEL} .jp-kchat-tool-call[data-status='denied']")
    expect(denied).to_be_visible()
    wait_idle(page)
    screenshot(page, "panel_denied.png")
    assert first_pod(kchat_ui_lab)[0] == name


def test_reload_mid_answer_resumes_the_conversation(
    kchat_page: Page, kchat_ui_lab: KChatLab
) -> None:
    page = kchat_page
    ask(page, "list pods in payments")
    wait_idle(page)
    before = assistant_count(page)
    kchat_ui_lab.push_model_faults(SLOW_STREAM)
    ask(page, "stream 3000 chunks")
    wait_streamed(page, before, 100)
    page.reload()
    open_panel(page)
    expect(page.locator(f"{PANEL} .jp-kchat-user").first).to_have_text("list pods in payments")
    expect(page.locator(f"{PANEL} .jp-kchat-user").last).to_have_text("stream 3000 chunks")
    expect(page.locator(f"{PANEL} .jp-kchat-tool-call").first).to_be_visible()
    wait_idle(page)
    complete = page.evaluate("() => window.__kchat.completeLength")
    last = page.locator(f"{PANEL} .jp-kchat-assistant").last
    assert int(last.get_attribute("data-rendered-length") or 0) == complete
    screenshot(page, "panel_after_reload.png")


def test_dropped_socket_reconnects_and_the_answer_completes(
    kchat_page: Page, kchat_ui_lab: KChatLab
) -> None:
    page = kchat_page
    kchat_ui_lab.push_model_faults(SLOW_STREAM)
    ask(page, "stream 3000 chunks")
    wait_streamed(page, 0, 100)
    # The network goes away: the socket drops and reconnects fail until it comes back.
    page.evaluate("() => { window.__kchat.block = true; window.__kchat.sockets.at(-1).close(); }")
    banner = page.locator(f"{PANEL} .jp-kchat-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("reconnecting")
    screenshot(page, "panel_offline.png")
    page.evaluate("() => { window.__kchat.block = false; }")
    expect(banner).to_be_hidden()
    wait_idle(page)
    complete = page.evaluate("() => window.__kchat.completeLength")
    assert complete and answer_length(page) == complete
    assert page.locator(f"{PANEL} .jp-kchat-assistant").count() == 1


def test_history_reopen_and_delete(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    page = kchat_page
    ask(page, "list all namespaces")
    wait_idle(page)
    page.locator(f"{PANEL} button[aria-label='New conversation']").click()
    expect(page.locator(f"{PANEL} .jp-kchat-user")).to_have_count(0)
    page.locator(f"{PANEL} .jp-kchat-history-toggle").click()
    item = page.locator(f"{PANEL} .jp-kchat-history-item").filter(
        has_text="list all namespaces"
    ).first
    expect(item).to_be_visible()
    screenshot(page, "panel_history.png")
    conversation_id = item.get_attribute("data-conversation-id")
    item.locator(".jp-kchat-history-open").click()
    expect(page.locator(f"{PANEL} .jp-kchat-user")).to_have_text("list all namespaces")
    expect(page.locator(f"{PANEL} .jp-kchat-tool-call").first).to_be_visible()
    item.locator(".jp-kchat-history-delete").click()
    expect(
        page.locator(f"{PANEL} .jp-kchat-history-item[data-conversation-id='{conversation_id}']")
    ).to_have_count(0)
    expect(page.locator(f"{PANEL} .jp-kchat-user")).to_have_count(0)
    request = urllib.request.Request(
        f"{kchat_ui_lab.url}api/kchat/conversations",
        headers={"Authorization": f"token {kchat_ui_lab.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        ids = [c["id"] for c in json.load(response)["conversations"]]
    assert conversation_id not in ids


def test_notebook_context_and_insert(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    page = kchat_page
    (kchat_ui_lab.tmp / "root" / "context.ipynb").write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "execution_count": None,
                        "id": "c1",
                        "metadata": {},
                        "outputs": [],
                        "source": "pods = kchat('list all pods').to_dataframe()",
                    }
                ],
                "metadata": {
                    "kernelspec": {
                        "display_name": "Python 3",
                        "language": "python",
                        "name": "python3",
                    }
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'context.ipynb', factory: 'Notebook'})"
    )
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator(f"{PANEL} .jp-kchat-include-cell").check()
    ask(page, "say Run this:\n\n```python\nprint('hello from kchat')\n```\n")
    wait_idle(page)
    expect(page.locator(f"{PANEL} .jp-kchat-cell-context")).to_contain_text("1 lines")
    insert = page.locator(f"{PANEL} .jp-kchat-assistant .jp-kchat-insert").first
    expect(insert).to_be_visible()
    screenshot(page, "panel_notebook_context.png")
    insert.click()
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(2)
    expect(cells.nth(1)).to_contain_text("print('hello from kchat')")
    requests_url = kchat_ui_lab.model_url.rstrip("/").removesuffix("/v1") + "/_control/requests"
    with urllib.request.urlopen(requests_url, timeout=10) as response:
        recorded = json.dumps(json.load(response))
    assert "to_dataframe" in recorded


def test_dark_theme(kchat_page: Page) -> None:
    page = kchat_page
    ask(page, "list pods in payments")
    wait_idle(page)
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.locator("#jupyterlab-splash").wait_for(state="detached")
    background = page.eval_on_selector(
        f"{PANEL} .jp-kchat-tool-call", "n => getComputedStyle(n).backgroundColor"
    )
    channels = [int(c) for c in background[background.index("(") + 1 : -1].split(",")[:3]]
    assert sum(channels) < 3 * 128, background
    screenshot(page, "panel_dark.png")
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Light'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
