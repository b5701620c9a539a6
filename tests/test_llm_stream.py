"""The model client against real wire formats: the ``openai`` client over HTTP to the demo model
server behaving like OpenAI, llama.cpp, vLLM or Ollama; what a user would see of each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from jupyter_kchat.llm import REPETITION, Completion, ModelClient, ModelError, Reasoning
from jupyter_kchat.llm.clock import ReadClock
from jupyter_kchat.llm.reasoning import ThinkSplitter
from jupyter_kchat.llm.repetition import looping
from jupyter_kchat.llm.wire import SSEEvent, sse_events
from jupyter_kchat.sample import demo_model
from jupyter_kchat.sample.model_faults import Fault, Quirks
from jupyter_kchat.sample.model_server import ModelServer

LIST_PODS = [{"role": "user", "content": "list all pods"}]
TOOLS = [
    {"type": "function", "function": {
        "name": "list_pods", "description": "List pods.",
        "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}}}},
]


def say(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"say {text}"}]


@pytest.fixture
def client_for(
    kchat_model: ModelServer, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Callable[..., ModelClient]]:
    """Factory of ModelClients pointed at the demo model server (no SDK retries unless asked)."""
    clients: list[ModelClient] = []

    def make(**options: Any) -> ModelClient:
        settings = {"api_key": "k", "base_url": kchat_model.base_url, "max_retries": 0, **options}
        clients.append(ModelClient(**settings))
        return clients[-1]

    yield make
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.close())


async def collect(client: ModelClient, messages: list[dict[str, Any]], **options: Any
                  ) -> tuple[list[str | Reasoning], Completion]:
    items: list[str | Reasoning] = []
    async for item in client.stream(model="kchat-demo", messages=messages,
                                    tools=options.pop("tools", None), **options):
        if isinstance(item, Completion):
            return items, item
        items.append(item)
    raise AssertionError("the stream ended without a Completion")


def texts(items: list[str | Reasoning]) -> str:
    return "".join(item for item in items if isinstance(item, str))


def thoughts(items: list[str | Reasoning]) -> str:
    return "".join(item.text for item in items if isinstance(item, Reasoning))


async def test_an_answer_streams_in_pieces_with_usage(client_for):
    items, done = await collect(client_for(), say("hello there, cluster"))
    assert len(items) > 1 and texts(items) == done.text == "hello there, cluster"
    assert done.finish_reason == "stop" and done.tool_calls == []
    assert done.usage is not None and done.usage["total_tokens"] == (
        done.usage["prompt_tokens"] + done.usage["completion_tokens"])


async def test_the_request_carries_what_was_asked(client_for, kchat_model):
    await collect(client_for(max_answer_tokens=300), LIST_PODS, tools=TOOLS)
    assert kchat_model.requests[-1].body == {
        "model": "kchat-demo", "messages": LIST_PODS, "tools": TOOLS, "stream": True,
        "stream_options": {"include_usage": True}, "max_tokens": 300,
    }


async def test_answers_one_after_another_reuse_one_connection(client_for, kchat_model):
    client = client_for()
    for _ in range(3):
        _, done = await collect(client, say("again"))
        assert done.text == "again"
    peers = {record.peer for record in kchat_model.requests}
    assert len(peers) == 1 and peers != {""}, "no new TCP (or TLS) handshake per answer"


async def test_no_usage_chunk_is_fine(client_for, kchat_model):
    kchat_model.quirks = Quirks(usage_chunk=False)
    _, done = await collect(client_for(), say("fine"))
    assert done.text == "fine" and done.usage is None


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "think"])
async def test_reasoning_is_shown_apart_and_never_in_the_answer(client_for, kchat_model, field):
    kchat_model.quirks = Quirks(reasoning=field)
    items, done = await collect(client_for(), say("all good"))
    assert thoughts(items).strip() == "I have what I need. I will answer briefly in Markdown."
    assert done.text == texts(items) == "all good"
    assert "think" not in done.text


async def test_tool_calls_in_one_piece_without_ids_get_ids(client_for, kchat_model):
    kchat_model.quirks = Quirks(tool_calls_whole=True)
    _, first = await collect(client_for(), LIST_PODS, tools=TOOLS)
    _, second = await collect(client_for(), LIST_PODS, tools=TOOLS)
    [call] = first.tool_calls
    assert call.name == "list_pods" and call.arguments.startswith("{")
    assert call.id.startswith("call_") and call.id != second.tool_calls[0].id
    assert first.finish_reason == "tool_calls"


async def test_text_and_tool_calls_in_one_message_are_both_kept(client_for, kchat_model):
    kchat_model.quirks = Quirks(text_with_tool_calls=True)
    items, done = await collect(client_for(), LIST_PODS, tools=TOOLS)
    assert texts(items) == done.text == "Let me look that up in the cluster."
    assert [call.name for call in done.tool_calls] == ["list_pods"]


async def test_an_answer_cut_at_max_tokens_says_length(client_for, kchat_model):
    kchat_model.quirks = Quirks(honour_max_tokens=True)
    client = client_for(max_answer_tokens=4096)
    _, done = await collect(client, [{"role": "user", "content": "stream 400 chunks"}],
                            max_tokens=50)
    assert done.finish_reason == "length" and len(done.text) == 200
    assert kchat_model.requests[-1].body["max_tokens"] == 50
    _, whole = await collect(client, say("short"))
    assert whole.finish_reason == "stop"
    assert kchat_model.requests[-1].body["max_tokens"] == 4096, "the client's default limit"


async def test_a_refused_limit_field_is_swapped_once_and_remembered(client_for, kchat_model):
    kchat_model.quirks = Quirks(refuse_field="max_tokens")
    client = client_for(max_answer_tokens=100)
    _, done = await collect(client, say("ok"))
    _, again = await collect(client, say("ok"))
    assert done.text == again.text == "ok"
    sent = [sorted(k for k in r.body if k.startswith("max_")) for r in kchat_model.requests]
    assert sent == [["max_tokens"], ["max_completion_tokens"], ["max_completion_tokens"]]


async def test_a_fixed_limit_field_is_not_swapped(client_for, kchat_model):
    kchat_model.quirks = Quirks(refuse_field="max_tokens")
    with pytest.raises(ModelError) as caught:
        await collect(client_for(max_answer_tokens=100, token_parameter="max_tokens"), say("x"))
    assert caught.value.code == "model_bad_request" and "max_tokens" in caught.value.message


async def test_a_looping_answer_is_stopped_and_the_request_closed(client_for, kchat_model):
    kchat_model.faults.push(Fault.repeat("The pod is running. ", 5000))
    _, done = await collect(client_for(), say("x"))
    assert done.finish_reason == REPETITION and done.tool_calls == []
    assert len(done.text) < 5000, "stopped long before the 100,000 characters the model meant"
    assert done.text.startswith("The pod is running. ")
    await asyncio.wait_for(kchat_model.requests[-1].disconnected.wait(), 10)


async def test_no_first_chunk_in_time_is_model_timeout_and_not_retried(client_for, kchat_model):
    kchat_model.faults.push(Fault.first_chunk_after(3600))
    client = client_for(first_token_timeout=0.3, max_retries=2)
    with pytest.raises(ModelError) as caught:
        await collect(client, say("x"))
    error = caught.value
    assert error.code == "model_timeout" and error.retryable
    assert "first_token_timeout" in error.message and "CPU" in error.message
    assert "What arrived is kept" not in error.message
    await asyncio.wait_for(kchat_model.requests[0].disconnected.wait(), 10)
    assert len(kchat_model.requests) == 1, "a slow model is not sent its prompt again"


async def test_a_late_first_chunk_within_the_clock_answers(client_for, kchat_model):
    kchat_model.faults.push(Fault.first_chunk_after(0.05))
    _, done = await collect(client_for(first_token_timeout=60), say("worth the wait"))
    assert done.text == "worth the wait"


async def test_a_stream_that_stops_mid_answer_is_model_stalled(client_for, kchat_model):
    kchat_model.faults.push(Fault.stall_after(4))
    items: list[str | Reasoning] = []
    client = client_for(stall_timeout=1.0)
    with pytest.raises(ModelError) as caught:
        async for item in client.stream(model="kchat-demo", messages=say("one two three four "
                                        "five six seven"), tools=None):
            items.append(item)
    assert caught.value.code == "model_stalled" and caught.value.retryable
    assert "What arrived is kept" in caught.value.message
    assert "stream_stall_timeout" in caught.value.message
    assert texts(items) == "one two three four "
    await asyncio.wait_for(kchat_model.requests[0].disconnected.wait(), 10)


async def test_a_stream_cut_after_text_is_interrupted_and_before_is_not(client_for, kchat_model):
    kchat_model.faults.push(Fault.cut_after(5), Fault.cut_after(0))
    with pytest.raises(ModelError) as after:
        await collect(client_for(), [{"role": "user", "content": "stream 50 chunks"}])
    with pytest.raises(ModelError) as before:
        await collect(client_for(), [{"role": "user", "content": "stream 50 chunks"}])
    assert after.value.code == "model_stream_interrupted"
    assert "What arrived is kept" in after.value.message
    assert before.value.code == "model_unavailable" and before.value.retryable
    assert "What arrived is kept" not in before.value.message


async def test_an_error_inside_the_stream_is_reported_with_the_servers_words(
    client_for, kchat_model
):
    kchat_model.faults.push(Fault.error_after(5, "openai"), Fault.error_after(0, "llama.cpp"))
    with pytest.raises(ModelError) as openai_style:
        await collect(client_for(), [{"role": "user", "content": "stream 50 chunks"}])
    with pytest.raises(ModelError) as llama_style:
        await collect(client_for(), [{"role": "user", "content": "stream 50 chunks"}])
    assert openai_style.value.code == "model_stream_interrupted"
    assert "The server had an error" in openai_style.value.message
    assert "What arrived is kept" in openai_style.value.message
    assert llama_style.value.code == "model_unavailable"
    assert "failed to decode the batch" in llama_style.value.message


@pytest.mark.parametrize(
    ("style", "window", "prompt_known"),
    [("llama.cpp", 4096, True), ("llama.cpp-old", 4096, True), ("openai", 8192, True),
     ("vllm", 2048, True), ("ollama", None, False)],
)
async def test_context_errors_of_every_server_are_context_exceeded(
    client_for, kchat_model, style, window, prompt_known
):
    kchat_model.faults.push(Fault.context_exceeded(style, window or 4096))
    client = client_for()
    with pytest.raises(ModelError) as caught:
        await collect(client, say("x"))
    error = caught.value
    assert error.code == "context_exceeded" and error.retryable
    assert error.context_window == window
    assert (error.prompt_tokens is not None) is prompt_known
    if prompt_known:
        assert error.prompt_tokens > (window or 0)
    assert "c.KChat.context_window" in error.message and "num_ctx" in error.message
    assert len(kchat_model.requests) == 1, "a context error is not retried blindly"


async def test_an_enforced_context_limit_is_learned_and_wins(client_for, kchat_model):
    kchat_model.quirks = Quirks(context_window=100, context_style="llama.cpp",
                                flavour="llama.cpp")
    client = client_for()
    long_question = [{"role": "user", "content": "say " + "many words " * 100}]
    with pytest.raises(ModelError) as caught:
        await collect(client, long_question)
    assert caught.value.prompt_tokens is not None and caught.value.prompt_tokens >= 100
    kchat_model.quirks = replace(kchat_model.quirks, context_window=4096)
    assert await client.context_window("kchat-demo") == 100, "the error's number wins"
    _, done = await collect(client, say("fits now"))
    assert done.text == "fits now"


@pytest.mark.parametrize(
    ("quirks", "expected"),
    [(Quirks(flavour="llama.cpp", context_window=8192), 8192),
     (Quirks(flavour="llama.cpp"), 4096),
     (Quirks(flavour="ollama", context_window=16384), 16384),
     (Quirks(flavour="ollama"), 4096),
     (Quirks(flavour="vllm", context_window=32768), 32768),
     (Quirks(), None)],
)
async def test_the_context_window_is_asked_of_the_endpoint_once(
    client_for, kchat_model, quirks, expected
):
    kchat_model.quirks = quirks
    client = client_for()
    assert await client.context_window("kchat-demo") == expected
    kchat_model.quirks = replace(quirks, context_window=1234)
    assert await client.context_window("kchat-demo") == expected, "cached per model"


async def test_a_loaded_ollama_model_tells_its_running_context(client_for, kchat_model):
    kchat_model.quirks = Quirks(flavour="ollama", context_window=32768, modelfile_num_ctx=False)
    client = client_for()
    assert await client.context_window("kchat-demo") == 4096, "not loaded: the default"
    await collect(client, say("loaded now"))
    assert await client.context_window("kchat-demo") == 32768, "OLLAMA_CONTEXT_LENGTH"


async def test_cloud_endpoints_are_not_probed():
    client = ModelClient(api_key="sk-test", base_url="https://api.openai.com/v1")
    try:
        assert await client.context_window("gpt-4o-mini") is None
    finally:
        await client.close()


async def test_leaving_early_closes_the_upstream_request(client_for, kchat_model):
    stream = client_for().stream(model="kchat-demo", tools=None,
                                 messages=[{"role": "user", "content": "stream 100000 chunks"}])
    async for _ in stream:
        break
    await stream.aclose()
    await asyncio.wait_for(kchat_model.requests[0].disconnected.wait(), 10)


async def test_the_read_clock_times_out_waits_and_leaves_the_task_usable():
    loop = asyncio.get_running_loop()
    clock = ReadClock(loop)
    ready = loop.create_future()
    ready.set_result("chunk")
    for _ in range(1000):
        assert await clock.read(asyncio.shield(ready), clock.now() + 60) == "chunk"
    with pytest.raises(TimeoutError):
        await clock.read(loop.create_future(), clock.now() + 0.05)
    assert asyncio.current_task().cancelling() == 0, "the task is not left cancelled"
    assert await clock.read(asyncio.shield(ready), clock.now() + 60) == "chunk"
    clock.close()


async def test_the_read_clock_lets_a_real_cancel_through():
    loop = asyncio.get_running_loop()
    clock = ReadClock(loop)
    waiting = asyncio.ensure_future(clock.read(loop.create_future(), clock.now() + 60))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    clock.close()


async def feed(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def events_of(*pieces: bytes) -> list[SSEEvent]:
    return [event async for batch in sse_events(feed(*pieces)) for event in batch]


async def test_sse_events_follow_the_format_across_reads():
    events = await events_of(b'data: {"a":\r\n', b"data: 1}\r\n\r\n: keep-alive\n\n",
                             b'event: error\ndata: {"x":1}\n\nerror: {"code":500}\n\ndata: [DO',
                             b"NE]\n\n")
    assert events == [SSEEvent(b'{"a":\n1}'), SSEEvent(b'{"x":1}', True),
                      SSEEvent(b'{"code":500}', True), SSEEvent(b"[DONE]")]
    assert await events_of(b"data: last") == [SSEEvent(b"last")], "no final blank line"
    with pytest.raises(ValueError, match="an event of more than"):
        await events_of(*[b"data: " + b"x" * 1_000_000] * 10)


def split_everywhere(text: str) -> list[list[str]]:
    """Every way of cutting ``text`` into two or three pieces."""
    cuts = [[text[:i], text[i:]] for i in range(len(text) + 1)]
    return cuts + [[text[:i], text[i:j], text[j:]] for i in range(0, len(text), 3)
                   for j in range(i, len(text), 5)]


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [("<think>\nplan it</think>\n\nThe answer.", "\nplan it", "The answer."),
     ("  <think>x</think>y", "x", "y"),
     ("No tags here <think> is text", "", "No tags here <think> is text"),
     ("<thin", "", "<thin"),
     ("<think>never closed", "never closed", "")],
)
def test_think_blocks_split_wherever_the_chunks_are_cut(text, reasoning, answer):
    for pieces in split_everywhere(text):
        splitter = ThinkSplitter()
        parts = [splitter.feed(piece) for piece in pieces] + [splitter.flush()]
        assert "".join(p[0] for p in parts) == reasoning, pieces
        assert "".join(p[1] for p in parts) == answer, pieces


def test_the_guard_finds_loops_and_leaves_real_answers_alone():
    assert looping("Intro. " + "- pod web-1 is Running\n" * 60)
    assert looping("ha" * 700)
    pods = "".join(f"| web-{i} | Running | 0 |\n" for i in range(300))
    assert not looping(pods[-4096:])
    benchmark = "".join(demo_model.stream_chunks(5000))
    assert not looping(benchmark[-4096:]), "the benchmark's 641-character cycle is an answer"
