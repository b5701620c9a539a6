"""``ChatWidget``'s Python side: frames in through the comm's handler, events out via ``send``.

The front end is exercised by the lab extension's own tests (vitest) and the browser tests;
here the widget talks to a recording stand-in for the comm, against the demo model and the
sample cluster served from background threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from jupyter_kchat.kernel import KernelChat
from jupyter_kchat.protocol.schema import problems
from jupyter_kchat.sample.model_server import Fault
from jupyter_kchat.sample.offline import OfflineServices, start_offline_services
from jupyter_kchat.store import STORED_ROWS
from jupyter_kchat.widget import (
    WIDGET_JS,
    ChatWidget,
    FrontEndMissingError,
    front_end,
)

pytestmark = pytest.mark.usefixtures("isolated")

TIMEOUT = 30.0
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PAYLOAD = '<img src="http://127.0.0.1:9/question">'


def merge_text(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the widget keeps of received events: each run of text (or of reasoning) chunks as
    one event with the run's last ``seq`` (only the seqs matter here)."""

    def chunk(event: dict[str, Any]) -> str | None:
        if event["type"] == "text":
            return "text"
        return "reasoning" if event["type"] == "thinking" and "reasoning" in event["data"] else None

    merged: list[dict[str, Any]] = []
    for event in events:
        kind = chunk(event)
        if kind is not None and merged and chunk(merged[-1]) == kind:
            merged[-1] = event
        else:
            merged.append(event)
    return merged


class FrontEnd:
    """Stands in for the comm: records what the widget sends, delivers what a view would."""

    def __init__(self, widget: ChatWidget) -> None:
        self.widget = widget
        self.messages: list[Any] = []
        self._changed = threading.Condition()
        widget.send = self._receive  # type: ignore[method-assign]

    def _receive(self, content: Any, buffers: Any = None) -> None:
        with self._changed:
            self.messages.append(content)
            self._changed.notify_all()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every protocol event received, batches flattened."""
        flat: list[dict[str, Any]] = []
        for message in self.messages:
            flat.extend(message.get("events", [message]))
        return [e for e in flat if "seq" in e]

    def frame(self, frame: dict[str, Any]) -> None:
        """What a view's ``model.send(frame)`` reaches in the kernel."""
        self.widget._handle_custom_msg(frame, [])

    def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((e for e in self.events if predicate(e)), None), TIMEOUT
            )
        assert found, f"no matching event within {TIMEOUT} s; got {self.events}"
        return next(e for e in self.events if predicate(e))

    def complete(self, count: int = 1) -> dict[str, Any]:
        with self._changed:
            self._changed.wait_for(
                lambda: sum(e["type"] == "complete" for e in self.events) >= count, TIMEOUT
            )
        completes = [e for e in self.events if e["type"] == "complete"]
        assert len(completes) >= count, f"only {len(completes)} turns completed"
        return completes[count - 1]


@pytest.fixture
def make_chat(services: OfflineServices, tmp_path: Path) -> Iterator[Callable[..., KernelChat]]:
    made: list[KernelChat] = []

    def make(**traits: Any) -> KernelChat:
        settings: dict[str, Any] = {
            "model": "kchat-demo",
            "base_url": services.base_url,
            "api_key": "test-key",
            "kubeconfig": services.kubeconfig,
            "db_path": str(tmp_path / "history.sqlite3"),
            **traits,
        }
        chat = KernelChat(Config({"KChat": settings}))
        made.append(chat)
        return chat

    yield make
    for chat in made:
        chat.close()


def hang_next_request(services: OfflineServices) -> Callable[[], None]:
    """Make the model's next answer hang; returns a wait for that request to be hanging."""
    model = services.model_server
    assert model is not None
    seen = len(model.requests)
    model.faults.push(Fault.hang())

    def hanging() -> None:
        model.submit(model.wait_for_request(seen + 1, timeout=TIMEOUT)).result(TIMEOUT)

    return hanging


