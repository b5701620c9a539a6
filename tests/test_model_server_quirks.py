"""The demo model server's quirks and faults are the real servers' wire formats, read here with
the plain ``openai`` SDK and raw HTTP, the way a client that is not kchat would see them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest

from jupyter_kchat.sample.model_faults import Fault, Quirks
from jupyter_kchat.sample.model_server import ModelServer

TOOLS = [{"type": "function", "function": {
    "name": "list_pods", "parameters": {"type": "object", "properties": {}}}}]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def sdk(kchat_model: ModelServer, jp_asyncio_loop: asyncio.AbstractEventLoop
        ) -> Iterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key="k", base_url=kchat_model.base_url, max_retries=0)
    yield client
    jp_asyncio_loop.run_until_complete(client.close())


@pytest.fixture
def http(kchat_model: ModelServer, jp_asyncio_loop: asyncio.AbstractEventLoop
         ) -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{kchat_model.port}")
    yield client
    jp_asyncio_loop.run_until_complete(client.aclose())


async def chunks(sdk: openai.AsyncOpenAI, messages: list[dict[str, Any]], **extra: Any
                 ) -> list[Any]:
    stream = await sdk.chat.completions.create(
        model="kchat-demo", messages=messages, stream=True,
        stream_options={"include_usage": True}, **extra,
    )
    return [chunk async for chunk in stream]


@pytest.mark.parametrize("style", ["llama.cpp", "llama.cpp-old", "openai", "vllm", "ollama"])
async def test_an_enforced_context_limit_answers_400_in_the_servers_words(
    sdk, kchat_model, style
):
    kchat_model.quirks = Quirks(context_window=50, context_style=style)
    with pytest.raises(openai.BadRequestError) as caught:
        await chunks(sdk, user("say " + "words " * 100))
    body = caught.value.body
    message = body["message"]
    if style.startswith("llama.cpp"):
        assert "exceeds the available context size (50 tokens)" in message
        assert (body["type"] == "exceed_context_size_error") is (style == "llama.cpp")
        if style == "llama.cpp":
            assert body["n_ctx"] == 50 and body["n_prompt_tokens"] > 50
    elif style == "openai":
        assert body["code"] == "context_length_exceeded" and body["param"] == "messages"
        assert message.startswith("This model's maximum context length is 50 tokens.")
    elif style == "vllm":
        assert body["type"] == "BadRequestError" and "maximum context length is 50" in message
    else:
        assert message == "the input length exceeds the context length"
    short = await chunks(sdk, user("say ok"))
    assert "".join(c.choices[0].delta.content or "" for c in short if c.choices) == "ok"


async def test_a_prompt_near_the_limit_is_cut_at_the_context_end(sdk, kchat_model):
    kchat_model.quirks = Quirks(context_window=40)
    result = await chunks(sdk, user("stream 400 chunks"))
    finishes = [c.choices[0].finish_reason for c in result if c.choices]
    assert finishes[-1] == "length", "llama.cpp stops when the context is full"


async def test_max_tokens_is_honoured_when_asked(sdk, kchat_model):
    kchat_model.quirks = Quirks(honour_max_tokens=True)
    result = await chunks(sdk, user("stream 400 chunks"), max_completion_tokens=25)
    text = "".join(c.choices[0].delta.content or "" for c in result if c.choices)
    assert len(text) == 100 and result[-2].choices[0].finish_reason == "length"
    assert result[-1].usage.completion_tokens == 25


async def test_reasoning_arrives_as_each_server_names_it(sdk, kchat_model):
    for field in ("reasoning_content", "reasoning"):
        kchat_model.quirks = Quirks(reasoning=field)
        result = await chunks(sdk, user("say hi"))
        deltas = [c.choices[0].delta.model_extra or {} for c in result if c.choices]
        assert "".join(d.get(field) or "" for d in deltas).startswith("I have what I need")
    kchat_model.quirks = Quirks(reasoning="think")
    result = await chunks(sdk, user("say hi"))
    pieces = [c.choices[0].delta.content or "" for c in result if c.choices]
    assert "".join(pieces).startswith("<think>\nI have what I need")
    assert "".join(pieces).endswith("</think>\n\nhi")
    assert "<think>" not in pieces and "</think>" not in pieces, "tags cut across chunks"


async def test_llama_cpp_tool_calls_come_whole_without_ids(sdk, kchat_model):
    kchat_model.quirks = Quirks(tool_calls_whole=True, text_with_tool_calls=True)
    result = await chunks(sdk, user("list all pods"), tools=TOOLS)
    calls = [t for c in result if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert len(calls) == 1 and calls[0].id is None and calls[0].index == 0
    assert orjson.loads(calls[0].function.arguments) is not None
    text = "".join(c.choices[0].delta.content or "" for c in result if c.choices)
    assert text == "Let me look that up in the cluster."
    plain = await sdk.chat.completions.create(model="kchat-demo", messages=user("list all pods"),
                                              tools=TOOLS)
    assert plain.choices[0].message.tool_calls[0].id is None
    assert plain.choices[0].message.content == text


async def test_no_usage_chunk_even_when_asked(sdk, kchat_model):
    kchat_model.quirks = Quirks(usage_chunk=False)
    result = await chunks(sdk, user("say hi"))
    assert all(c.usage is None for c in result) and result[-1].choices[0].finish_reason


async def test_a_refused_field_is_openais_unsupported_parameter(sdk, kchat_model):
    kchat_model.quirks = Quirks(refuse_field="max_tokens")
    with pytest.raises(openai.BadRequestError) as caught:
        await chunks(sdk, user("say hi"), max_tokens=10)
    assert caught.value.body["code"] == "unsupported_parameter"
    assert "Use 'max_completion_tokens' instead" in caught.value.body["message"]


async def test_llama_cpp_props_report_the_running_context(http, kchat_model):
    assert (await http.get("/props")).status_code == 404, "OpenAI has no /props"
    kchat_model.quirks = Quirks(flavour="llama.cpp", context_window=8192)
    props = (await http.get("/props")).json()
    assert props["default_generation_settings"]["n_ctx"] == 8192 and props["total_slots"] == 1


async def test_ollama_show_reports_num_ctx_only_when_set(http, kchat_model):
    assert (await http.post("/api/show", json={"model": "kchat-demo"})).status_code == 404
    kchat_model.quirks = Quirks(flavour="ollama")
    shown = (await http.post("/api/show", json={"model": "kchat-demo"})).json()
    assert "num_ctx" not in shown["parameters"]
    assert shown["model_info"]["llama.context_length"] == 131072
    kchat_model.quirks = Quirks(flavour="ollama", context_window=16384)
    shown = (await http.post("/api/show", json={"name": "kchat-demo"})).json()
    assert shown["parameters"].splitlines()[0].split() == ["num_ctx", "16384"]
    missing = await http.post("/api/show", json={"model": "llama3"})
    assert missing.status_code == 404 and missing.json() == {"error": "model 'llama3' not found"}


async def test_quirks_and_new_faults_are_set_over_http(http, kchat_model):
    changed = await http.post("/_control/quirks", json={"context_window": 4096,
                                                        "context_style": "openai"})
    assert changed.json()["context_window"] == 4096
    assert kchat_model.quirks.context_style == "openai"
    bad = await http.post("/_control/quirks", json={"context_style": "gpt"})
    assert bad.status_code == 400 and "context_style" in bad.json()["error"]["message"]
    queued = await http.post("/_control/faults", json=[
        Fault.first_chunk_after(1).to_json(), {"kind": "repeat", "message": "x", "chunks": 3},
        {"kind": "context_exceeded", "style": "vllm", "window": 10},
    ])
    assert queued.json() == {"queued": 3, "pending": 3}
    await http.post("/_control/reset")
    assert kchat_model.quirks == Quirks() and len(kchat_model.faults) == 0


async def test_an_error_mid_stream_is_each_servers_frame(sdk, http, kchat_model):
    kchat_model.faults.push(Fault.error_after(3, "openai"), Fault.error_after(3, "llama.cpp"))
    with pytest.raises(openai.APIError, match="The server had an error"):
        await chunks(sdk, user("stream 50 chunks"))
    body = {"model": "kchat-demo", "messages": user("stream 50 chunks"), "stream": True}
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            async for piece in response.aiter_raw():
                received.append(piece)
    raw = b"".join(received)
    frames = raw.split(b"\n\n")
    assert len(frames) == 5 and frames[-1] == b"", "three chunks, the error, then closed"
    assert frames[3].startswith(b"error: {") and b"[DONE]" not in raw


async def test_a_late_first_chunk_sends_the_headers_at_once(http, kchat_model):
    kchat_model.faults.push(Fault.first_chunk_after(3600))
    body = {"model": "kchat-demo", "messages": user("say hi"), "stream": True}
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
    await asyncio.wait_for(kchat_model.requests[0].disconnected.wait(), 10)
