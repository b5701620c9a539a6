"""``ChatWidget``: the kchat chat inside a notebook's output area, running in the kernel.

An anywidget, so it renders wherever Jupyter widgets do (JupyterLab, Notebook 7, VS Code). The
front end is the panel's chat view (``static/widget.js``); it sends the protocol's client
frames as custom messages and receives the protocol's events the same way. Turns run through
the kernel's ``KernelChat`` (the server's engine, tools, configuration and history store), and
the Python side keeps the conversation (``.messages``, ``.last``) for the next cell to analyse.

A displayed widget also shows the chat as static HTML (questions, tool blocks, answers) in an
output of its own, updated after each turn, so a saved notebook reads the same on GitHub,
nbviewer or through nbconvert where no widget runs; a live view hides that copy.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anywidget
import orjson
from IPython.display import display, update_display
from traitlets import Bool, List, Unicode

from .kernel import CANCEL_GRACE, ChatResult, KernelChat, prompt_approval, result_from_events
from .notebook_html import conversation_html
from .protocol import ChatFrame, ProtocolError, error_event, parse_body
from .protocol.envelope import user_entry, widget_message
from .store import stored_view
from .turns import LoggedEvent, Turn, merge_runs

WIDGET_JS = Path(__file__).parent / "static" / "widget.js"

Approver = Callable[[dict[str, Any]], bool]
"""Decides an ``approval_required`` (its ``data``) during a blocking ``ask()``."""


class FrontEndMissingError(ImportError):
    """The package was installed without its built front end (``static/widget.js``)."""


def front_end(path: Path = WIDGET_JS) -> Path:
    """The widget's bundled ESM, or a clear error when the package was built without it."""
    if not path.is_file():
        raise FrontEndMissingError(
            f"jupyter-kchat was installed without its front end: {path} is missing, so "
            "ChatWidget cannot render (the %kchat magic still works). Install a released "
            "wheel (pip install jupyter-kchat), or build the front end from a source checkout "
            "(cd labextension && jlpm install && jlpm build) and reinstall."
        )
    return path


def merged_messages(
    events: list[LoggedEvent], messages: list[dict[str, Any]], conversation_id: str
) -> list[dict[str, Any]]:
    """``events`` with their text runs merged (fewer, larger messages for the front end), as wire
    dicts: ``messages`` (``events`` decoded) are reused wherever an event stands alone."""
    decoded = {id(event): message for event, message in zip(events, messages, strict=True)}
    return [
        decoded[id(event)] if id(event) in decoded else event.message()
        for event in merge_runs(events, conversation_id)
    ]


def kept_entry(message: dict[str, Any]) -> dict[str, Any]:
    """An entry as the ``events`` trait keeps it: a ``tool_call_end`` with its rows bounded as
    history bounds them (``stored_view``: the first ``STORED_ROWS`` and ``rows_total``), so a
    saved notebook's widget state stays small; live views get every row by message."""
    if message["type"] != "tool_call_end":
        return message
    return {**message, "data": stored_view(message["data"])}


@dataclass(eq=False)
class _Pending:
    """A turn of this widget, and the follower its events come through: its events so far,
    and how a blocking ``ask`` waits on it."""

    widget: ChatWidget
    question: str
    first: bool
    """The conversation's first question (kept in ``message``, not as a ``user`` entry)."""
    conversation_id: str | None = None
    logged: list[LoggedEvent] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    approvals: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    done: threading.Event = field(default_factory=threading.Event)
    result: ChatResult | None = None
    refusal: ProtocolError | None = None

    async def deliver(self, turn: Turn, batch: list[LoggedEvent]) -> bool:
        self.widget._on_events(self, turn, batch)
        return True

    def refuse(self, error: ProtocolError) -> None:
        self.refusal = error
        self.widget._undo(self)
        self.widget._refuse(error)


class _Views:
    """The widget's views as a follower: replays they ``resume``, refusals of their frames."""

    def __init__(self, widget: ChatWidget) -> None:
        self.widget = widget

    async def deliver(self, turn: Turn, batch: list[LoggedEvent]) -> bool:
        self.widget._forward([e.message() for e in merge_runs(batch, turn.conversation_id)])
        return True

    def refuse(self, error: ProtocolError) -> None:
        self.widget._refuse(error)