@pytest.fixture
def widget(make_chat: Callable[..., KernelChat]) -> ChatWidget:
    return ChatWidget(chat=make_chat())


def test_import_from_the_package_and_bundled_front_end() -> None:
    import jupyter_kchat

    assert jupyter_kchat.ChatWidget is ChatWidget
    assert "render" in Path(str(WIDGET_JS)).read_text()
    assert ChatWidget._esm and "render" in str(ChatWidget._esm)


def test_missing_front_end_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FrontEndMissingError, match="installed without its front end") as error:
        front_end(tmp_path / "widget.js")
    assert isinstance(error.value, ImportError)
    assert "jlpm build" in str(error.value)


def test_chat_frame_streams_events_and_keeps_the_conversation(
    widget: ChatWidget, services: OfflineServices
) -> None:
    view = FrontEnd(widget)
    view.frame({"message": "list all pods", "conversation_id": None, "client_id": "c1"})
    complete = view.complete()
    events = view.events
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert events[0]["type"] == "thinking" and events[0]["data"]["client_id"] == "c1"
    kinds = [e["type"] for e in events]
    assert kinds.index("tool_call_start") < kinds.index("tool_call_end") < kinds.index("complete")
    assert complete["data"]["conversation_id"] == widget.conversation_id
    assert not widget.busy
    assert widget.message == "list all pods"
    assert [e["seq"] for e in widget.events] == [e["seq"] for e in merge_text(events)]
    live_end = next(e for e in events if e["type"] == "tool_call_end")
    assert next(e for e in widget.events if e["type"] == "tool_call_end") == live_end, (
        "a call within STORED_ROWS is kept whole, with no rows_total"
    )

    assert services.cluster is not None
    last = widget.last
    assert last is not None and last.question == "list all pods"
    assert len(last.to_dataframe()) == services.cluster.pod_count
    messages = widget.messages
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "list all pods"
    assert messages[1]["content"] == last.text
    call = messages[1]["tool_calls"][0]
    assert call["name"] == "list_pods" and call["status"] == "completed"
    assert len(call["rows"]) == services.cluster.pod_count

    view.frame({"message": "say and then?", "conversation_id": widget.conversation_id,
                "client_id": "c2"})
    second = view.complete(2)
    assert second["data"]["conversation_id"] == last.conversation_id
    assert widget.last is not None and widget.last.text == "and then?"
    assert len(widget.messages) == 4
    assert widget.events[len(merge_text(events))] == {
        "type": "user", "data": {"message": "say and then?"}
    }


def test_text_is_batched_but_complete(widget: ChatWidget) -> None:
    view = FrontEnd(widget)
    view.frame({"message": "stream 2000 chunks"})
    complete = view.complete()
    text = "".join(e["data"]["text"] for e in view.events if e["type"] == "text")
    assert text == complete["data"]["message"]
    assert len(view.messages) <= len([e for e in view.events]) + 1
    assert sum(e["type"] == "text" for e in widget.events) < 2000


def test_ask_from_python(widget: ChatWidget) -> None:
    view = FrontEnd(widget)
    first = widget.ask("say hello from python")
    assert first is not None and first.text == "hello from python"
    user = view.messages[0]
    assert user["type"] == "user" and user["data"]["message"] == "say hello from python"
    second = widget.ask("list pods in payments")
    assert second is not None and second.conversation_id == first.conversation_id
    assert set(second.to_dataframe()["namespace"]) == {"payments"}
    assert widget.last is second
    assert [m["content"] for m in widget.messages if m["role"] == "user"] == [
        "say hello from python", "list pods in payments"
    ]


def test_question_in_the_constructor_and_defaults(make_chat: Callable[..., KernelChat]) -> None:
    widget = ChatWidget("list pods", namespace="kube-system", chat=make_chat())
    result = widget.wait(TIMEOUT)
    assert result is not None and result.question == "list pods"
    assert set(result.to_dataframe()["namespace"]) == {"kube-system"}
    assert widget.message == "list pods"
    assert any(e["type"] == "complete" for e in widget.events), "replayable by a new view"


