"""The chat engine: one user message in, a stream of protocol events out.

``process_message_stream`` drives the model <-> tools loop. It knows nothing of Tornado or of
who listens: the server's turn runner, the HTTP fallback and the kernel all consume the same
generator. Persistence and approval are callbacks, so the engine stays a plain function.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from .context import ContextWindows, first_sentence
from .llm import Completion, ModelClient, ModelError, Reasoning, ToolCallRequest
from .model_requests import FittedModel
from .protocol import (
    CANCELLED_TOOL_RESULT,
    Event,
    TurnAccount,
    cancelled_tool_call_end,
    tool_call_end,
    tool_call_start,
)
from .tokens import TokenCounter
from .tools.base import ToolContext, ToolError, ToolRegistry, ToolResult, ToolSpec
from .tools.card import ClusterCards
from .tools.redact import redact_text
from .tools.runner import DENIED, argument_problem, execute
from .untrusted import fence as fence_untrusted

log = logging.getLogger(__name__)

Approver = Callable[[str, str, dict[str, Any], str], Awaitable[bool]]
"""``approve(tool_call_id, tool_name, arguments, reason) -> approved``; owns its own timeout."""

Recorder = Callable[[dict[str, Any], dict[str, Any] | None], Awaitable[None]]
"""``record(model_message, tool_view)``: persist one message as soon as it is final."""

CACHE_NOTE = "(Same call as earlier in this turn: answered from that result. Don't repeat it.)\n"
ROUNDS_NOTE = (
    "You have used every tool round this turn allows. Answer now with what the tool results "
    "show, and say what is still unknown."
)


@dataclass
class TurnOptions:
    """Per-turn choices, resolved by the caller from configuration and the chat frame."""

    model: str
    system_prompt: str = ""
    read_only: bool = True
    max_tool_rounds: int = 20
    tool_timeout: float = 30.0
    max_answer_tokens: int | None = None
    tool_result_budget: int = 12_000
    cluster_card: bool = True
    model_prices: dict[str, list[float]] = field(default_factory=dict)


def user_content(message: str, cell: dict[str, str] | None) -> str:
    """The user's message as the model reads it, with the active notebook cell as context."""
    if not cell or not cell.get("source", "").strip():
        return message
    fence = "````" if "```" in cell["source"] else "```"
    return (
        f"{message}\n\nContext: the active notebook cell ({cell.get('language') or 'text'}):\n"
        f"{fence}{cell.get('language', '')}\n{cell['source']}\n{fence}"
    )


async def process_message_stream(
    message: str,
    *,
    model: ModelClient,
    tools: ToolRegistry,
    tool_context: Callable[[], ToolContext],
    options: TurnOptions,
    history: Sequence[dict[str, Any]] = (),
    approve: Approver | None = None,
    record: Recorder | None = None,
    executor: Executor | None = None,
    cell: dict[str, str] | None = None,
    windows: ContextWindows | None = None,
    account: TurnAccount | None = None,
    cards: ClusterCards | None = None,
) -> AsyncIterator[Event]:
    """Answer ``message``: stream text, run the tools the model asks for, loop, then complete.

    Every request is fitted to the model's context window first (``windows`` keeps what was
    learned about it across turns; ``cards``, the cluster's card and contexts). Always ends
    with exactly one ``complete`` event unless the consumer cancels it; either way the history
    gets an assistant message for the question.
    ``account`` is kept up to date as events are yielded: a consumer that cancels the turn
    ends it from there (``TurnAccount.cancel``).
    """
    turn = _TurnState(
        tools, tool_context, options, approve, record, executor, model, windows, cards
    )
    if account is not None:
        turn.account = account
    user_message = {"role": "user", "content": user_content(message, cell)}
    await turn.begin(user_message)
    yield Event("thinking", {"message": "Thinking..."})
    offered = tools.openai_tools(read_only=options.read_only, contexts=turn.offered_contexts)
    messages: list[dict[str, Any]] = [*history, user_message]
    system = await turn.system_message()
    if system:
        messages.insert(0, {"role": "system", "content": system})
    try:
        for round_number in range(options.max_tool_rounds + 1):
            last_round = round_number == options.max_tool_rounds
            if last_round and round_number > 0:
                messages.append({"role": "system", "content": ROUNDS_NOTE})
            completion: Completion | None = None
            separated = not turn.account.text
            async for item in turn.model.stream(messages, None if last_round else offered):
                if isinstance(item, Completion):
                    completion = item
                    continue
                if isinstance(item, Reasoning):
                    yield Event("thinking", {"reasoning": item.text})
                    continue
                if not separated:
                    separated = True
                    yield turn.account.say("\n\n")
                turn.round_text.append(item)
                yield turn.account.say(item)
            assert completion is not None
            notice = turn.model.stop_notice(completion.finish_reason)
            if last_round or notice:
                completion.tool_calls = []
            if notice:
                notice = ("\n\n" if turn.account.text else "") + notice
                yield turn.account.say(notice)
            content = completion.text + (notice or "")
            assistant: dict[str, Any] = {"role": "assistant", "content": content or None}
            if completion.tool_calls:
                assistant["tool_calls"] = [_openai_call(call) for call in completion.tool_calls]
            turn.round_text = []
            messages.append(assistant)
            await turn.save(assistant)
            if not completion.tool_calls:
                break
            turn.pending = list(completion.tool_calls)
            turn.tool_budget = turn.model.tool_budget(
                messages, offered, len(completion.tool_calls), options.tool_result_budget
            )
            for call in completion.tool_calls:
                async for event in turn.run_tool(call):
                    yield event
                messages.append(turn.last_tool_message)
            turn.pending = []
            yield Event("thinking", {"message": "Reading the results..."})
    except ModelError as exc:
        await turn.save_partial(f"(No answer: {first_sentence(exc.message)})")
        yield Event(
            "error", {"message": exc.message, "code": exc.code, "retryable": exc.retryable}
        )
    except asyncio.CancelledError:
        await asyncio.shield(turn.save_partial("(Cancelled before the answer was complete.)"))
        raise
    yield turn.account.complete(turn.model.usage_data() or None)


