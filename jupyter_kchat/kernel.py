"""kchat inside a kernel: the server's turn manager on a background event loop.

The kernel's own loop is busy running the cell, so turns run on a private loop in a daemon
thread; the magics and the widget receive events through a thread-safe queue or a callback.
Configuration is the server's: the ``KChat`` section of the Jupyter config files (and of the
server's command line, when the server exports it in ``JUPYTER_KCHAT_CONFIG``), then the same
environment defaults, then per-call overrides. History goes to the same SQLite file, so a
conversation started in a notebook shows up in the side panel.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from traitlets.config import Config

from .config import CONFIG_ENV, KChat, load_jupyter_config
from .notebook_html import turn_html, turn_text, usage_text
from .protocol import ChatFrame, ClientFrame, ProtocolError
from .tools import KubeClients
from .turns import Follower, LoggedEvent, Turn, TurnManager

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
"""Seconds to wait for a turn to be recorded and started (a locked history file, at worst)."""

CANCEL_GRACE = 10.0
"""Seconds to wait for ``complete`` after an interrupt cancelled the turn."""

OFFLINE_HINT = (
    "To try kchat offline instead, run: "
    "from jupyter_kchat.sample.offline import use_offline_demo; use_offline_demo()"
)


def kernel_config() -> Config:
    """The server's ``KChat`` configuration as a kernel can read it.

    The ``jupyter_server_config`` files first, then what the server exported in
    ``JUPYTER_KCHAT_CONFIG`` (its command line included), which wins like it does in the server.
    """
    config = load_jupyter_config()
    raw = os.environ.get(CONFIG_ENV)
    if raw:
        try:
            section = json.loads(raw)
        except ValueError:
            log.warning("ignoring %s: not valid JSON", CONFIG_ENV)
        else:
            if isinstance(section, dict):
                config.merge(Config({"KChat": section}))
    return config


def rows_frame(rows: list[dict[str, Any]]) -> Any:
    """Rows as a pandas DataFrame in the tool's order (problems first); ``reason`` says why a
    row needs attention and is ``""`` for the others, so ``df[df.reason != ""]`` works."""
    import pandas as pd

    frame = pd.DataFrame.from_records(rows)
    if "reason" in frame.columns:
        frame["reason"] = frame["reason"].fillna("").astype(str)
    return frame


@dataclass(repr=False)
class ToolCall:
    """One tool call of an answer, as a notebook wants it."""

    id: str
    name: str
    arguments: dict[str, Any]
    status: str
    result: str
    rows: list[dict[str, Any]] | None = None
    duration_ms: float | None = None
    truncated: bool = False
    approval: str = ""
    """The change it asked the user to approve (write tools, while the turn runs)."""

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> ToolCall:
        """From ``tool_call_end`` data, or the merged events of a call still running."""
        return cls(
            id=data["tool_call_id"],
            name=data["tool_name"],
            arguments=data.get("arguments") or {},
            status=data.get("status", "running"),
            result=data.get("result", ""),
            rows=data.get("data"),
            duration_ms=data.get("duration_ms"),
            truncated=bool(data.get("truncated")),
            approval=data.get("approval", ""),
        )

    def to_dataframe(self) -> Any:
        """This call's rows as a pandas DataFrame (problems first, with their ``reason``)."""
        if self.rows is None:
            raise ValueError(f"{self.name} returned no rows (status {self.status})")
        return rows_frame(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        """Short: a call's rows can be thousands of pods."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        rows = "" if self.rows is None else f", {len(self.rows)} rows"
        return f"<ToolCall {self.name}({args}) {self.status}{rows}>"


@dataclass(repr=False)
class ChatResult:
    """The outcome of one question: the answer's text, its tool calls and their rows.

    ``usage`` is ``complete.data.usage``: ``prompt_tokens``, ``completion_tokens``,
    ``total_tokens``, ``context_window``, ``context_used`` (0..1), ``cost_usd`` when the price is
    known and ``estimated`` when the server sent no counts; None when no model answer finished.
    """

    text: str
    conversation_id: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    cancelled: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    question: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> list[dict[str, Any]] | None:
        """The rows of the last tool call that returned rows."""
        for call in reversed(self.tool_calls):
            if call.rows is not None:
                return call.rows
        return None

    def to_dataframe(self) -> Any:
        """The last tool's rows as a pandas DataFrame (for "list all pods": one row per pod,
        the ones that need attention first, with a ``reason`` column that says why)."""
        rows = self.rows
        if rows is None:
            raise ValueError(
                "this answer has no table: none of its tool calls returned rows "
                f"(tools called: {', '.join(c.name for c in self.tool_calls) or 'none'})"
            )
        return rows_frame(rows)

    def messages(self) -> list[dict[str, Any]]:
        """This turn as chat messages: the question, then the answer with its tool calls."""
        answer: dict[str, Any] = {
            "role": "assistant",
            "content": self.text,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
        }
        if self.cancelled:
            answer["cancelled"] = True
        if self.errors:
            answer["errors"] = [dict(e) for e in self.errors]
        return [{"role": "user", "content": self.question}, answer]

    def _parts(self) -> tuple[list[ToolCall], str, list[str], str]:
        errors = [str(e.get("message", "")) for e in self.errors]
        text = self.text or ("" if errors or self.cancelled else "(no answer)")
        status = "Stopped." if self.cancelled else usage_text(self.usage)
        return self.tool_calls, text, errors, status

    def _repr_html_(self) -> str:
        """Tool blocks and the answer as static HTML: safe, and readable without kchat."""
        return turn_html(*self._parts())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Plain-text front ends (a terminal) show the tool calls and the answer itself."""
        printer.text(turn_text(*self._parts()))

    def __repr__(self) -> str:
        tools = ", ".join(call.name for call in self.tool_calls)
        excerpt = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (
            f"<ChatResult conversation={self.conversation_id} tools=[{tools}] "
            f"text={excerpt!r}{' cancelled' if self.cancelled else ''}>"
        )