def test_cancel_frame_stops_the_turn(widget: ChatWidget, services: OfflineServices) -> None:
    view = FrontEnd(widget)
    hanging = hang_next_request(services)
    view.frame({"message": "say this never arrives", "client_id": "c1"})
    thinking = view.until(lambda e: e["type"] == "thinking")
    hanging()
    assert widget.busy
    view.frame({"type": "cancel", "conversation_id": thinking["data"]["conversation_id"]})
    complete = view.complete()
    assert complete["data"]["cancelled"] is True
    assert widget.last is not None and widget.last.cancelled and not widget.busy
    view.frame({"message": "say still usable", "conversation_id": widget.conversation_id})
    assert view.complete(2)["data"]["message"] == "still usable"


def test_cancel_from_python(widget: ChatWidget, services: OfflineServices) -> None:
    FrontEnd(widget)
    hanging = hang_next_request(services)
    widget.ask("say this never arrives", wait=False)
    hanging()
    widget.cancel()
    result = widget.wait(TIMEOUT)
    assert result is not None and result.cancelled


def delete_question(services: OfflineServices, skip: int) -> tuple[str, str]:
    assert services.cluster is not None
    name = [n for ns, n in services.cluster.objects["pods"]
            if ns == "payments" and n.startswith("payments-api")][skip]
    args = orjson.dumps({"name": name, "namespace": "payments"}).decode()
    return name, f"call tool delete_pod with {args}"


@pytest.mark.parametrize("approved", [True, False])
def test_approval_frames(
    make_chat: Callable[..., KernelChat], services: OfflineServices, approved: bool
) -> None:
    widget = ChatWidget(chat=make_chat(read_only=False))
    view = FrontEnd(widget)
    name, question = delete_question(services, 0)
    view.frame({"message": question, "client_id": "c1"})
    ask = view.until(lambda e: e["type"] == "approval_required")["data"]
    assert ask["tool_name"] == "delete_pod" and name in ask["reason"]
    assert services.cluster is not None
    assert services.cluster.get("pods", "payments", name) is not None
    view.frame({"type": "approve", "tool_call_id": ask["tool_call_id"], "approved": approved})
    view.complete()
    end = next(e for e in view.events if e["type"] == "tool_call_end")["data"]
    assert end["status"] == ("completed" if approved else "denied")
    assert (services.cluster.get("pods", "payments", name) is None) == approved


def test_blocking_ask_decides_approvals_with_a_function(
    make_chat: Callable[..., KernelChat], services: OfflineServices
) -> None:
    widget = ChatWidget(chat=make_chat(read_only=False))
    requests: list[dict[str, Any]] = []

    def deny(request: dict[str, Any]) -> bool:
        requests.append(request)
        return False

    name, question = delete_question(services, 0)
    result = widget.ask(question, approve=deny, timeout=TIMEOUT)
    assert result is not None and result.tool_calls[0].status == "denied"
    assert requests[0]["arguments"]["name"] == name


def test_read_only_refuses_write_tools(widget: ChatWidget, services: OfflineServices) -> None:
    _, question = delete_question(services, 0)
    result = widget.ask(question, timeout=TIMEOUT)
    assert result is not None and result.tool_calls[0].status == "error"
    assert "read-only" in result.tool_calls[0].result


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"message": ""}, "invalid_message"),
        ({"type": "dance"}, "unknown_type"),
        ({"type": "approve", "tool_call_id": "x"}, "invalid_approved"),
        ({"message": "hi", "namespace": "Not A Namespace"}, "invalid_namespace"),
        ({"type": "resume", "conversation_id": "never-seen", "after_seq": 0}, "not_resumable"),
    ],
)
def test_bad_frames_are_refused_with_seq_zero(
    widget: ChatWidget, frame: dict[str, Any], code: str
) -> None:
    view = FrontEnd(widget)
    view.frame(frame)
    assert view.messages[-1]["type"] == "error" and view.messages[-1]["seq"] == 0
    assert view.messages[-1]["data"]["code"] == code
    assert not widget.busy