async def warm_up(
    *,
    tools: ToolRegistry,
    tool_context: Callable[[], ToolContext],
    cards: ClusterCards,
    model: str,
    read_only: bool = True,
    cluster_card: bool = True,
    executor: Executor | None = None,
) -> None:
    """Do ahead of time what the first turn would wait for (a server's first answer took half a
    second more than later ones): the cluster's client, its contexts and card (kept in
    ``cards``), the tokenizer, and the count of the tool schemas a turn offers."""
    loop = asyncio.get_running_loop()
    context: ToolContext | None = None
    contexts: tuple[str, ...] = ()
    try:
        context = await loop.run_in_executor(executor, tool_context)
        contexts = await loop.run_in_executor(executor, cards.contexts, context)
    except Exception:  # no cluster yet: the first tool call says why
        log.debug("no cluster to warm up for", exc_info=True)
    if cluster_card and context is not None:
        cards.prefetch(context)  # read while the tokenizer loads
    counter = await loop.run_in_executor(executor, TokenCounter.for_model, model)
    offered = tools.openai_tools(read_only=read_only, contexts=contexts)
    await loop.run_in_executor(executor, counter.tools, offered)
    if cluster_card and context is not None:
        await cards.card(context)


def _openai_call(call: ToolCallRequest) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


