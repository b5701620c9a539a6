"""The notebook widget's front end (``jupyter_kchat/static/widget.js``) in a real notebook.

A bare ``anywidget.AnyWidget`` loads the bundle and the kernel plays a turn's events to it, so
this checks the ESM bundle itself: rendering, tool cards, approval frames back to the kernel.
"""

from __future__ import annotations

import json

import pytest
from kchat_lab import REPO, SCREENSHOTS, KChatLab
from lab_browser import notebook, run_cell
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

WIDGET_JS = REPO / "jupyter_kchat" / "static" / "widget.js"

SETUP = f"""
import anywidget, pathlib, traitlets
class Bare(anywidget.AnyWidget):
    _esm = pathlib.Path({str(WIDGET_JS)!r})
    message = traitlets.Unicode("list pods in payments").tag(sync=True)
w = Bare()
received = []
w.on_msg(lambda widget, content, buffers: received.append(content))
w
"""

EVENTS = """
c = "conv-widget"
rows = [{"name": f"web-{i}", "status": "CrashLoopBackOff" if i % 3 == 0 else "Running",
         "restarts": i} for i in range(30)]
def ev(seq, type_, **data):
    return {"type": type_, "data": {"conversation_id": c, **data}, "seq": seq}
events = [
    ev(1, "thinking", message="Thinking…"),
    ev(2, "tool_call_start", tool_call_id="t1", tool_name="list_pods",
       arguments={"namespace": "payments"}),
    ev(3, "tool_call_end", tool_call_id="t1", tool_name="list_pods",
       arguments={"namespace": "payments"}, result="30 pods", status="completed",
       duration_ms=120, data=rows),
    ev(4, "text", text="## Pods\\n\\n**10** pods are crashlooping:\\n\\n"),
    ev(5, "text", text="```bash\\nkubectl get pods -n payments\\n```\\n"),
    ev(6, "approval_required", tool_call_id="t2", tool_name="delete_pod",
       arguments={"name": "web-0", "namespace": "payments"}, reason="Delete pod payments/web-0"),
]
w.send(events[:3])
for event in events[3:]:
    w.send(event)
"""

FINISH = """
w.send({"type": "tool_call_end", "seq": 7, "data": {"conversation_id": c, "tool_call_id": "t2",
        "tool_name": "delete_pod", "arguments": {}, "result": "deleted", "status": "completed",
        "duration_ms": 8}})
w.send({"type": "complete", "seq": 8, "data": {"conversation_id": c, "message": "done",
        "tool_calls": []}})
"""


def test_widget_renders_kernel_events_and_answers_approvals(
    kchat_page: Page, kchat_ui_lab: KChatLab
) -> None:
    if not WIDGET_JS.exists():
        pytest.fail(f"{WIDGET_JS} is missing: build it (cd labextension && jlpm build:widget)")
    page = kchat_page
    (kchat_ui_lab.tmp / "root" / "widget.ipynb").write_text(
        notebook(SETUP, EVENTS, FINISH, "print(received)")
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'widget.ipynb', factory: 'Notebook'})"
    )
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    run_cell(page, 0)
    widget = page.locator(".jp-Notebook .jp-kchat-widget")
    expect(widget.locator(".jp-kchat-user")).to_have_text("list pods in payments")
    run_cell(page, 1)
    expect(widget.locator(".jp-kchat-tool-call[data-status='completed'] tbody tr")).to_have_count(
        20
    )
    expect(widget.locator(".jp-kchat-assistant strong")).to_have_text("10")
    expect(widget.locator(".jp-kchat-insert")).to_have_count(0)
    approve = widget.locator("button[aria-label='Approve delete_pod']")
    expect(approve).to_be_visible()
    approve.click()
    expect(widget.locator(".jp-kchat-tool-status").last).to_contain_text("Approved")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(SCREENSHOTS / "widget.png"))
    run_cell(page, 2)
    expect(widget.locator(".jp-kchat-stop")).to_be_hidden()
    run_cell(page, 3)
    output = page.locator(".jp-Notebook .jp-Cell").nth(3).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("'type': 'approve', 'tool_call_id': 't2', 'approved': True")
    box = widget.locator("textarea[aria-label='Message']")
    box.fill("and nodes?")
    box.press("Enter")
    run_cell(page, 3)
    expect(output).to_contain_text("'message': 'and nodes?'")
    expect(output).to_contain_text("'conversation_id': 'conv-widget'")


def test_chat_widget_in_a_notebook(kchat_page: Page, kchat_ui_lab: KChatLab) -> None:
    """The real ``ChatWidget``: a question from Python, a follow-up typed in the widget."""
    page = kchat_page
    (kchat_ui_lab.tmp / "root" / "chat.ipynb").write_text(
        notebook(
            "from jupyter_kchat import ChatWidget\nw = ChatWidget('list pods in payments')\nw",
            "w.wait(120)\nfirst = w.results[0]\n"
            "print(first.tool_calls[0].name, len(first.to_dataframe()))",
        )
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'chat.ipynb', factory: 'Notebook'})"
    )
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    run_cell(page, 0)
    widget = page.locator(".jp-Notebook .jp-kchat-widget")
    expect(widget.locator(".jp-kchat-user").first).to_have_text("list pods in payments")
    card = widget.locator(".jp-kchat-tool-call[data-status='completed']").first
    expect(card.locator(".jp-kchat-tool-name")).to_have_text("list_pods")
    expect(card.locator("tbody tr").first).to_be_visible()
    expect(widget.locator(".jp-kchat-stop")).to_be_hidden()
    expect(widget.locator(".jp-kchat-assistant").last).not_to_be_empty()
    run_cell(page, 1)
    output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("list_pods")
    box = widget.locator("textarea[aria-label='Message']")
    box.fill("say The widget answers too.")
    box.press("Enter")
    expect(widget.locator(".jp-kchat-user")).to_have_count(2)
    expect(widget.locator(".jp-kchat-assistant").last).to_contain_text("The widget answers too.")
    expect(widget.locator(".jp-kchat-stop")).to_be_hidden()
    # The chat shows once: its static copy (for the saved notebook) is there, kept up to date
    # after a turn asked from the widget, but hidden while the live view shows.
    first = page.locator(".jp-Notebook .jp-Cell").first
    expect(first.locator(".jp-kchat-widget")).to_have_count(1)
    copy = first.locator(".kchat-conversation")
    expect(copy).to_contain_text("say The widget answers too.")
    expect(copy).to_be_hidden()
    expect(first.locator(".jp-OutputArea-child:visible")).to_have_count(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(SCREENSHOTS / "widget_chat.png"))
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    saved = json.loads((kchat_ui_lab.tmp / "root" / "chat.ipynb").read_text())
    html = "".join(
        "".join(output["data"]["text/html"])
        for output in saved["cells"][0]["outputs"]
        if "text/html" in output.get("data", {})
    )
    for shown in (
        "list pods in payments",
        "list_pods(namespace=&#x27;payments&#x27;)",
        "say The widget answers too.",
        "The widget answers too.",
    ):
        assert shown in html, f"the notebook JupyterLab saved shows {shown!r} without kchat"
