"""The demo model server, driven by the real ``openai`` client (sync and async) over loopback.

The server runs in its own thread (``run_in_thread``); async client code runs in
``asyncio.run``. Waiting on the server's events goes through ``ModelServer.submit``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import openai
import pytest

from jupyter_kchat.sample import demo_model
from jupyter_kchat.sample.demo_model import READ_ONLY_HINT, Decision, decide
from jupyter_kchat.sample.model_server import Fault, ModelServer

if TYPE_CHECKING:
    import httpx

WAIT = 10.0

READ_TOOLS = (
    "list_pods", "get_pod", "get_pod_logs", "list_events", "list_nodes", "list_deployments",
    "list_services", "list_namespaces", "list_secrets", "diagnose_cluster",
)
WRITE_TOOLS = ("delete_pod", "scale_deployment", "restart_deployment")
PROPERTIES = {
    "name": {"type": "string"},
    "namespace": {"type": "string"},
    "all_namespaces": {"type": "boolean"},
    "label_selector": {"type": "string"},
    "field_selector": {"type": "string"},
    "container": {"type": "string"},
    "tail_lines": {"type": "integer"},
    "previous": {"type": "boolean"},
    "grep": {"type": "string"},
    "warnings_only": {"type": "boolean"},
    "involved_object": {"type": "string"},
    "kind": {"type": "string", "enum": ["Deployment", "StatefulSet", "DaemonSet"]},
    "replicas": {"type": "integer"},
}


def tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} (test schema)",
            "parameters": {"type": "object", "properties": PROPERTIES},
        },
    }


READ_ONLY = [tool(name) for name in READ_TOOLS]
ALL_TOOLS = READ_ONLY + [tool(name) for name in WRITE_TOOLS]

PODS = """NAMESPACE     NAME                              READY   STATUS             RESTARTS   AGE
kube-system   coredns-5d78c9869d-4xk2p          1/1     Running            0          3d
payments      payments-api-7c9f8d6b5-x2x9k      0/1     CrashLoopBackOff   7          42m
payments      payments-worker-6b8f7c5d4-qwz7m   1/1     Running            0          2d
web           frontend-5d4b9c8f6d-h7j2k         1/1     Running            0          2d"""
DIAGNOSIS = """Problems found in namespace payments:
- payments/payments-api-7c9f8d6b5-x2x9k: CrashLoopBackOff (7 restarts), last exit code 1
- Warning BackOff pod/payments-api-7c9f8d6b5-x2x9k: Back-off restarting failed container api"""
LOGS = """2024-05-01T10:00:01Z INFO starting payments-api v1.4.2
2024-05-01T10:00:05Z ERROR could not connect to payments-db:5432: connection refused
2024-05-01T10:00:05Z FATAL giving up after 3 attempts"""


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are kchat."}, {"role": "user", "content": text}]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ModelServer]:
    server = ModelServer()
    with server.run_in_thread(port=0):
        yield server


@pytest.fixture
def server(shared_server: ModelServer) -> ModelServer:
    """One server for the module, with no faults or records left from the previous test."""
    shared_server.reset()
    return shared_server


@pytest.fixture
def client(server: ModelServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as sdk:
        yield sdk


def wait_event(server: ModelServer, event: asyncio.Event) -> None:
    """Block until a server-loop event is set (event-driven, with a deadline)."""
    server.submit(asyncio.wait_for(event.wait(), WAIT)).result(WAIT + 1)


def collect(stream: Any) -> tuple[list[Any], str, dict[int, dict[str, str]], str | None]:
    """Chunks, text, tool calls by index (id, name, arguments) and the finish reason."""
    chunks = list(stream)
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for fragment in choice.delta.tool_calls or ():
                call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += fragment.id or ""
                if fragment.function is not None:
                    call["name"] += fragment.function.name or ""
                    call["arguments"] += fragment.function.arguments or ""
            finish = choice.finish_reason or finish
    return chunks, text, calls, finish


# --- wire format -------------------------------------------------------------------------------


def test_models_lists_the_demo_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["kchat-demo"]
    assert models.data[0].owned_by == "kchat"
    assert client.models.retrieve("kchat-demo").object == "model"


def test_streamed_text_arrives_in_pieces_and_assembles(
    client: openai.OpenAI, server: ModelServer
) -> None:
    stream = client.chat.completions.create(
        model="my-model", messages=user("say Hello there, Kubernetes friend!"), stream=True
    )
    chunks, text, calls, finish = collect(stream)
    assert text == "Hello there, Kubernetes friend!"
    assert not calls and finish == "stop"
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) >= 4, "text is streamed word by word"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.model for c in chunks} == {"my-model"}, "the model field is echoed"
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert all(c.usage is None for c in chunks), "no usage without include_usage"
    assert server.requests[0].body["model"] == "my-model"
    assert server.requests[0].status == 200


def test_plain_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="kchat-demo", messages=user("say pong"))
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "pong"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_plain_completion_with_tool_call(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="kchat-demo", messages=user("list all pods"), tools=READ_ONLY
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "list_pods"
    assert json.loads(call.function.arguments) == {"all_namespaces": True}


def test_tool_call_arguments_arrive_in_fragments_async(server: ModelServer) -> None:
    wanted = {"namespace": "payments", "label_selector": "app=payments-api", "tail_lines": 50}

    async def run() -> tuple[list[Any], dict[int, dict[str, str]], str | None]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model="kchat-demo",
                messages=user(f"call tool list_pods with {json.dumps(wanted)}"),
                tools=READ_ONLY,
                stream=True,
            )
            chunks = [chunk async for chunk in stream]
        _, _, calls, finish = collect(chunks)
        return chunks, calls, finish

    chunks, calls, finish = asyncio.run(run())
    assert finish == "tool_calls"
    assert calls[0]["id"].startswith("call_") and calls[0]["name"] == "list_pods"
    assert json.loads(calls[0]["arguments"]) == wanted
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
    fragments = [d[0].function.arguments for d in deltas if d and d[0].id is None]
    assert len(fragments) >= 3, "arguments are split into several fragments"
    assert not all(_valid_json(f) for f in fragments), "fragments split mid-token"
    header = next(c for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    assert header.choices[0].delta.tool_calls[0].function.arguments == ""
    assert header.choices[0].delta.role == "assistant"


def _valid_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_parallel_tool_calls_have_distinct_indexes(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="kchat-demo",
        messages=user("why is payments-api crashlooping?"),
        tools=[t for t in READ_ONLY if t["function"]["name"] != "diagnose_cluster"],
        stream=True,
    )
    _, _, calls, finish = collect(stream)
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["list_pods", "list_events"]
    assert json.loads(calls[1]["arguments"]) == {"namespace": "payments", "warnings_only": True}
    assert calls[0]["id"] != calls[1]["id"]


def test_usage_chunk_with_include_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="kchat-demo",
        messages=user("say counting tokens"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_stream_3000_chunks_exactly(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="kchat-demo", messages=user("stream 3000 chunks"), tools=READ_ONLY, stream=True
    )
    chunks, text, calls, finish = collect(stream)
    content = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(content) == 3000
    assert all(0 < len(piece) <= 8 for piece in content)
    assert not calls and finish == "stop"
    assert "```" in text and "| Namespace |" in text
    assert text.count("```") % 2 == 0, "code fences are closed"


def test_raw_sse_format(server: ModelServer) -> None:
    """The bytes on the wire: ``data: {json}\\n\\n`` frames ending with ``data: [DONE]``."""
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(
            {"model": "m", "messages": user("say hi"), "stream": True,
             "stream_options": {"include_usage": True}}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = response.read().decode()
    frames = raw.split("\n\n")
    assert frames[-1] == "" and frames[-2] == "data: [DONE]"
    payloads = [json.loads(frame.removeprefix("data: ")) for frame in frames[:-2]]
    first = payloads[0]["choices"][0]
    assert first == {
        "index": 0, "delta": {"role": "assistant", "content": "hi"},
        "logprobs": None, "finish_reason": None,
    }
    assert payloads[-2]["choices"][0]["finish_reason"] == "stop"
    assert payloads[-1]["choices"] == [] and set(payloads[-1]["usage"]) == {
        "prompt_tokens", "completion_tokens", "total_tokens",
    }


# --- errors and faults -------------------------------------------------------------------------


def test_rate_limit_is_retried_by_the_sdk(server: ModelServer) -> None:
    server.faults.push(Fault.status(429), Fault.status(429))
    answers: list[tuple[int, str | None]] = []

    def seen(response: httpx.Response) -> None:
        answers.append((response.status_code, response.headers.get("retry-after-ms")))

    http = openai.DefaultHttpxClient(event_hooks={"response": [seen]})
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", max_retries=2, http_client=http
    ) as sdk:
        completion = sdk.chat.completions.create(model="kchat-demo", messages=user("say ok"))
    assert completion.choices[0].message.content == "ok"
    assert [r.status for r in server.requests] == [429, 429, 200]
    assert answers == [(429, "10"), (429, "10"), (200, None)], "retry-after-ms keeps retries fast"


def test_rate_limit_beyond_retries_raises(server: ModelServer) -> None:
    server.faults.push(*[Fault.status(429)] * 3)
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=2) as sdk:
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="kchat-demo", messages=user("say ok"))
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert len(server.requests) == 3


def test_server_error_without_retries(client: openai.OpenAI, server: ModelServer) -> None:
    server.faults.push(Fault.status(500))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="kchat-demo", messages=user("say ok"), stream=True)
    assert caught.value.status_code == 500
    assert caught.value.body == {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error", "param": None, "code": None,
    }
    assert len(server.requests) == 1


def test_503_with_custom_message(client: openai.OpenAI, server: ModelServer) -> None:
    server.faults.push(Fault.status(503, message="overloaded, come back later"))
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="kchat-demo", messages=user("say ok"))
    assert caught.value.status_code == 503
    assert "overloaded, come back later" in str(caught.value)
    after = client.chat.completions.create(model="x", messages=user("say ok"))
    assert after.choices[0].message.content == "ok", "the fault was consumed by one request"


def test_cut_stream_raises_api_connection_error_after_the_chunks(
    client: openai.OpenAI, server: ModelServer
) -> None:
    """A dropped stream is not a silent end: the SDK raises APIConnectionError mid-iteration.

    Its cause is the HTTP client's RemoteProtocolError ("incomplete chunked read"); the chunks
    before the cut were delivered, and no finish_reason was ever seen.
    """
    server.faults.push(Fault.cut_after(3))
    stream = client.chat.completions.create(
        model="kchat-demo", messages=user("say one two three four five six"), stream=True
    )
    received: list[Any] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert "incomplete chunked read" in str(caught.value.__cause__)
    assert "".join(c.choices[0].delta.content for c in received) == "one two three "
    assert all(c.choices[0].finish_reason is None for c in received)
    record = server.requests[0]
    assert record.chunks_sent == 3 and not record.disconnected.is_set()


def test_cut_before_any_chunk(client: openai.OpenAI, server: ModelServer) -> None:
    server.faults.push(Fault.cut_after(0))
    stream = client.chat.completions.create(model="kchat-demo", messages=user("say x"), stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(stream)


def test_bad_tool_arguments(client: openai.OpenAI, server: ModelServer) -> None:
    server.faults.push(Fault.bad_tool_arguments())
    stream = client.chat.completions.create(
        model="kchat-demo", messages=user("pods in payments"), tools=READ_ONLY, stream=True
    )
    _, _, calls, finish = collect(stream)
    assert finish == "tool_calls" and calls[0]["name"] == "list_pods"
    assert calls[0]["arguments"].startswith('{"namespace": "pay')
    with pytest.raises(json.JSONDecodeError):
        json.loads(calls[0]["arguments"])
    stream = client.chat.completions.create(
        model="kchat-demo", messages=user("pods in payments"), tools=READ_ONLY, stream=True
    )
    assert json.loads(collect(stream)[2][0]["arguments"]) == {"namespace": "payments"}


def test_hang_then_client_cancel_sets_disconnected(server: ModelServer) -> None:
    server.faults.push(Fault.hang())

    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model="kchat-demo", messages=user("say never"), stream=True
            )

            async def consume() -> None:
                async for _ in stream:
                    pass

            task = asyncio.create_task(consume())
            done, _ = await asyncio.wait({task}, timeout=0.2)
            assert not done, "a hanging stream delivers nothing"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await stream.close()

    asyncio.run(run())
    record = server.requests[0]
    wait_event(server, record.disconnected)
    wait_event(server, record.finished)
    assert record.chunks_sent == 0


def test_client_leaving_mid_stream_sets_disconnected(server: ModelServer) -> None:
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
        stream = sdk.chat.completions.create(
            model="kchat-demo", messages=user("stream 200000 chunks"), stream=True
        )
        for count, _ in enumerate(stream):
            if count == 100:
                break
        stream.close()
    record = server.requests[0]
    wait_event(server, record.disconnected)
    wait_event(server, record.finished)
    assert 100 <= record.chunks_sent < 200000


def test_hang_without_streaming_times_out_the_client(server: ModelServer) -> None:
    server.faults.push(Fault.hang())
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", max_retries=0, timeout=0.3
    ) as sdk:
        with pytest.raises(openai.APITimeoutError):
            sdk.chat.completions.create(model="kchat-demo", messages=user("say late"))
    record = server.requests[0]
    wait_event(server, record.disconnected)
    assert record.status == 200, "headers were sent, the body never came"


def test_slow_fault_spaces_the_chunks(client: openai.OpenAI, server: ModelServer) -> None:
    server.faults.push(Fault.slow(0.05))
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="kchat-demo", messages=user("say a b c d"), stream=True
    )
    assert collect(stream)[1] == "a b c d"
    assert time.monotonic() - started >= 4 * 0.05


def test_malformed_requests_get_openai_400s(client: openai.OpenAI, server: ModelServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="kchat-demo", messages=[])
    assert caught.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        client.post("/chat/completions", body={"model": "kchat-demo"}, cast_to=dict)
    unanswered = [
        {"role": "user", "content": "list all pods"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "list_pods", "arguments": "{}"}}
        ]},
        {"role": "user", "content": "and now?"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="kchat-demo", messages=unanswered, tools=READ_ONLY)
    assert "call_1" in caught.value.body["message"]
    orphan = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "x", "content": "?"},
    ]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="kchat-demo", messages=orphan)
    assert [r.status for r in server.requests] == [400, 400, 400, 400]


def test_unknown_route_is_an_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.post("/embeddings", body={"model": "x", "input": "y"}, cast_to=dict)
    assert caught.value.body["message"] == "Invalid URL (POST /v1/embeddings)"


def test_api_key_is_enforced() -> None:
    server = ModelServer(api_key="sk-right-key")
    with server.run_in_thread() as base_url:
        with openai.OpenAI(base_url=base_url, api_key="sk-wrong-key", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError) as caught:
                wrong.chat.completions.create(model="kchat-demo", messages=user("say hi"))
            assert caught.value.body["code"] == "invalid_api_key"
            assert "sk-wrong-key" not in str(caught.value), "the key is not echoed in full"
            with pytest.raises(openai.AuthenticationError):
                wrong.models.list()
        with openai.OpenAI(base_url=base_url, api_key="sk-right-key", max_retries=0) as right:
            answer = right.chat.completions.create(model="kchat-demo", messages=user("say hi"))
            assert answer.choices[0].message.content == "hi"
        assert [r.status for r in server.requests] == [401, 200]


def test_control_endpoints(server: ModelServer) -> None:
    base = server.base_url.removesuffix("/v1")

    def call(path: str, data: Any = None) -> Any:
        request = urllib.request.Request(
            base + path,
            data=None if data is None else json.dumps(data).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return json.loads(response.read())

    faults = [{"kind": "status", "code": 503}, {"kind": "cut_after", "chunks": 2}]
    queued = call("/_control/faults", faults)
    assert queued == {"queued": 2, "pending": 2}
    assert [f["kind"] for f in call("/_control/faults")] == ["status", "cut_after"]
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.APIStatusError):
            sdk.chat.completions.create(model="kchat-demo", messages=user("say 1"))
        with pytest.raises(openai.APIConnectionError):
            list(sdk.chat.completions.create(
                model="kchat-demo", messages=user("say 1 2 3"), stream=True
            ))
    bodies = call("/_control/requests")
    assert [b["messages"][-1]["content"] for b in bodies] == ["say 1", "say 1 2 3"]
    detail = call("/_control/requests?detail=1")
    assert [d["status"] for d in detail] == [503, 200]
    assert detail[1]["fault"]["kind"] == "cut_after" and detail[1]["chunks_sent"] == 2
    with pytest.raises(urllib.error.HTTPError) as caught:
        call("/_control/faults", [{"kind": "explode"}])
    assert caught.value.code == 400
    caught.value.close()
    assert call("/_control/reset", {}) == {"reset": True}
    assert call("/_control/requests") == [] and server.faults.pending() == []


def test_async_api_in_one_loop() -> None:
    """start/wait_for_request/stop on the caller's loop, as the lead's pytest fixture uses it."""

    async def run() -> None:
        server = ModelServer(chunk_delay=0.001)
        base_url = await server.start(host="127.0.0.1", port=0)
        assert base_url == server.base_url and base_url.endswith("/v1")
        try:
            async with openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0) as sdk:
                waiting = asyncio.create_task(server.wait_for_request(2))
                for word in ("first", "second"):
                    answer = await sdk.chat.completions.create(
                        model="m", messages=user(f"say {word}")
                    )
                    assert answer.choices[0].message.content == word
                record = await asyncio.wait_for(waiting, WAIT)
                assert record.index == 1 and record.messages[-1]["content"] == "say second"
                server.faults.push(Fault.hang())
                stream = await sdk.chat.completions.create(
                    model="m", messages=user("say x"), stream=True
                )
                hanging = await server.wait_for_request(3)
                await stream.close()
                await asyncio.wait_for(hanging.disconnected.wait(), WAIT)
                server.faults.push(Fault.hang())
                left_open = await sdk.chat.completions.create(
                    model="m", messages=user("say x"), stream=True
                )
                stuck = await server.wait_for_request(4)
                await server.stop()
                await asyncio.wait_for(stuck.finished.wait(), WAIT)
                assert not stuck.disconnected.is_set(), "a server stop is not a client disconnect"
                with pytest.raises(openai.APIConnectionError):
                    await anext(aiter(left_open))
                await left_open.close()
        finally:
            await server.stop()

    asyncio.run(run())


def test_cli_prints_the_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "jupyter_kchat.sample_model", "--port", "0",
         "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("kchat demo model: http://127.0.0.1:")
        base_url = line.split(": ", 1)[1].strip()
        with openai.OpenAI(base_url=base_url, api_key="cli-key", max_retries=0) as sdk:
            assert sdk.chat.completions.create(
                model="kchat-demo", messages=user("say from a subprocess")
            ).choices[0].message.content == "from a subprocess"
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# --- the demo model through the SDK ------------------------------------------------------------


def test_list_all_pods_then_answer_from_the_result(client: openai.OpenAI) -> None:
    messages = user("list all pods")
    first = client.chat.completions.create(model="kchat-demo", messages=messages, tools=READ_ONLY)
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "list_pods", {"all_namespaces": True},
    )
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": PODS},
    ]
    stream = client.chat.completions.create(
        model="kchat-demo", messages=messages, tools=READ_ONLY, stream=True
    )
    _, answer, calls, finish = collect(stream)
    assert not calls and finish == "stop"
    assert answer.startswith("### Pods in all namespaces")
    assert "payments/payments-api-7c9f8d6b5-x2x9k" in answer and "CrashLoopBackOff" in answer
    assert "**4 pods**" in answer


def test_multi_round_crashloop_diagnosis(client: openai.OpenAI) -> None:
    """diagnose_cluster, then the previous logs of the crashlooping pod, then the answer."""
    messages = user("why is payments-api crashlooping?")
    results = {"diagnose_cluster": DIAGNOSIS, "get_pod_logs": LOGS}
    names: list[tuple[str, dict[str, Any]]] = []
    for _ in range(4):
        reply = client.chat.completions.create(
            model="kchat-demo", messages=messages, tools=READ_ONLY
        )
        message = reply.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            names.append((call.function.name, json.loads(call.function.arguments)))
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": results[call.function.name]}
            )
    assert names == [
        ("diagnose_cluster", {"namespace": "payments"}),
        ("get_pod_logs", {"name": "payments-api-7c9f8d6b5-x2x9k", "namespace": "payments",
                          "tail_lines": 50, "previous": True}),
    ]
    answer = message.content or ""
    assert "connection refused" in answer and "CrashLoopBackOff" in answer
    assert "**Suggestion:**" in answer


def test_write_tools_not_offered_in_read_only_mode(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="kchat-demo",
        messages=user("restart deployment payments-api in payments"),
        tools=READ_ONLY,
    )
    message = reply.choices[0].message
    assert message.tool_calls is None
    assert "--KChat.read_only=False" in (message.content or "")
    allowed = client.chat.completions.create(
        model="kchat-demo",
        messages=user("restart deployment payments-api in payments"),
        tools=ALL_TOOLS,
    )
    call = allowed.choices[0].message.tool_calls[0]
    assert call.function.name == "restart_deployment"
    assert json.loads(call.function.arguments) == {"name": "payments-api", "namespace": "payments"}


def test_tool_choice_none_means_text(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="kchat-demo", messages=user("list all pods"), tools=READ_ONLY, tool_choice="none"
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content


# --- the demo model's decisions (pure) ---------------------------------------------------------


def calls_of(decision: Decision) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in decision.tool_calls]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("list all pods", [("list_pods", {"all_namespaces": True})]),
        ("List ALL the pods please", [("list_pods", {"all_namespaces": True})]),
        ("pods in payments", [("list_pods", {"namespace": "payments"})]),
        ("show pods in namespace shop", [("list_pods", {"namespace": "shop"})]),
        ("pods with app=web in the shop namespace",
         [("list_pods", {"namespace": "shop", "label_selector": "app=web"})]),
        ("pending pods", [("list_pods", {"field_selector": "status.phase=Pending"})]),
        ("why is payments-api crashlooping?", [("diagnose_cluster", {"namespace": "payments"})]),
        ("what's wrong with the cluster?", [("diagnose_cluster", {})]),
        ("any nodes under memory pressure?", [("list_nodes", {})]),
        ("show warning events in payments",
         [("list_events", {"namespace": "payments", "warnings_only": True})]),
        ("list deployments in payments", [("list_deployments", {"namespace": "payments"})]),
        ("list statefulsets", [("list_deployments", {"kind": "StatefulSet"})]),
        ("services in web", [("list_services", {"namespace": "web"})]),
        ("which namespaces exist?", [("list_namespaces", {})]),
        ("list secrets in payments", [("list_secrets", {"namespace": "payments"})]),
        ("describe pod web-1 in shop", [("get_pod", {"name": "web-1", "namespace": "shop"})]),
        ("show nodes and services across the cluster",
         [("list_nodes", {}), ("list_services", {"all_namespaces": True})]),
        ("logs of payments-api-7c9f8d6b5-x2x9k in payments, last 20 lines",
         [("get_pod_logs", {"name": "payments-api-7c9f8d6b5-x2x9k", "namespace": "payments",
                            "tail_lines": 20})]),
        ("logs of payments-api in payments", [("list_pods", {"namespace": "payments"})]),
        ("scale payments-api in payments to 3",
         [("scale_deployment", {"name": "payments-api", "namespace": "payments", "replicas": 3})]),
        ("delete pod web-7c9f8d6b5-x2x9k in shop",
         [("delete_pod", {"name": "web-7c9f8d6b5-x2x9k", "namespace": "shop"})]),
    ],
)
def test_intents(question: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    assert calls_of(decide(user(question), ALL_TOOLS)) == expected


def test_only_offered_tools_are_called() -> None:
    only_pods = [tool("list_pods")]
    for question in ("list all pods", "why is payments-api crashlooping?", "show warning events",
                     "restart deployment web in shop", "delete pod web-1 in shop", "list nodes",
                     "logs of web-7c9f8d6b5-x2x9k", "hello", "any nodes with memory pressure?"):
        for tools in (only_pods, READ_ONLY, []):
            offered = {t["function"]["name"] for t in tools}
            decision = decide(user(question), tools)
            assert {call.name for call in decision.tool_calls} <= offered, (question, offered)
            assert decision.tool_calls or decision.text


def test_read_only_answer_explains_how_to_enable_changes() -> None:
    for question in ("restart deployment payments-api in payments", "scale web to 5",
                     "delete pod web-7c9f8d6b5-x2x9k in shop"):
        decision = decide(user(question), READ_ONLY)
        assert not decision.tool_calls
        assert READ_ONLY_HINT in decision.text


def test_no_matching_intent_gets_a_friendly_help_text() -> None:
    decision = decide(user("tell me a joke"), READ_ONLY)
    assert not decision.tool_calls
    assert "list all pods" in decision.text and "read-only" in decision.text


def test_follow_up_finds_the_crashlooping_pod_without_diagnose_cluster() -> None:
    tools = [t for t in READ_ONLY if t["function"]["name"] != "diagnose_cluster"]
    messages = user("why is payments-api crashlooping?") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function",
             "function": {"name": "list_pods", "arguments": '{"namespace": "payments"}'}},
            {"id": "b", "type": "function", "function": {"name": "list_events", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "a", "content": PODS},
        {"role": "tool", "tool_call_id": "b", "content": "No events."},
    ]
    assert calls_of(decide(messages, tools)) == [
        ("get_pod_logs", {"name": "payments-api-7c9f8d6b5-x2x9k", "namespace": "payments",
                          "tail_lines": 50, "previous": True}),
    ]


def test_errors_are_acknowledged() -> None:
    forbidden = (
        'Error: secrets is forbidden: User "alice" cannot list resource "secrets" in the '
        'namespace "payments"'
    )
    messages = user("list secrets in payments") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "s", "type": "function",
             "function": {"name": "list_secrets", "arguments": '{"namespace": "payments"}'}},
        ]},
        {"role": "tool", "tool_call_id": "s", "content": forbidden},
    ]
    decision = decide(messages, READ_ONLY)
    assert not decision.tool_calls
    assert "couldn't" in decision.text and "forbidden" in decision.text
    assert "RBAC" in decision.text


def test_logs_of_a_deployment_name_resolve_the_pod_first() -> None:
    messages = user("logs of payments-api in payments")
    assert calls_of(decide(messages, READ_ONLY)) == [("list_pods", {"namespace": "payments"})]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "p", "type": "function",
             "function": {"name": "list_pods", "arguments": '{"namespace": "payments"}'}},
        ]},
        {"role": "tool", "tool_call_id": "p", "content": PODS},
    ]
    assert calls_of(decide(messages, READ_ONLY)) == [
        ("get_pod_logs", {"name": "payments-api-7c9f8d6b5-x2x9k", "namespace": "payments",
                          "tail_lines": 100}),
    ]
    arguments = json.dumps(decide(messages, READ_ONLY).tool_calls[0].arguments)
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "l", "type": "function",
             "function": {"name": "get_pod_logs", "arguments": arguments}},
        ]},
        {"role": "tool", "tool_call_id": "l", "content": LOGS},
    ]
    answer = decide(messages, READ_ONLY)
    assert not answer.tool_calls
    assert answer.text.startswith("### Logs of `payments-api-7c9f8d6b5-x2x9k`")
    assert "connection refused" in answer.text


def test_denied_change_is_acknowledged() -> None:
    messages = user("restart deployment web in shop") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "r", "type": "function", "function": {
                "name": "restart_deployment", "arguments": '{"name": "web", "namespace": "shop"}'}},
        ]},
        {"role": "tool", "tool_call_id": "r", "content":
            "The user denied this change (or did not answer in time); nothing was sent to the "
            "cluster. Do not retry it unless the user asks again."},
    ]
    decision = decide(messages, ALL_TOOLS)
    assert not decision.tool_calls
    assert "Done" not in decision.text and "you declined" in decision.text


def test_last_round_without_tools_answers_with_what_it_has() -> None:
    messages = user("why is payments-api crashlooping?") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "d", "type": "function",
             "function": {"name": "diagnose_cluster", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "d", "content": DIAGNOSIS},
        {"role": "system", "content": "You have used every tool round this turn allows."},
    ]
    decision = decide(messages, None)
    assert not decision.tool_calls
    assert "payments-api-7c9f8d6b5-x2x9k" in decision.text


def test_scripted_scenarios() -> None:
    assert decide(user("say  exactly   this "), []).text == "exactly   this "
    with_cell = user("say hi\n\nContext: the active notebook cell (python):\n```python\nx\n```")
    assert decide(with_cell, []).text == "hi"
    raw = decide(user('call tool get_pod with {"name": "x"'), READ_ONLY)
    assert raw.tool_calls[0].arguments_json() == '{"name": "x"'
    hidden = decide(user("call tool delete_pod with {}"), READ_ONLY)
    assert calls_of(hidden) == [("delete_pod", {})], "scripted calls may name unoffered tools"
    chunks = decide(user("stream 7 chunks"), READ_ONLY).text_chunks()
    assert len(chunks) == 7 and all(chunks)
    after = user("call tool list_pods") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "list_pods", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "t", "content": PODS},
    ]
    assert decide(after, READ_ONLY).text.startswith("The `list_pods` call returned 5 lines")


@pytest.mark.parametrize("count", [0, 1, 2, 17, 100, 3000, 12345])
def test_stream_chunks_are_exact_and_well_formed(count: int) -> None:
    chunks = demo_model.stream_chunks(count)
    assert len(chunks) == count and all(chunks)
    assert "".join(chunks).count("```") % 2 == 0


def test_argument_fragments_rejoin() -> None:
    arguments = json.dumps({"all_namespaces": True})
    fragments = demo_model.split_arguments(arguments)
    assert "".join(fragments) == arguments and len(fragments) >= 3
    assert demo_model.split_text("a bc  def") == ["a ", "bc  ", "def"]
