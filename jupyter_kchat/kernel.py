"""kchat inside a kernel: the server's turn manager on a background event loop.

The kernel's own loop is busy running the cell, so turns run on a private loop in a daemon
thread; the magics and the widget receive events through a thread-safe queue or a callback.
Configuration is the server's: the ``KChat`` section of the Jupyter config files, then the same
environment defaults, then per-call overrides. History goes to the same SQLite file, so a
conversation started in a notebook shows up in the side panel.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from traitlets.config import Config

from .config import KChat, load_jupyter_config
from .llm import ModelClient
from .protocol import ChatFrame, ProtocolError
from .store import HistoryStore
from .tools import KubeClients, default_registry
from .turns import Turn, TurnManager

EventCallback = Callable[[dict[str, Any]], None]


@dataclass
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

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> ToolCall:
        return cls(
            id=data["tool_call_id"],
            name=data["tool_name"],
            arguments=data.get("arguments") or {},
            status=data["status"],
            result=data.get("result", ""),
            rows=data.get("data"),
            duration_ms=data.get("duration_ms"),
            truncated=bool(data.get("truncated")),
        )


@dataclass
class ChatResult:
    """The outcome of one question: the answer's text, its tool calls and their rows."""

    text: str
    conversation_id: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, int] | None = None
    cancelled: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def rows(self) -> list[dict[str, Any]] | None:
        """The rows of the last tool call that returned rows."""
        for call in reversed(self.tool_calls):
            if call.rows:
                return call.rows
        return None

    def to_dataframe(self) -> Any:
        """The last tool's rows as a pandas DataFrame (for "list all pods": one row per pod)."""
        import pandas as pd

        rows = self.rows
        if rows is None:
            raise ValueError(
                "this answer has no table: none of its tool calls returned rows "
                f"(tools called: {', '.join(c.name for c in self.tool_calls) or 'none'})"
            )
        return pd.DataFrame.from_records(rows)

    def _repr_markdown_(self) -> str:
        text = self.text or "_(no answer)_"
        if self.errors:
            text += "\n\n" + "\n".join(f"> **Error:** {e['message']}" for e in self.errors)
        return text


class KernelChat:
    """One per kernel (``KernelChat.instance()``): runs turns off the kernel's own loop."""

    _instance: KernelChat | None = None
    _instance_lock = threading.Lock()

    def __init__(self, config: Config | None = None) -> None:
        self.settings = KChat(config=config if config is not None else load_jupyter_config())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kchat", daemon=True)
        self._thread.start()
        self.executor = ThreadPoolExecutor(8, thread_name_prefix="kchat-tool")
        self.store = HistoryStore(self.settings.db_path)
        self.model = ModelClient(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            extra_headers=self.settings.extra_headers,
            max_retries=self.settings.model_max_retries,
            timeout=self.settings.model_timeout,
        )
        self.kube = KubeClients(kubeconfig=self.settings.kubeconfig, context=self.settings.context)
        self.turns = TurnManager(
            self.settings,
            store=self.store,
            model=self.model,
            tools=default_registry(),
            kube=self.kube,
            executor=self.executor,
        )

    @classmethod
    def instance(cls) -> KernelChat:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def reset(cls) -> None:
        """Forget the shared instance (after a configuration change)."""
        with cls._instance_lock:
            if cls._instance is not None:
                cls._instance.close()
            cls._instance = None

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

    def _submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def start(self, frame: ChatFrame, on_event: EventCallback) -> Turn:
        """Start a turn and call ``on_event`` (from the kchat thread) for each event."""

        async def run() -> Turn:
            turn = await self.turns.start(frame)

            async def relay() -> None:
                async for batch in turn.follow(turn.first_seq - 1):
                    for event in batch:
                        on_event({"type": event.type, "data": {**event.data,
                                  "conversation_id": turn.conversation_id}, "seq": event.seq})

            asyncio.create_task(relay())
            return turn

        return self._submit(run()).result()

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

        Closing the iterator early (KeyboardInterrupt in a cell) cancels the turn.
        """
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        frame = ChatFrame(
            message=message,
            conversation_id=conversation_id,
            model=model,
            namespace=namespace,
            context=context,
        )
        turn = self.start(frame, events.put)
        finished = False
        try:
            while not finished:
                event = events.get()
                finished = event["type"] == "complete"
                yield event
        finally:
            if not finished:
                self.cancel(turn.conversation_id)

    def cancel(self, conversation_id: str) -> None:
        def cancel() -> None:
            try:
                self.turns.cancel(conversation_id)
            except ProtocolError:
                pass

        self._loop.call_soon_threadsafe(cancel)

    def approve(self, tool_call_id: str, approved: bool) -> None:
        def approve() -> None:
            try:
                self.turns.approve(tool_call_id, approved)
            except ProtocolError:
                pass

        self._loop.call_soon_threadsafe(approve)

    def history(self, conversation_id: str) -> dict[str, Any] | None:
        return self._submit(self.store.get_conversation(conversation_id)).result()

    def close(self) -> None:
        async def shutdown() -> None:
            await self.turns.shutdown()
            await self.store.close()
            await self.model.close()

        if self._loop.is_running():
            self._submit(shutdown()).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self.kube.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def result_from_events(events: list[dict[str, Any]]) -> ChatResult:
    """Fold one turn's events into a ``ChatResult``."""
    complete = next(e["data"] for e in reversed(events) if e["type"] == "complete")
    return ChatResult(
        text=complete.get("message", ""),
        conversation_id=complete["conversation_id"],
        tool_calls=[ToolCall.from_event(d) for d in complete.get("tool_calls", [])],
        usage=complete.get("usage"),
        cancelled=bool(complete.get("cancelled")),
        errors=[e["data"] for e in events if e["type"] == "error"],
        events=events,
    )
