"""Running turns: each conversation's numbered event log, fan-out, resume, cancel and approval.

A turn runs as its own task, independent of any socket: a client that drops and comes back
``resume``s from the last ``seq`` it saw, and several clients may follow one turn. Every turn
ends with exactly one ``complete``, whatever happens inside the engine. ``TurnManager.handle``
is the one frame router: the socket, the widget and ``%kchat`` parse and authorize a frame, then
hand it over with a ``Follower`` that gets the events and refusals. No Tornado here, so the
kernel (magics, widget) runs turns exactly as the server does.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from .config import KChat
from .context import ContextWindows
from .engine import TurnOptions, process_message_stream, warm_up
from .llm import ModelClient
from .mcp.client import MCPClients
from .protocol import (
    ApproveFrame,
    CancelFrame,
    ChatFrame,
    ClientFrame,
    Event,
    ProtocolError,
    ResumeFrame,
    TurnAccount,
    encode_event,
)
from .store import HistoryStore
from .tools import default_registry
from .tools.base import ToolContext, ToolRegistry
from .tools.card import ClusterCards
from .tools.kube import KubeClients

log = logging.getLogger(__name__)


@dataclass
class LoggedEvent:
    """One numbered event, encoded once for every follower.

    A compacted event stands for the text (or reasoning) events ``first_seq..seq``; ``ends``
    holds the offset where each of them ended, so a follower resuming inside the range gets only
    the rest.
    """

    seq: int
    type: str
    data: dict[str, Any]
    wire: str
    first_seq: int = 0
    ends: tuple[int, ...] = ()

    def after(self, seq: int, conversation_id: str) -> LoggedEvent:
        """This event as seen by a follower that already has everything up to ``seq``."""
        key = chunk_key(self)
        if seq < self.first_seq or not self.ends or key is None:
            return self
        rest = {**self.data, key: self.data[key][self.ends[seq - self.first_seq] :]}
        wire = encode_event(self.type, rest, conversation_id=conversation_id, seq=self.seq)
        return LoggedEvent(self.seq, self.type, rest, wire)

    def message(self) -> dict[str, Any]:
        """This event as a decoded wire message, for followers that pass dicts on (the kernel):
        exactly what the socket sends, from the one encoding, and a copy nobody else holds."""
        message: dict[str, Any] = orjson.loads(self.wire)
        return message


def chunk_key(event: LoggedEvent) -> str | None:
    """The field a client appends for this event (text, or a reasoning chunk), else None."""
    if event.type == "text":
        return "text"
    if event.type == "thinking" and "reasoning" in event.data:
        return "reasoning"
    return None


def merge_runs(events: list[LoggedEvent], conversation_id: str | None) -> list[LoggedEvent]:
    """Each run of consecutive text (or reasoning) events as one event with the run's last
    ``seq`` (one pass): the turn log stays bounded and a widget gets fewer, larger messages.
    A client appends these chunks and dedupes by ``seq``, so the merged event reads the same."""
    merged: list[LoggedEvent] = []
    run: list[LoggedEvent] = []
    for event in [*events, None]:
        key = chunk_key(event) if event is not None else None
        if run and (key is None or key != chunk_key(run[0])):
            merged.append(run[0] if len(run) == 1 else _merge(run, conversation_id))
            run = []
        if key is not None:
            run.append(event)
        elif event is not None:
            merged.append(event)
    return merged


def _merge(run: list[LoggedEvent], conversation_id: str | None) -> LoggedEvent:
    """One event standing for ``run`` (all text, or all reasoning), remembering where each part
    ended so a follower resuming inside it gets only the rest."""
    key = chunk_key(run[0])
    assert key is not None
    ends: list[int] = []
    length = 0
    for event in run:
        for end in event.ends or (len(event.data[key]),):
            ends.append(length + end)
        length += len(event.data[key])
    data = {**run[0].data, key: "".join(event.data[key] for event in run)}
    last = run[-1].seq
    kind = run[0].type
    wire = encode_event(kind, data, conversation_id=conversation_id, seq=last)
    first = run[0].first_seq if run[0].ends else run[0].seq
    return LoggedEvent(last, kind, data, wire, first, tuple(ends))


class Turn:
    """One user message being answered: its events so far and who is waiting for more."""

    def __init__(self, conversation_id: str, first_seq: int, max_events: int) -> None:
        self.conversation_id = conversation_id
        self.first_seq = first_seq
        self.next_seq = first_seq
        self.events: list[LoggedEvent] = []
        self.max_events = max_events
        self.done = False
        self.task: asyncio.Task[None] | None = None
        self.approvals: dict[str, asyncio.Future[bool]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.account = TurnAccount()
        """Kept by the engine as it yields; closes the turn when it is cancelled."""

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    def publish(self, event_type: str, data: dict[str, Any]) -> LoggedEvent:
        """Number an event, keep it for resume, and wake every follower."""
        seq = self.next_seq
        self.next_seq += 1
        logged = LoggedEvent(
            seq,
            event_type,
            data,
            encode_event(event_type, data, conversation_id=self.conversation_id, seq=seq),
        )
        self.events.append(logged)
        if event_type == "complete":
            self.done = True
        if len(self.events) > self.max_events:
            self._compact()
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return logged

    async def _changed(self) -> None:
        """Wait for the next event (cheap: no object per event when nobody waits)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _compact(self) -> None:
        """Merge runs of text (and of reasoning) events so a very long answer keeps a bounded
        log."""
        self.events = merge_runs(self.events, self.conversation_id)
        self.max_events = max(self.max_events, 2 * len(self.events))

    async def follow(self, after_seq: int = 0) -> AsyncIterator[list[LoggedEvent]]:
        """Yield batches of events with ``seq > after_seq`` as they come, until ``complete``."""
        while True:
            start = bisect.bisect_right(self.events, after_seq, key=lambda e: e.seq)
            if start < len(self.events):
                batch = self.events[start:]
                if batch[0].ends and batch[0].first_seq <= after_seq:
                    batch[0] = batch[0].after(after_seq, self.conversation_id)
                after_seq = batch[-1].seq
                yield batch
                continue
            if self.done:
                return
            await self._changed()

    async def started(self) -> None:
        """Wait for the first event: by then the question is in the history store."""
        while not self.events:
            await self._changed()

    def finish_cancelled(self) -> None:
        """End the turn as the user asked: close open tool cards, then ``complete``."""
        for event in self.account.cancel():
            self.publish(event.type, event.data)

    def finish_failed(self, message: str) -> None:
        """The engine broke: say so, and still end with ``complete``."""
        self.publish("error", {"message": message, "code": "internal_error", "retryable": True})
        complete = self.account.complete()
        self.publish(complete.type, complete.data)