class ChatWidget(anywidget.AnyWidget):
    """Chat with your cluster in the output area; ``.messages`` and ``.last`` keep what it found.

    ``ChatWidget()`` shows an empty chat; ``ChatWidget("list all pods")`` asks at once.
    ``model``, ``namespace`` and ``context`` apply to every question asked here.
    """

    _esm = front_end()

    conversation_id = Unicode(None, allow_none=True).tag(sync=True)
    busy = Bool(False).tag(sync=True)
    message = Unicode("").tag(sync=True)
    """The conversation's first question; the front end shows it first when a view renders."""
    events = List().tag(sync=True)
    """What a view rendered later replays: finished turns' events (text merged, each call's rows
    bounded by ``kept_entry``), and a ``user`` entry before each later turn."""
    _saved_copy_class = Unicode("").tag(sync=True)
    """The class of this widget's static copy in the output area: a live view hides it."""

    def __init__(
        self,
        question: str | None = None,
        *,
        model: str | None = None,
        namespace: str | None = None,
        context: str | None = None,
        chat: KernelChat | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.namespace = namespace
        self.context = context
        self.results: list[ChatResult] = []
        self._chat = chat
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        self._views = _Views(self)
        self._display_id = f"kchat-chat-{uuid.uuid4().hex}"
        self._displayed = False
        self._copy_lock = threading.Lock()
        """Orders showing the static copy and a finishing turn's update of it."""
        self._turn_html: list[tuple[str, str]] = []
        """Each finished turn's question and HTML, rendered once for the static copy."""
        self._saved_copy_class = f"kchat-saved-copy-{uuid.uuid4().hex}"
        self.on_msg(self._on_frame)
        if question:
            self.ask(question, wait=False)

    @property
    def chat(self) -> KernelChat:
        """The kernel's chat runtime (the one ``%kchat`` uses, unless one was given)."""
        return self._chat if self._chat is not None else KernelChat.instance()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation so far: ``{"role", "content"}`` dicts; answers carry ``tool_calls``."""
        return [message for result in self.results for message in result.messages()]

    @property
    def last(self) -> ChatResult | None:
        """The last finished answer (``.text``, ``.tool_calls``, ``.to_dataframe()``)."""
        return self.results[-1] if self.results else None

    def ask(
        self,
        question: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        approve: bool | Approver | None = None,
    ) -> ChatResult | None:
        """Ask from Python; the answer streams into every view of this widget.

        With ``wait`` (the default) block until the answer is complete and return it. Changes
        that need approval are decided by ``approve`` (a bool, or a function of the request),
        else asked with ``input()``: while a cell waits here, the widget's buttons cannot
        reach the kernel. ``wait=False`` returns at once; ``wait()`` or ``.last`` later.
        """
        frame = ChatFrame(
            message=question,
            conversation_id=self.conversation_id,
            client_id=f"py-{uuid.uuid4().hex[:12]}",
        )
        pending = self._start(frame, from_python=True)
        if not wait:
            return None
        return self._wait(pending, timeout, approve)

    def wait(self, timeout: float | None = None) -> ChatResult | None:
        """Wait for the running answer (if any) and return the last one.

        Also refreshes the chat's static copy from this cell: an answer that ended while no
        cell ran (a headless run by nbclient or papermill) reaches the saved notebook too.
        """
        pending = self._pending
        if pending is not None:
            self._wait(pending, timeout, None)
        if self._displayed:
            update_display(self._saved_copy(None), raw=True, display_id=self._display_id)
        return self.last

    def cancel(self) -> None:
        """Stop the running answer (like the Stop button)."""
        pending = self._pending
        if pending is not None and pending.conversation_id and not pending.done.is_set():
            self.chat.cancel(pending.conversation_id)

    def approve(self, tool_call_id: str, approved: bool) -> None:
        """Answer a change waiting for approval (like the Approve / Deny buttons)."""
        self.chat.approve(tool_call_id, approved)

    def close(self) -> None:
        self.cancel()
        super().close()

    def _ipython_display_(self) -> None:
        """The live view, then the chat as static HTML under this widget's display id (kept up
        to date after each turn): what a saved notebook shows where no widget runs."""
        bundle = self._repr_mimebundle_()
        if bundle is None:
            return
        data, metadata = bundle
        display(data, metadata=metadata, raw=True)
        with self._copy_lock:  # a turn ending now updates the copy after it is shown
            pending = self._pending
            running = pending is not None and pending.result is None and not pending.done.is_set()
            display(
                self._saved_copy(pending.question if running else None),
                raw=True,
                display_id=self._display_id,
            )
            self._displayed = True

    def _saved_copy(self, waiting: str | None) -> dict[str, str]:
        """The chat so far as ``text/html`` (tool blocks with their first rows, as the magics
        show them) and ``text/plain``; ``waiting`` is a question still being answered."""
        with self._lock:  # the kchat thread and a cell (display, wait) may both get here
            results = list(self.results)
            for result in results[len(self._turn_html) :]:
                self._turn_html.append((result.question, result._repr_html_()))
            turns = self._turn_html[: len(results)]
        html = conversation_html(turns, waiting, self._saved_copy_class)
        text = "\n\n".join(f"> {result.question}\n{result.text}" for result in results)
        return {"text/html": html, "text/plain": text or "kchat chat (no answers yet)"}

    def _wait(
        self, pending: _Pending, timeout: float | None, approve: bool | Approver | None
    ) -> ChatResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not pending.done.is_set():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                request = pending.approvals.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(f"no answer within {timeout} s; it is still running") from None
            except KeyboardInterrupt:
                self.cancel()
                if not pending.done.wait(CANCEL_GRACE):
                    raise
                break
            if request is None:
                continue
            if callable(approve):
                decision = bool(approve(request))
            elif approve is not None:
                decision = bool(approve)
            else:
                decision = prompt_approval(request)
            self.approve(request["tool_call_id"], decision)
        assert pending.result is not None
        return pending.result

    def _on_frame(self, widget: Any, content: Any, buffers: list[bytes]) -> None:
        """A client frame from a view (the comm's custom message): parse, authorize, hand over,
        as the socket does."""
        try:
            frame = parse_body(content, max_message_chars=self.chat.settings.max_message_chars)
            if isinstance(frame, ChatFrame):
                self._start(frame, from_python=False)
                return
        except ProtocolError as exc:
            self._refuse(exc)
            return
        self.chat.handle(frame, self._views)

    def _start(self, frame: ChatFrame, *, from_python: bool) -> _Pending:
        """Authorize a chat here (configured, not busy), then hand it over with its follower."""
        ids = {"conversation_id": frame.conversation_id, "client_id": frame.client_id}
        chat = self.chat
        problem = chat.problem_message()
        if problem:
            raise ProtocolError("not_configured", problem, **ids)
        frame = replace(
            frame,
            model=frame.model or self.model,
            namespace=frame.namespace or self.namespace,
            context=frame.context or self.context,
        )
        with self._lock:
            if self._pending is not None and not self._pending.done.is_set():
                raise ProtocolError(
                    "turn_in_progress",
                    "this chat is still answering; wait for it or cancel it",
                    **ids,
                )
            first = not self.message and not self.events
            pending = self._pending = _Pending(self, frame.message, first)
        if first:
            self.message = frame.message
        else:
            self.events = [*self.events, user_entry(frame.message)]
        if from_python:
            self._to_views(user_entry(frame.message, frame.client_id))
        self.busy = True
        try:
            turn = chat.handle(frame, pending)
        except BaseException:
            self._undo(pending)
            raise
        if turn is None:
            if from_python and pending.refusal is not None:
                raise pending.refusal
            return pending
        pending.conversation_id = turn.conversation_id
        self.conversation_id = turn.conversation_id
        return pending

    def _undo(self, pending: _Pending) -> None:
        """A turn that did not start leaves the widget as it was."""
        with self._lock:
            if self._pending is pending:
                self._pending = None
        pending.done.set()
        self.busy = False
        if pending.first:
            self.message = ""
        else:
            self.events = self.events[:-1]

    def _on_events(self, pending: _Pending, turn: Turn, batch: list[LoggedEvent]) -> None:
        """On the kchat thread: keep the events, finish the turn on ``complete``, forward."""
        messages = [event.message() for event in batch]
        pending.logged.extend(batch)
        pending.events.extend(messages)
        if pending.conversation_id is None:
            pending.conversation_id = turn.conversation_id
        for message in messages:
            if message["type"] == "approval_required":
                pending.approvals.put(message["data"])
        forwarded = merged_messages(batch, messages, turn.conversation_id)
        if batch[-1].type != "complete":
            self._forward(forwarded)
            return
        result = result_from_events(pending.events, pending.question)
        pending.result = result
        self.results.append(result)
        merged = merged_messages(pending.logged, pending.events, turn.conversation_id)
        self.events = [*self.events, *map(kept_entry, merged)]
        self.conversation_id = result.conversation_id
        self.busy = False
        try:
            self._forward(forwarded)
            with self._copy_lock:
                if self._displayed:
                    # Before ``done``: a blocking ask() returns with its cell's copy up to date.
                    update_display(self._saved_copy(None), raw=True, display_id=self._display_id)
        finally:
            pending.done.set()
            pending.approvals.put(None)

    def _forward(self, messages: list[dict[str, Any]]) -> None:
        self._to_views(widget_message(messages))

    def _refuse(self, error: ProtocolError) -> None:
        self._to_views(orjson.loads(error_event(error)))

    def _to_views(self, message: dict[str, Any]) -> None:
        """To every view; a closed widget (no comm) just keeps the Python side."""
        if self.comm is not None:
            self.send(message)
