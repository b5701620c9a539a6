"""The engine's own logic against an in-process model: context fitting, retries, notices, usage.

The fake model counts prompts the way a server does (it never trusts kchat's estimate) and
answers context-exceeded with llama.cpp's own error text, parsed by kchat's real error code.
End-to-end versions through the real ``openai`` client are in ``test_context_window.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from jupyter_kchat.context import ContextWindows, compact_tools, fit_request, repair_roles
from jupyter_kchat.engine import CACHE_NOTE, ROUNDS_NOTE, TurnOptions, process_message_stream
from jupyter_kchat.llm import Completion, ModelError, Reasoning, ToolCallRequest
from jupyter_kchat.llm.errors import context_exceeded
from jupyter_kchat.tokens import TokenCounter
from jupyter_kchat.tools.base import ToolContext, ToolRegistry, ToolResult, ToolSpec
from jupyter_kchat.turns import Turn

SERVER_COUNT = TokenCounter("server-side")


def served_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    return SERVER_COUNT.messages(messages) + SERVER_COUNT.tools(tools)


Step = Callable[[list[dict[str, Any]]], list[Any]]


@dataclass
class FakeModel:
    """A ``ModelClient``-shaped model: scripted answers, a real server's context limit."""

    answer: Step
    limit: int | None = None
    refuse: int = 0
    """Refuse this many requests as too big, whatever their size, without naming numbers."""
    reported_window: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def context_window(self, model: str) -> int | None:
        return self.reported_window

    async def stream(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[Any]:
        tokens = served_tokens(messages, tools)
        self.requests.append({"messages": messages, "tools": tools, "max_tokens": max_tokens,
                              "tokens": tokens})
        if self.refuse:
            self.refuse -= 1
            error = context_exceeded("the request exceeds the available context size")
            assert error is not None
            raise error
        if self.limit is not None and tokens > self.limit:
            error = context_exceeded(
                f"request ({tokens} tokens) exceeds the available context size ({self.limit} "
                "tokens), try increasing it"
            )
            assert error is not None
            raise error
        for item in self.answer(messages):
            yield item


@dataclass
class StubCluster:
    context: str = "sample"
    server: str = "https://127.0.0.1:1"
    default_namespace: str | None = None


def pods_table(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """A 300-pod listing that fits ``ctx.budget`` like the real tools do (whole lines only)."""
    lines = ["300 pods: Running 296, CrashLoopBackOff 4.", "NAMESPACE  NAME  STATUS  AGE"]
    lines += [f"shop  web-{i:03d}-7d9f8c6b5-x2k9p  Running  3d" for i in range(300)]
    kept, used = [], 0
    for line in lines:
        if used + len(line) + 1 > ctx.budget:
            break
        kept.append(line)
        used += len(line) + 1
    BUDGETS.append(ctx.budget)
    return ToolResult("\n".join(kept), truncated=len(kept) < len(lines))


BUDGETS: list[int] = []
REGISTRY = ToolRegistry([
    ToolSpec("list_pods", "List pods.", {"type": "object", "properties": {}}, pods_table)
])


def tool_then_answer(messages: list[dict[str, Any]]) -> list[Any]:
    """Call list_pods once per question, then answer with how much of the result it saw."""
    if messages[-1]["role"] == "user":
        call = ToolCallRequest(f"call_{len(messages)}", "list_pods", "{}")
        return [Completion("", [call], "tool_calls", None)]
    seen = len(str(messages[-1]["content"]).splitlines())
    text = f"I saw {seen} lines."
    return [text, Completion(text, [], "stop", {"prompt_tokens": 900, "completion_tokens": 6,
                                                "total_tokens": 906})]


def say(text: str, finish: str = "stop", usage: dict[str, int] | None = None) -> Step:
    return lambda messages: [text, Completion(text, [], finish, usage)]


@dataclass
class Conversation:
    """A conversation kept as the store keeps it: every recorded message, in order."""

    model: FakeModel
    windows: ContextWindows
    options: TurnOptions = field(default_factory=lambda: TurnOptions(
        model="local-model", system_prompt="You are kchat.", cluster_card=False,
        max_answer_tokens=512,
    ))
    history: list[dict[str, Any]] = field(default_factory=list)

    async def ask(self, message: str) -> list[dict[str, Any]]:
        async def record(msg: dict[str, Any], tool: dict[str, Any] | None) -> None:
            self.history.append(msg)

        events = []
        async for event in process_message_stream(
            message,
            model=self.model,  # type: ignore[arg-type]
            tools=REGISTRY,
            tool_context=lambda: ToolContext(cluster=StubCluster()),  # type: ignore[arg-type]
            options=self.options,
            history=list(self.history),
            record=record,
            windows=self.windows,
        ):
            events.append({"type": event.type, "data": event.data})
        return events


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


async def test_a_4096_token_window_answers_list_all_pods_and_follow_ups():
    BUDGETS.clear()
    model = FakeModel(tool_then_answer, limit=4096)
    chat = Conversation(model, ContextWindows(4096))
    for question in ("list all pods", "and again", "once more"):
        events = await chat.ask(question)
        assert of(events, "error") == []
        assert of(events, "complete")[0]["message"].startswith("I saw ")
    assert all(r["tokens"] <= 4096 for r in model.requests)
    assert all(b < 12_000 for b in BUDGETS), "tool results get the room that is left"
    assert BUDGETS[0] >= 3_000, "the first result still gets a useful share"
    last = model.requests[-1]["messages"]
    shortened = [m for m in last if m["role"] == "tool" and "context window" in m["content"]]
    assert shortened, "older results were shortened or replaced by a note"
    assert [m["role"] for m in last if m["role"] in ("user", "assistant")][-1] == "assistant"


async def test_a_context_error_teaches_the_window_and_the_retry_fits():
    model = FakeModel(tool_then_answer, limit=2500)
    windows = ContextWindows()
    chat = Conversation(model, windows)
    chat.options.tool_result_budget = 5_000
    events = await chat.ask("list all pods")
    assert of(events, "error") == []
    refused = [r for r in model.requests if r["tokens"] > 2500]
    assert len(refused) == 1 and len(model.requests) == 3
    assert windows.info("local-model").refused_at == 2500, "the size the error named is kept"
    again = await chat.ask("list all pods again")
    assert of(again, "error") == [] and len(model.requests) == 5, "no second refusal"


async def test_two_refusals_are_one_clear_error_and_the_next_question_works():
    model = FakeModel(say("fine"), refuse=2)
    chat = Conversation(model, ContextWindows())
    events = await chat.ask("hello")
    (error,) = of(events, "error")
    assert error["code"] == "context_exceeded" and error["retryable"] is True
    for advice in ("c.KChat.context_window", "num_ctx", "-c"):
        assert advice in error["message"]
    assert [m["role"] for m in chat.history] == ["user", "assistant"]
    assert "No answer" in chat.history[-1]["content"]
    assert len(model.requests) == 2, "fitted harder and tried exactly once more"
    assert model.requests[1]["tokens"] <= model.requests[0]["tokens"]
    after = await chat.ask("hello again")
    assert of(after, "error") == [] and of(after, "complete")[0]["message"] == "fine"
    assert [m["role"] for m in chat.history] == ["user", "assistant"] * 2


async def test_a_message_larger_than_the_window_is_refused_before_sending_and_forgotten_later():
    model = FakeModel(say("ok"))
    chat = Conversation(model, ContextWindows(1024))
    events = await chat.ask("word " * 5000)
    (error,) = of(events, "error")
    assert error["code"] == "context_exceeded" and "shorter message" in error["message"]
    assert model.requests == []
    events = await chat.ask("a short question")
    assert of(events, "error") == []
    sent = model.requests[-1]["messages"]
    assert "left out to fit" in sent[0]["content"], "the dropped turn is noted"
    assert [m["content"] for m in sent if m["role"] == "user"] == ["a short question"]


async def test_an_answer_cut_at_the_limit_says_so_and_how_to_raise_it():
    model = FakeModel(say("The pods are", finish="length"))
    chat = Conversation(model, ContextWindows(8192))
    events = await chat.ask("describe everything")
    message = of(events, "complete")[0]["message"]
    assert message.startswith("The pods are") and "cut off at the length limit" in message
    assert "c.KChat.max_answer_tokens = 512" in message
    assert model.requests[0]["max_tokens"] == 512
    assert chat.history[-1]["content"] == message, "the notice is part of the recorded answer"


async def test_a_repeating_answer_is_ended_with_a_notice():
    model = FakeModel(say("again and again", finish="repetition"))
    events = await Conversation(model, ContextWindows(8192)).ask("loop")
    assert "kept repeating" in of(events, "complete")[0]["message"]


async def test_reasoning_is_shown_apart_and_never_sent_back():
    def think(messages: list[dict[str, Any]]) -> list[Any]:
        return [Reasoning("The user wants "), Reasoning("a greeting."), "Hello!",
                Completion("Hello!", [], "stop", None)]

    model = FakeModel(think)
    chat = Conversation(model, ContextWindows(8192))
    events = await chat.ask("hi")
    assert [d["reasoning"] for d in of(events, "thinking") if "reasoning" in d] == [
        "The user wants ", "a greeting."]
    assert of(events, "complete")[0]["message"] == "Hello!"
    assert chat.history[-1] == {"role": "assistant", "content": "Hello!"}
    await chat.ask("hi again")
    assert "greeting" not in orjson.dumps(model.requests[-1]["messages"]).decode()


async def test_usage_has_the_window_share_and_the_configured_price():
    usage = {"prompt_tokens": 1000, "completion_tokens": 24, "total_tokens": 1024}
    chat = Conversation(FakeModel(say("ok", usage=usage)), ContextWindows(4096))
    chat.options.model_prices = {"local-model": [1.0, 2.0]}
    (complete,) = of(await chat.ask("hi"), "complete")
    assert complete["usage"] == {
        "prompt_tokens": 1000, "completion_tokens": 24, "total_tokens": 1024,
        "context_window": 4096, "context_used": 0.25, "cost_usd": 0.001048,
    }


async def test_usage_is_estimated_when_the_server_sends_none():
    chat = Conversation(FakeModel(say("a short answer")), ContextWindows(4096))
    (complete,) = of(await chat.ask("hi"), "complete")
    usage = complete["usage"]
    assert usage["estimated"] is True and usage["prompt_tokens"] > 5
    assert usage["completion_tokens"] > 0 and "cost_usd" not in usage


async def test_a_failed_model_still_leaves_an_assistant_reply():
    def broken(messages: list[dict[str, Any]]) -> list[Any]:
        raise ModelError("model_unavailable", "The model endpoint failed (503).", retryable=True)

    chat = Conversation(FakeModel(broken), ContextWindows(8192))
    events = await chat.ask("hi")
    assert of(events, "error")[0]["code"] == "model_unavailable"
    assert chat.history[-1] == {
        "role": "assistant", "content": "(No answer: The model endpoint failed (503).)"}


def test_two_user_messages_in_a_row_get_an_assistant_note_between():
    history = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ]
    assert [m["role"] for m in repair_roles(history)] == ["system", "user", "assistant", "user"]


def test_fitting_drops_the_oldest_turns_whole_and_keeps_the_newest():
    counter = TokenCounter("gpt-4o")
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are kchat."}]
    for i in range(30):
        messages += [{"role": "user", "content": f"question {i} " + "detail " * 40},
                     {"role": "assistant", "content": f"answer {i} " + "words " * 40}]
    fitted = fit_request(messages, None, counter=counter, window=1024, reserve=256)
    assert fitted.tokens <= 1024 - 256 and fitted.dropped > 0
    kept = fitted.messages[1:]
    assert kept[0]["role"] == "user" and kept[-1]["content"].startswith("answer 29")
    assert "earlier messages" in fitted.messages[0]["content"]
    assert messages[0]["content"] == "You are kchat.", "the caller's messages are not changed"


async def test_reasoning_runs_are_merged_in_the_turn_log_and_resume_exactly():
    turn = Turn("c1", first_seq=1, max_events=10)
    for i in range(50):
        turn.publish("thinking", {"reasoning": f"r{i},"})
    for i in range(50):
        turn.publish("text", {"text": f"t{i},"})
    turn.publish("complete", {"message": "", "tool_calls": []})
    assert len(turn.events) < 20
    events = []
    async for batch in turn.follow(30):
        events.extend(orjson.loads(e.wire) for e in batch)
    reasoning = "".join(e["data"].get("reasoning", "") for e in events)
    assert reasoning == "".join(f"r{i}," for i in range(30, 50))
    assert "".join(e["data"].get("text", "") for e in events) == "".join(
        f"t{i}," for i in range(50))


def test_compact_tool_schemas_keep_names_types_and_enums():
    tools = [{"type": "function", "function": {
        "name": "list_events",
        "description": "List events. Warnings first, grouped by reason.",
        "parameters": {"type": "object", "properties": {
            "description": {"type": "string", "description": "A parameter named description."},
            "kind": {"type": "string", "enum": ["Warning", "Normal"], "default": "Warning",
                     "description": "Which events."},
        }, "required": ["kind"]},
    }}]
    (compact,) = compact_tools(tools)
    assert compact["function"]["description"] == "List events."
    assert compact["function"]["parameters"] == {"type": "object", "properties": {
        "description": {"type": "string"},
        "kind": {"type": "string", "enum": ["Warning", "Normal"], "default": "Warning"},
    }, "required": ["kind"]}
    assert tools[0]["function"]["parameters"]["properties"]["kind"]["description"]


def test_a_small_window_gets_compact_tool_schemas_and_a_large_one_the_full_ones():
    counter = TokenCounter("local-model")
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    tools = [{"type": "function", "function": {
        "name": f"tool_{i}", "description": "Does a thing. " + "More words about it. " * 30,
        "parameters": {"type": "object", "properties": {}}}} for i in range(8)]
    small = fit_request(messages, tools, counter=counter, window=2048, reserve=256)
    large = fit_request(messages, tools, counter=counter, window=128_000, reserve=4096)
    assert small.tools is not None and small.tools[0]["function"]["description"] == "Does a thing."
    assert large.tools == tools


@pytest.mark.parametrize(("partial", "kept"), [
    ("Half an ans", "Half an ans"), ("", "(Cancelled before the answer was complete.)")])
async def test_a_cancelled_turn_still_leaves_an_assistant_reply(partial: str, kept: str):
    started = asyncio.Event()

    class Hanging(FakeModel):
        async def stream(self, **kwargs: Any) -> AsyncIterator[Any]:
            if partial:
                yield partial
            started.set()
            await asyncio.Event().wait()

    chat = Conversation(Hanging(say("")), ContextWindows(8192))
    task = asyncio.create_task(chat.ask("a long question"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert chat.history == [
        {"role": "user", "content": "a long question"},
        {"role": "assistant", "content": kept},
    ]


async def test_a_server_that_counts_more_than_kchat_is_learned_from_its_usage():
    def heavy(messages: list[dict[str, Any]]) -> list[Any]:
        counted = 2 * served_tokens(messages, None)
        return ["ok", Completion("ok", [], "stop", {"prompt_tokens": counted,
                                                    "completion_tokens": 1})]

    windows = ContextWindows(4096)
    chat = Conversation(FakeModel(heavy), windows)
    await chat.ask("hello " * 200)
    assert windows.info("local-model").scale > 1.5, "later requests are fitted in its terms"


async def test_a_well_known_model_gets_its_window_and_price_without_settings():
    usage = {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100}
    chat = Conversation(FakeModel(say("ok", usage=usage)), ContextWindows())
    chat.options.model = "openai/gpt-4o-mini"
    (complete,) = of(await chat.ask("hi"), "complete")
    assert complete["usage"]["context_window"] == 128_000
    assert complete["usage"]["cost_usd"] == round((2000 * 0.15 + 100 * 0.60) / 1e6, 6)


# ---------------------------------------------------------------------- the tool loop


CALLS: list[dict[str, Any]] = []


def counted(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    CALLS.append(args)
    return ToolResult(f"pods in {args.get('namespace', 'default')}: 3 Running")


def deleted(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    CALLS.append({"deleted": args["name"]})
    return ToolResult(f"pod {args['name']} deleted")


LOOP_REGISTRY = ToolRegistry([
    ToolSpec(
        "list_pods",
        "List pods.",
        {
            "type": "object",
            "properties": {"namespace": {"type": "string"}},
            "additionalProperties": False,
        },
        counted,
    ),
    ToolSpec(
        "delete_pod",
        "Delete a pod.",
        {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        },
        deleted,
        writes=True,
    ),
])


async def run_turn(
    answer: Step,
    *,
    rounds: int = 20,
    read_only: bool = True,
    approve: Any = None,
) -> tuple[list[dict[str, Any]], FakeModel]:
    CALLS.clear()
    model = FakeModel(answer)
    events = []
    async for event in process_message_stream(
        "how are the pods?",
        model=model,  # type: ignore[arg-type]
        tools=LOOP_REGISTRY,
        tool_context=lambda: ToolContext(cluster=StubCluster()),  # type: ignore[arg-type]
        options=TurnOptions(
            model="local-model",
            cluster_card=False,
            max_tool_rounds=rounds,
            read_only=read_only,
        ),
        approve=approve,
        windows=ContextWindows(8192),
    ):
        events.append({"type": event.type, "data": event.data})
    return events, model


def call(name: str, arguments: str, call_id: str = "c1") -> list[Any]:
    return [Completion("", [ToolCallRequest(call_id, name, arguments)], "tool_calls", None)]


async def test_the_round_cap_ends_with_an_answer_and_no_tools_offered():
    def always_a_tool(messages: list[dict[str, Any]]) -> list[Any]:
        if any(m.get("content") == ROUNDS_NOTE for m in messages):
            return say("Here is what I found.")(messages)
        return call("list_pods", orjson.dumps({"namespace": f"ns-{len(messages)}"}).decode())

    events, model = await run_turn(always_a_tool, rounds=3)
    assert len(CALLS) == 3, "three rounds of tools, then the cap"
    assert model.requests[-1]["tools"] is None, "the last request offers no tools"
    assert ROUNDS_NOTE in [m.get("content") for m in model.requests[-1]["messages"]]
    assert of(events, "complete")[0]["message"] == "Here is what I found."


async def test_the_same_call_twice_in_a_turn_is_answered_from_the_first():
    def twice(messages: list[dict[str, Any]]) -> list[Any]:
        tool_messages = [m for m in messages if m["role"] == "tool"]
        if len(tool_messages) < 2:
            return call("list_pods", '{"namespace": "shop"}', f"c{len(tool_messages)}")
        return say("Done.")(messages)

    events, _ = await run_turn(twice)
    assert CALLS == [{"namespace": "shop"}], "the cluster is asked once"
    ends = of(events, "tool_call_end")
    assert [e["status"] for e in ends] == ["completed", "completed"]
    assert ends[1]["result"].startswith(CACHE_NOTE)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"namespace": 7}', "invalid arguments for list_pods"),
        ('{"colour": "red"}', "invalid arguments for list_pods"),
    ],
)
async def test_invalid_arguments_are_an_error_the_model_can_fix(arguments: str, says: str):
    def once(messages: list[dict[str, Any]]) -> list[Any]:
        if messages[-1]["role"] == "user":
            return call("list_pods", arguments)
        return say("Sorry.")(messages)

    events, model = await run_turn(once)
    assert CALLS == [], "the tool never ran"
    (end,) = of(events, "tool_call_end")
    assert end["status"] == "error" and says in end["result"]
    assert says in str(model.requests[-1]["messages"][-1]["content"]), "the model is told why"
    assert of(events, "complete")


async def test_a_denied_change_is_never_run_and_read_only_offers_no_writes():
    def delete(messages: list[dict[str, Any]]) -> list[Any]:
        if messages[-1]["role"] == "user":
            return call("delete_pod", '{"name": "web-1"}')
        return say("Not deleted.")(messages)

    asked: list[str] = []

    async def deny(call_id: str, name: str, args: dict[str, Any], reason: str) -> bool:
        asked.append(name)
        return False

    events, model = await run_turn(delete, read_only=False, approve=deny)
    assert asked == ["delete_pod"] and CALLS == []
    assert [e["type"] for e in events].index("approval_required") < [
        e["type"] for e in events
    ].index("tool_call_end")
    (end,) = of(events, "tool_call_end")
    assert end["status"] == "denied" and "nothing was sent to the cluster" in end["result"]

    events, model = await run_turn(delete, read_only=True, approve=deny)
    offered = [t["function"]["name"] for t in model.requests[0]["tools"]]
    assert offered == ["list_pods"] and CALLS == []
    (end,) = of(events, "tool_call_end")
    assert end["status"] == "error" and "read-only" in end["result"]


async def test_cancelling_while_a_change_waits_records_the_call_as_cancelled():
    def delete(messages: list[dict[str, Any]]) -> list[Any]:
        return call("delete_pod", '{"name": "web-1"}')

    waiting = asyncio.Event()

    async def never(call_id: str, name: str, args: dict[str, Any], reason: str) -> bool:
        waiting.set()
        await asyncio.Event().wait()
        return True

    recorded: list[tuple[dict[str, Any], dict[str, Any] | None]] = []

    async def record(message: dict[str, Any], tool: dict[str, Any] | None) -> None:
        recorded.append((message, tool))

    CALLS.clear()

    async def consume() -> None:
        async for _ in process_message_stream(
            "delete web-1",
            model=FakeModel(delete),  # type: ignore[arg-type]
            tools=LOOP_REGISTRY,
            tool_context=lambda: ToolContext(cluster=StubCluster()),  # type: ignore[arg-type]
            options=TurnOptions(model="local-model", cluster_card=False, read_only=False),
            approve=never,
            record=record,
            windows=ContextWindows(8192),
        ):
            pass

    task = asyncio.create_task(consume())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert CALLS == [], "nothing ran"
    tools = [tool for _, tool in recorded if tool is not None]
    assert [t["status"] for t in tools] == ["cancelled"]
    assert recorded[-1][0]["role"] in ("assistant", "tool")