def test_second_message_while_busy_is_refused(
    widget: ChatWidget, services: OfflineServices
) -> None:
    view = FrontEnd(widget)
    hanging = hang_next_request(services)
    view.frame({"message": "say first", "client_id": "c1"})
    hanging()
    view.frame({"message": "say second", "conversation_id": widget.conversation_id,
                "client_id": "c2"})
    refusal = view.until(lambda e: e["seq"] == 0)
    assert refusal["data"]["code"] == "turn_in_progress"
    assert refusal["data"]["client_id"] == "c2"
    with pytest.raises(Exception, match="still answering"):
        widget.ask("say third")
    widget.cancel()
    assert widget.wait(TIMEOUT) is not None


def test_not_configured_is_explained_in_the_chat(make_chat: Callable[..., KernelChat]) -> None:
    widget = ChatWidget(chat=make_chat(base_url=None, api_key=None))
    view = FrontEnd(widget)
    view.frame({"message": "list pods", "client_id": "c1"})
    refusal = view.messages[-1]
    assert refusal["seq"] == 0 and refusal["data"]["code"] == "not_configured"
    assert refusal["data"]["client_id"] == "c1"
    assert "OPENAI_API_KEY" in refusal["data"]["message"]
    assert not widget.busy and widget.message == ""


def test_resume_replays_the_turn_after_a_seq(widget: ChatWidget) -> None:
    view = FrontEnd(widget)
    view.frame({"message": "list pods in payments"})
    complete = view.complete()
    before = len(view.events)
    view.frame({"type": "resume", "conversation_id": widget.conversation_id, "after_seq": 2})
    view.complete(2)
    replayed = view.events[before:]
    seqs = [e["seq"] for e in replayed]
    assert seqs == sorted(set(seqs)) and seqs[0] > 2
    assert replayed[-1] == complete
    assert {e["type"] for e in replayed} == {e["type"] for e in view.events[:before]
                                             if e["seq"] > 2}


def test_widget_uses_the_kernel_instance_by_default(
    make_chat: Callable[..., KernelChat], services: OfflineServices, tmp_path: Path
) -> None:
    chat = KernelChat.configure(Config({"KChat": {
        "model": "kchat-demo", "base_url": services.base_url, "api_key": "k",
        "kubeconfig": services.kubeconfig, "db_path": str(tmp_path / "h.sqlite3"),
    }}))
    try:
        widget = ChatWidget()
        assert widget.chat is chat
        result = widget.ask("say shared")
        assert result is not None and chat.history(result.conversation_id) is not None
    finally:
        KernelChat.reset()


def test_an_answer_from_ask_displays_its_tool_blocks_and_loads_nothing(widget: ChatWidget) -> None:
    """What ``chat.ask(...)`` leaves in the cell: the same static, safe HTML as ``%kchat``."""
    listed = widget.ask("list pods in payments")
    assert listed is not None
    html = listed._repr_html_()
    assert '<details class="kchat-tool"' in html and "list_pods(namespace=" in html
    assert "<table" in html and "payments-api" in html
    image = widget.ask("say ![x](http://127.0.0.1:9/exfil) <img src=http://127.0.0.1:9/img>")
    assert image is not None
    shown = image._repr_html_()
    assert "<img" not in shown and 'rel="noopener noreferrer"' in shown
    assert "http://127.0.0.1:9/exfil" in shown, "the URL is visible as a link"


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    yield InteractiveShell.instance(config=Config({"HistoryManager": {"hist_file": ":memory:"}}))
    InteractiveShell.clear_instance()