class _TurnState:
    """The mutable state of one turn, so the generator above reads as the protocol."""

    def __init__(
        self,
        tools: ToolRegistry,
        tool_context: Callable[[], ToolContext],
        options: TurnOptions,
        approve: Approver | None,
        record: Recorder | None,
        executor: Executor | None,
        model: ModelClient,
        windows: ContextWindows | None,
        cards: ClusterCards | None = None,
    ) -> None:
        self.model = FittedModel(
            model,
            windows or ContextWindows(probe=model.context_window),
            name=options.model,
            max_answer_tokens=options.max_answer_tokens,
            prices=options.model_prices,
        )
        self.tool_budget = options.tool_result_budget
        self.last_saved: dict[str, Any] = {}
        self.tools = tools
        self.make_context = tool_context
        self.context: ToolContext | None = None
        self.options = options
        self.approve = approve
        self.record = record
        self.executor = executor
        self.account = TurnAccount()
        self.round_text: list[str] = []
        self.pending: list[ToolCallRequest] = []
        self.cache: dict[tuple[str, bytes], ToolResult] = {}
        self.last_tool_message: dict[str, Any] = {}
        self.offered_contexts: tuple[str, ...] = ()
        self.cards = cards or ClusterCards(executor)

    async def begin(self, question: dict[str, Any]) -> None:
        """Save the question while the tools' contexts are read: two workers, one wait before
        the first event (which still follows the save: a question the client saw acknowledged
        is in the history)."""
        saving = asyncio.ensure_future(self.save(question))
        try:
            await self.contexts()
        finally:
            await asyncio.shield(saving)

    async def contexts(self) -> tuple[str, ...]:
        """The kubeconfig contexts the tools may be aimed at (none known: no cluster yet, and
        the first tool call reports why)."""
        try:
            self.offered_contexts = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._read_contexts
            )
        except ToolError:
            self.offered_contexts = ()
        except Exception:
            log.warning("cannot read the kubeconfig contexts", exc_info=True)
            self.offered_contexts = ()
        return self.offered_contexts

    def _read_contexts(self) -> tuple[str, ...]:
        """Blocking, so one trip to a worker: the tool context, then its kubeconfig's contexts."""
        if self.context is None:
            self.context = self.make_context()
        return self.cards.contexts(self.context)

    async def save(self, message: dict[str, Any], tool: dict[str, Any] | None = None) -> None:
        self.last_saved = message
        if self.record is not None:
            await self.record(message, tool)

    async def save_partial(self, note: str) -> None:
        """Keep what the user already saw when a turn stops early (error, cancel), and end the
        history with an assistant message, so user and assistant keep alternating."""
        if self.round_text:
            await self.save({"role": "assistant", "content": "".join(self.round_text)})
            self.round_text = []
        for call in self.pending:
            if self.account.has_ended(call.id):
                continue
            start = self.account.open.get(call.id) or tool_call_start(call.id, call.name, {})
            await self.save(
                {"role": "tool", "tool_call_id": call.id, "content": CANCELLED_TOOL_RESULT},
                cancelled_tool_call_end(start),
            )
        self.pending = []
        last = self.last_saved
        if last.get("role") != "assistant" or last.get("tool_calls"):
            await self.save({"role": "assistant", "content": note})

    async def system_message(self) -> str:
        """The system prompt, what the tools' arguments mean, then the cluster card (when there
        is a cluster to describe)."""
        card = ""
        if self.options.cluster_card and self.context is not None:
            card = await self.cards.card(self.context)
        note = self.tools.prompt_note(
            read_only=self.options.read_only, contexts=self.offered_contexts
        )
        return "\n\n".join(part for part in (self.options.system_prompt, note, card) if part)

    async def run_tool(self, call: ToolCallRequest) -> AsyncIterator[Event]:
        """Run one requested tool and yield its events; leaves the tool message for the model."""
        started = time.monotonic()
        spec = self.tools.get(call.name)
        args, problem = self._parse_arguments(call, spec)
        start = tool_call_start(call.id, call.name, args)
        yield self.account.start(start)
        result, status = None, "completed"
        if problem is not None:
            result, status = ToolResult(text=f"Error: {problem}"), "error"
        else:
            assert spec is not None
            if spec.writes:
                reason = spec.describe_change(args)
                yield Event("approval_required", {**start, "reason": reason})
                approved = self.approve is not None and await self.approve(
                    call.id, call.name, args, reason
                )
                if not approved:
                    result, status = ToolResult(text=DENIED), "denied"
            if result is None:
                result, status = await self._execute(spec, args)
        end = tool_call_end(
            start,
            result=redact_text(result.text),
            status=status,  # type: ignore[arg-type]
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            rows=result.data,
            truncated=result.truncated,
        )
        content = fence_untrusted(call.name, end["result"])
        self.last_tool_message = {"role": "tool", "tool_call_id": call.id, "content": content}
        await self.save(self.last_tool_message, dict(end))
        yield self.account.end(end)

    def _parse_arguments(
        self, call: ToolCallRequest, spec: ToolSpec | None
    ) -> tuple[dict[str, Any], str | None]:
        available = ", ".join(self.tools.names(read_only=self.options.read_only))
        if spec is None or (spec.writes and self.options.read_only):
            why = "changes to the cluster are disabled (read-only mode)" if spec else "unknown"
            return {}, f"there is no tool named {call.name!r} ({why}). Available: {available}."
        try:
            args = orjson.loads(call.arguments or "{}")
        except orjson.JSONDecodeError as exc:
            excerpt = call.arguments[:200]
            return {}, (
                f"the arguments for {call.name} were not valid JSON ({exc}): {excerpt!r}. "
                "Call the tool again with a JSON object that matches its schema."
            )
        if not isinstance(args, dict):
            return {}, f"the arguments for {call.name} must be a JSON object, not {args!r:.80}."
        args = {key: value for key, value in args.items() if value is not None}
        invalid = argument_problem(self.tools.parameters(spec, self.offered_contexts), args)
        if invalid:
            return args, f"invalid arguments for {call.name}: {invalid}. Fix them and call again."
        return args, None

    async def _execute(self, spec: ToolSpec, args: dict[str, Any]) -> tuple[ToolResult, str]:
        key = (spec.name, orjson.dumps(args, option=orjson.OPT_SORT_KEYS))
        if not spec.writes and key in self.cache:
            cached = self.cache[key]
            return ToolResult(CACHE_NOTE + cached.text, cached.data, cached.truncated), "completed"
        if self.context is None:
            try:
                async with asyncio.timeout(self.options.tool_timeout):
                    self.context = await asyncio.get_running_loop().run_in_executor(
                        self.executor, self.make_context
                    )
            except ToolError as exc:
                return ToolResult(text=f"Error: {exc}"), "error"
            except TimeoutError:
                return ToolResult(
                    text=f"Error: the cluster's configuration could not be read within "
                    f"{self.options.tool_timeout:g} s."
                ), "error"
        result, status = await execute(
            spec,
            args,
            replace(self.context, budget=self.tool_budget),
            executor=self.executor,
            timeout=self.options.tool_timeout,
        )
        if status == "completed" and not spec.writes:
            self.cache[key] = result
        return result, status