class _CellFollower:
    """A blocking ``ask``'s turn: its events (as wire dicts) onto a queue the cell reads."""

    def __init__(self) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.refusal: ProtocolError | None = None

    async def deliver(self, turn: Turn, batch: list[LoggedEvent]) -> bool:
        for event in batch:
            self.events.put(event.message())
        return True

    def refuse(self, error: ProtocolError) -> None:
        self.refusal = error


class KernelChat:
    """One per kernel (``KernelChat.instance()``): runs turns off the kernel's own loop."""

    _instance: KernelChat | None = None
    _instance_lock = threading.Lock()

    def __init__(self, config: Config | None = None) -> None:
        self.settings = KChat(config=config if config is not None else kernel_config())
        self.conversation_id: str | None = None
        """The conversation ``%kchat`` continues (one per kernel)."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kchat", daemon=True)
        self._thread.start()
        self.executor = ThreadPoolExecutor(
            self.settings.tool_threads, thread_name_prefix="kchat-tool"
        )
        self.turns = TurnManager.from_settings(self.settings, executor=self.executor)
        self.store = self.turns.store

    @classmethod
    def instance(cls) -> KernelChat:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def configure(cls, config: Config | None = None, **settings: Any) -> KernelChat:
        """Replace the kernel's instance: ``config`` (default: the server's configuration)
        with ``settings`` (``KChat`` trait values) on top. Running turns are stopped."""
        merged = kernel_config() if config is None else copy.deepcopy(config)
        if settings:
            merged.merge(Config({"KChat": settings}))
        chat = cls(merged)
        with cls._instance_lock:
            previous, cls._instance = cls._instance, chat
        if previous is not None:
            previous.close()
        return chat

    @classmethod
    def reset(cls) -> None:
        """Forget the shared instance (after a configuration change)."""
        with cls._instance_lock:
            previous, cls._instance = cls._instance, None
        if previous is not None:
            previous.close()

    def problems(self) -> list[str]:
        """What a user must set before asking: a model endpoint and a cluster."""
        problems = list(self.settings.problems())
        if not self.settings.kubeconfig and not KubeClients.in_cluster_available():
            problems.append(
                "No cluster is configured: set KUBECONFIG (or c.KChat.kubeconfig in "
                "jupyter_server_config.py), create ~/.kube/config, or run the kernel in a pod "
                "with a service account."
            )
        return problems

    def problem_message(self) -> str | None:
        """The configuration problems as one message a user can act on, or None."""
        problems = self.problems()
        if not problems:
            return None
        return (
            "kchat is not configured yet:\n- "
            + "\n- ".join(problems)
            + "\nSet them in Jupyter's environment or config, or in this kernel (for example "
            + "%env OPENAI_API_KEY=...), then ask again.\n"
            + OFFLINE_HINT
        )

    def _submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def handle(self, frame: ClientFrame, follower: Follower) -> Turn | None:
        """Hand a client frame to the turn manager (from any thread) and wait until it is
        taken: a chat has started, a resume is relayed, a refusal went to ``follower``.

        Interrupted while waiting, a chat is cancelled as soon as it has started.
        """
        future = self._handle(frame, follower)
        try:
            return future.result(START_TIMEOUT)
        except KeyboardInterrupt:
            self._cancel_when_started(future)
            raise

    def _handle(self, frame: ClientFrame, follower: Follower) -> Future[Turn | None]:
        return self._submit(self.turns.handle(frame, follower))

    def _cancel_when_started(self, future: Future[Turn | None]) -> None:
        def cancel(done: Future[Turn | None]) -> None:
            if not done.cancelled() and done.exception() is None:
                turn = done.result()
                if turn is not None:
                    self.cancel(turn.conversation_id)

        future.add_done_callback(cancel)

    def ask(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        model: str | None = None,
        namespace: str | None = None,
        context: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the events of one turn in the caller's thread, ending with ``complete``.

        An interrupt (the kernel's stop button) cancels the turn and still yields up to its
        ``complete``, so the partial answer is kept; a second interrupt gives up at once.
        Closing the iterator early cancels the turn too.
        """
        follower = _CellFollower()
        events = follower.events
        frame = ChatFrame(
            message=message,
            conversation_id=conversation_id,
            model=model,
            namespace=namespace,
            context=context,
        )
        future = self._handle(frame, follower)
        cancelled = False
        while True:
            try:
                started = future.result(START_TIMEOUT)
                break
            except KeyboardInterrupt:
                if cancelled:
                    self._cancel_when_started(future)
                    raise
                cancelled = True
        if started is None:
            assert follower.refusal is not None
            raise follower.refusal
        turn = started
        if cancelled:
            self.cancel(turn.conversation_id)
        finished = False
        try:
            while not finished:
                try:
                    event = events.get(timeout=CANCEL_GRACE) if cancelled else events.get()
                except KeyboardInterrupt:
                    if cancelled:
                        raise
                    cancelled = True
                    self.cancel(turn.conversation_id)
                    continue
                except queue.Empty:
                    raise KeyboardInterrupt from None
                finished = event["type"] == "complete"
                yield event
        finally:
            if not finished:
                self.cancel(turn.conversation_id)

    def cancel(self, conversation_id: str) -> None:
        """Stop the running turn of a conversation, if any (from any thread)."""

        def cancel() -> None:
            try:
                self.turns.cancel(conversation_id)
            except ProtocolError:
                pass

        self._loop.call_soon_threadsafe(cancel)

    def approve(self, tool_call_id: str, approved: bool) -> None:
        """Answer an ``approval_required`` (from any thread); unknown ids are ignored."""

        def approve() -> None:
            try:
                self.turns.approve(tool_call_id, approved)
            except ProtocolError:
                pass

        self._loop.call_soon_threadsafe(approve)

    def history(self, conversation_id: str) -> dict[str, Any] | None:
        """A stored conversation as the side panel shows it."""
        return self._submit(self.store.get_conversation(conversation_id)).result(START_TIMEOUT)

    def close(self) -> None:
        """Stop running turns, close the history file and the clients, end the thread."""

        if self._loop.is_running():
            try:
                self._submit(self.turns.close()).result(timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def result_from_events(events: list[dict[str, Any]], question: str = "") -> ChatResult:
    """Fold one turn's events into a ``ChatResult``: ``complete`` names the calls, each call's
    ``tool_call_end`` brings its rows (they travel once)."""
    complete = next(e["data"] for e in reversed(events) if e["type"] == "complete")
    ends = {e["data"]["tool_call_id"]: e["data"] for e in events if e["type"] == "tool_call_end"}
    return ChatResult(
        text=complete.get("message", ""),
        conversation_id=complete["conversation_id"],
        tool_calls=[
            ToolCall.from_event(ends.get(call["tool_call_id"], call))
            for call in complete.get("tool_calls", [])
        ],
        usage=complete.get("usage"),
        cancelled=bool(complete.get("cancelled")),
        errors=[e["data"] for e in events if e["type"] == "error"],
        question=question,
        events=events,
    )


def prompt_approval(data: dict[str, Any]) -> bool:
    """Ask the user in the cell (``input()``); a front end without stdin means no."""
    from IPython.core.error import StdinNotImplementedError

    try:
        answer = input(
            f"kchat wants to change the cluster: {data.get('reason') or data['tool_name']}\n"
            "Approve? [y/N] "
        )
    except (StdinNotImplementedError, EOFError):
        return False
    return answer.strip().lower() in ("y", "yes")