def test_a_displayed_widget_keeps_its_chat_as_static_html(
    widget: ChatWidget, make_chat: Callable[..., KernelChat], shell: InteractiveShell
) -> None:
    """The live view, then the chat as HTML under a display id that each finished turn updates:
    what a saved notebook shows where no widget runs. A question stays text there too."""
    with capture_output() as captured:
        widget._ipython_display_()
        widget.ask("list pods in payments")
        widget.ask(f"say hi {PAYLOAD}")
    view, copy, *updates = captured.outputs
    assert WIDGET_VIEW in view.data and not (view.transient or {}).get("display_id")
    display_id = copy.transient["display_id"]
    assert WIDGET_VIEW not in copy.data and "kchat-question" not in copy.data["text/html"]
    assert [u.transient["display_id"] for u in updates] == [display_id, display_id]
    assert all(u.update for u in updates), "updates of the copy, not new outputs"
    html = updates[-1].data["text/html"]
    assert html.index("list pods in payments") < html.index("list_pods(namespace=&#x27;payments")
    assert "&lt;img src=" in html and "<img" not in html
    assert widget._saved_copy_class in html, "the class a live view hides"
    assert "list pods in payments" in updates[-1].data["text/plain"]
    unshown = ChatWidget(chat=make_chat())
    with capture_output() as quiet:
        unshown.ask("list pods in payments")
    assert quiet.outputs == [], "a widget never displayed publishes nothing"


def test_a_widget_shown_while_answering_saves_the_answer_once_it_ends(
    widget: ChatWidget, services: OfflineServices, shell: InteractiveShell
) -> None:
    """Shown mid-answer, the copy says the question is being answered; the turn's end (here a
    cancel) replaces that with the finished turn, so a saved notebook never stays 'Answering'."""
    hanging = hang_next_request(services)
    with capture_output() as captured:
        widget.ask("say this is slow", wait=False)
        hanging()
        widget._ipython_display_()
        widget.cancel()
        result = widget.wait(TIMEOUT)
    assert result is not None and result.cancelled
    _view, copy, *updates = captured.outputs
    assert "Answering" in copy.data["text/html"] and "say this is slow" in copy.data["text/html"]
    assert updates and all(u.update for u in updates)
    final = updates[-1].data["text/html"]
    assert "Answering" not in final and final.count("say this is slow") == 1


@pytest.fixture(scope="module")
def big_cluster() -> Iterator[OfflineServices]:
    """A 10,000-pod sample cluster (no model: the widget asks the 60-pod services' model)."""
    running = start_offline_services(pods=10_000, model=False)
    yield running
    running.close()


def test_saved_events_keep_the_first_rows_and_the_total(
    make_chat: Callable[..., KernelChat], big_cluster: OfflineServices
) -> None:
    """The ``events`` trait (what a saved notebook keeps) holds a 10,000-pod call as history
    does: its first ``STORED_ROWS`` rows and ``rows_total``; the live view and the kernel's
    ``to_dataframe()`` still get every row."""
    assert big_cluster.cluster is not None
    pods = big_cluster.cluster.pod_count
    assert pods > STORED_ROWS
    widget = ChatWidget(chat=make_chat(kubeconfig=big_cluster.kubeconfig))
    view = FrontEnd(widget)
    view.frame({"message": "list all pods", "conversation_id": None, "client_id": "c1"})
    view.complete()
    live = next(e for e in view.events if e["type"] == "tool_call_end")["data"]
    assert len(live["data"]) == pods and "rows_total" not in live, "the live card has every row"

    kept = next(e for e in widget.events if e["type"] == "tool_call_end")["data"]
    assert kept["rows_total"] == pods
    assert kept["data"] == live["data"][:STORED_ROWS], "the first rows: problems come first"
    assert {k: v for k, v in kept.items() if k not in ("data", "rows_total")} == {
        k: v for k, v in live.items() if k != "data"
    }
    for entry in widget.events:
        assert problems("WidgetEntry", entry) == [], entry
    saved = len(orjson.dumps(widget.events))
    assert saved * 5 < len(orjson.dumps(view.events)), f"{saved:,} B kept for {pods:,} pods"

    assert widget.last is not None
    assert len(widget.last.to_dataframe()) == pods, "the kernel keeps every row"