class Follower(Protocol):
    """Who a client frame is answered to: the socket, a widget's views, a notebook cell."""

    async def deliver(self, turn: Turn, batch: list[LoggedEvent]) -> bool:
        """Pass on a batch of ``turn``'s events, in order; False when nobody listens any more
        (the relay stops)."""

    def refuse(self, error: ProtocolError) -> None:
        """Tell the client its frame was refused (it started nothing, so no ``complete``)."""


class TurnManager:
    """The one frame router: starts turns from chat frames, routes cancel / approve / resume
    to them and relays each turn's events to its followers."""

    def __init__(
        self,
        settings: KChat,
        *,
        store: HistoryStore,
        model: ModelClient,
        tools: ToolRegistry,
        kube: KubeClients,
        executor: Executor | None = None,
        mcp: MCPClients | None = None,
        max_retained_turns: int = 256,
        max_events_per_turn: int = 20_000,
    ) -> None:
        self.settings = settings
        self.store = store
        self.model = model
        self.tools = tools
        self.kube = kube
        self.executor = executor
        self.mcp = mcp
        self.max_retained_turns = max_retained_turns
        self.max_events_per_turn = max_events_per_turn
        self.windows = ContextWindows(settings.context_window, probe=model.context_window)
        self.cards = ClusterCards(executor)
        self._turns: OrderedDict[str, Turn] = OrderedDict()
        self._approval_owner: dict[str, Turn] = {}
        self._starting: set[str] = set()
        self._relays: dict[int, dict[str, asyncio.Task[None]]] = {}

    @classmethod
    def from_settings(cls, settings: KChat, *, executor: Executor | None = None) -> TurnManager:
        """Everything a turn needs, built from ``KChat``: the server and kernels share this."""
        tools = default_registry()
        return cls(
            settings,
            store=HistoryStore(settings.db_path),
            model=ModelClient(
                api_key=settings.api_key,
                base_url=settings.base_url,
                extra_headers=settings.extra_headers,
                max_retries=settings.model_max_retries,
                timeout=settings.model_timeout,
                first_token_timeout=settings.first_token_timeout,
                stall_timeout=settings.stream_stall_timeout,
                max_answer_tokens=settings.max_answer_tokens,
                token_parameter=settings.max_tokens_parameter,
            ),
            tools=tools,
            kube=KubeClients(kubeconfig=settings.kubeconfig, context=settings.context),
            executor=executor,
            mcp=MCPClients(
                settings.mcp_servers, tools, start_timeout=settings.mcp_start_timeout
            ),
        )

    async def close(self) -> None:
        """Stop running turns, then close the history file and the clients."""
        await self.shutdown()
        for relays in list(self._relays.values()):
            for task in list(relays.values()):
                task.cancel()
        if self.mcp is not None:
            await self.mcp.close()
        await self.store.close()
        await self.model.close()
        self.kube.close()

    async def warm(self) -> None:
        """Ready at server start what the first message would wait for (see ``warm_up``)."""
        try:
            await self.store.open()
            await warm_up(
                tools=self.tools,
                tool_context=self._tool_context(ChatFrame(message="")),
                model=self.settings.model,
                read_only=self.settings.read_only,
                cluster_card=self.settings.cluster_card,
                executor=self.executor,
                cards=self.cards,
            )
        except Exception:  # the first turn reports what is wrong, in the chat
            log.warning("kchat could not get ready ahead of the first message", exc_info=True)

    def turn(self, conversation_id: str) -> Turn | None:
        return self._turns.get(conversation_id)

    async def handle(self, frame: ClientFrame, follower: Follower) -> Turn | None:
        """Do what a parsed, authorized client frame asks; events and refusals go to
        ``follower``. Returns the turn a chat started or a resume follows, else None."""
        try:
            if isinstance(frame, ChatFrame):
                turn = await self.start(frame)
                self.follow(turn, turn.first_seq - 1, follower)
                return turn
            if isinstance(frame, ResumeFrame):
                turn = self.resumable(frame.conversation_id)
                self.follow(turn, frame.after_seq, follower)
                return turn
            if isinstance(frame, CancelFrame):
                self.cancel(frame.conversation_id)
            elif isinstance(frame, ApproveFrame):
                self.approve(frame.tool_call_id, frame.approved)
        except ProtocolError as exc:
            follower.refuse(exc)
        return None

    def follow(self, turn: Turn, after_seq: int, follower: Follower) -> None:
        """Relay ``turn``'s events after ``after_seq`` to ``follower`` until ``complete``; a
        follower follows a conversation once, so a resume replaces its previous relay."""
        relays = self._relays.setdefault(id(follower), {})
        previous = relays.pop(turn.conversation_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._relay(turn, after_seq, follower))
        relays[turn.conversation_id] = task
        task.add_done_callback(lambda done: self._forget(id(follower), turn.conversation_id, done))

    def detach(self, follower: Follower) -> None:
        """Stop relaying to ``follower`` (a closed socket); its turns keep running."""
        for task in self._relays.pop(id(follower), {}).values():
            task.cancel()

    def _forget(self, key: int, conversation_id: str, task: asyncio.Task[None]) -> None:
        relays = self._relays.get(key)
        if relays is not None and relays.get(conversation_id) is task:
            del relays[conversation_id]
            if not relays:
                del self._relays[key]

    @staticmethod
    async def _relay(turn: Turn, after_seq: int, follower: Follower) -> None:
        """The running task keeps ``follower`` alive, so its ``id`` names it while relayed to."""
        async for batch in turn.follow(after_seq):
            try:
                if not await follower.deliver(turn, batch):
                    return
            except Exception:
                log.exception("a follower of conversation %s failed", turn.conversation_id)

    def running(self, conversation_id: str) -> bool:
        turn = self._turns.get(conversation_id)
        return turn is not None and not turn.done

    async def start(self, frame: ChatFrame) -> Turn:
        """Create or continue the conversation, then run the turn in the background."""
        if self.mcp is not None:
            await self.mcp.start()
        ids = {"conversation_id": frame.conversation_id, "client_id": frame.client_id}
        model = frame.model or self.settings.model
        conversation_id = frame.conversation_id
        if conversation_id is None:
            conversation_id = str(uuid.uuid4())
            title = " ".join(frame.message.split())[:80]
            await self.store.create_conversation(conversation_id, title, model)
            first_seq = 1
        else:
            if self.running(conversation_id) or conversation_id in self._starting:
                raise ProtocolError(
                    "turn_in_progress",
                    "this conversation is still answering; wait for 'complete' or send 'cancel'",
                    **ids,
                )
            self._starting.add(conversation_id)
            try:
                stored_seq = await self.store.last_seq(conversation_id)
                if stored_seq is None:
                    raise ProtocolError(
                        "unknown_conversation",
                        f"no conversation {conversation_id!r}; send conversation_id null to start "
                        "a new one",
                        **ids,
                    )
                previous = self._turns.get(conversation_id)
                first_seq = max(previous.next_seq if previous else 1, stored_seq + 1)
            finally:
                self._starting.discard(conversation_id)
        turn = Turn(conversation_id, first_seq, self.max_events_per_turn)
        self._retain(turn)
        turn.task = asyncio.create_task(self._run(turn, frame, model))
        await turn.started()
        return turn

    def _retain(self, turn: Turn) -> None:
        self._turns.pop(turn.conversation_id, None)
        self._turns[turn.conversation_id] = turn
        while len(self._turns) > self.max_retained_turns:
            oldest_id, oldest = next(iter(self._turns.items()))
            if not oldest.done:
                break
            del self._turns[oldest_id]

    def _tool_context(self, frame: ChatFrame) -> Callable[[], ToolContext]:
        def build() -> ToolContext:
            return ToolContext(
                cluster=self.kube.cluster(frame.context or self.settings.context),
                namespace=frame.namespace or self.settings.namespace,
                budget=self.settings.tool_result_budget,
                timeout=self.settings.tool_timeout,
                clients=self.kube,
            )

        return build

    async def _run(self, turn: Turn, frame: ChatFrame, model: str) -> None:
        conversation_id = turn.conversation_id
        settings = self.settings

        async def record(message: dict[str, Any], tool: dict[str, Any] | None) -> None:
            await self.store.append_message(conversation_id, message, tool)

        async def approve(call_id: str, name: str, args: dict[str, Any], reason: str) -> bool:
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            turn.approvals[call_id] = future
            self._approval_owner[call_id] = turn
            try:
                return await asyncio.wait_for(future, settings.approval_timeout)
            except TimeoutError:
                return False
            finally:
                turn.approvals.pop(call_id, None)
                self._approval_owner.pop(call_id, None)

        try:
            history: list[dict[str, Any]] = []  # a new conversation has none: a trip less
            if frame.conversation_id is not None:
                history = await self.store.model_history(
                    conversation_id, settings.max_history_messages
                )
            stream = process_message_stream(
                frame.message,
                model=self.model,
                tools=self.tools,
                tool_context=self._tool_context(frame),
                options=TurnOptions(
                    model=model,
                    system_prompt=settings.system_prompt,
                    read_only=settings.read_only,
                    max_tool_rounds=settings.max_tool_rounds,
                    tool_timeout=settings.tool_timeout,
                    max_answer_tokens=settings.max_answer_tokens,
                    tool_result_budget=settings.tool_result_budget,
                    cluster_card=settings.cluster_card,
                    model_prices=settings.model_prices,
                ),
                history=history,
                approve=approve,
                record=record,
                executor=self.executor,
                cell=frame.cell,
                windows=self.windows,
                account=turn.account,
                cards=self.cards,
            )
            async for event in stream:
                self._publish(turn, event, frame)
            if not turn.done:
                turn.finish_failed("the engine stopped without completing the turn")
        except asyncio.CancelledError:
            turn.finish_cancelled()
        except Exception as exc:
            log.exception("turn of conversation %s failed", conversation_id)
            turn.finish_failed(f"kchat failed while answering ({type(exc).__name__}: {exc})")
        finally:
            for future in turn.approvals.values():
                future.cancel()
            try:
                await asyncio.shield(self.store.set_last_seq(conversation_id, turn.last_seq))
            except Exception:
                log.exception("could not save the last seq of %s", conversation_id)

    @staticmethod
    def _publish(turn: Turn, event: Event, frame: ChatFrame) -> None:
        data = event.data
        if frame.client_id and event.type in ("thinking", "error", "complete"):
            data = {**data, "client_id": frame.client_id}
        turn.publish(event.type, data)

    def cancel(self, conversation_id: str) -> None:
        turn = self._turns.get(conversation_id)
        if turn is None or turn.done or turn.task is None:
            raise ProtocolError(
                "no_running_turn",
                f"conversation {conversation_id!r} has no running turn to cancel",
                conversation_id=conversation_id,
            )
        turn.task.cancel()

    def approve(self, tool_call_id: str, approved: bool) -> None:
        turn = self._approval_owner.get(tool_call_id)
        future = turn.approvals.get(tool_call_id) if turn else None
        if future is None or future.done():
            raise ProtocolError(
                "unknown_tool_call",
                f"no change is waiting for approval with tool_call_id {tool_call_id!r}",
            )
        future.set_result(approved)

    def resumable(self, conversation_id: str) -> Turn:
        turn = self._turns.get(conversation_id)
        if turn is None:
            raise ProtocolError(
                "not_resumable",
                f"conversation {conversation_id!r} has no running or recent turn on this server; "
                "load it from api/kchat/conversations instead",
                conversation_id=conversation_id,
            )
        return turn

    async def wait_idle(self) -> None:
        """Wait for every running turn (used on shutdown, after cancelling them)."""
        tasks = [t.task for t in self._turns.values() if t.task is not None and not t.done]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def shutdown(self, timeout: float = 5.0) -> None:
        for turn in self._turns.values():
            if turn.task is not None and not turn.done:
                turn.task.cancel()
        try:
            await asyncio.wait_for(self.wait_idle(), timeout)
        except TimeoutError:
            log.warning("some kchat turns did not stop within %s s", timeout)
