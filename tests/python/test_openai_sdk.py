"""Veil through the official `openai` SDK, as its users call it: only
`base_url` and the API key change."""

import asyncio
import json

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def client(veil):
    return OpenAI(base_url=veil.base_url, api_key=veil.key, max_retries=0)


@pytest.fixture
def aclient(veil):
    return AsyncOpenAI(base_url=veil.base_url, api_key=veil.key, max_retries=0)


def test_sync_completion(client):
    raw = client.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hello from the SDK"}]
    )
    assert raw.headers["x-request-id"]
    completion = raw.parse()
    assert completion.choices[0].message.content == "You said: hello from the SDK"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_sync_stream(client):
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "one two three four five six"}],
        stream=True,
    )
    chunks = list(stream)
    assert len(chunks) > 3, "the answer must arrive in several chunks"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: one two three four five six"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_with_include_usage(client):
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "count me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0


def test_async_completion_and_stream(aclient):
    async def run():
        completion = await aclient.chat.completions.create(
            model="echo-large", messages=[{"role": "user", "content": "async hi"}]
        )
        assert completion.choices[0].message.content == "You said: async hi"
        stream = await aclient.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "async stream"}], stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(parts) == "You said: async stream"
        # Several concurrent requests on one client.
        results = await asyncio.gather(
            *[
                aclient.chat.completions.create(
                    model="echo", messages=[{"role": "user", "content": f"n{i}"}]
                )
                for i in range(8)
            ]
        )
        assert [r.choices[0].message.content for r in results] == [
            f"You said: n{i}" for i in range(8)
        ]

    asyncio.run(run())


def test_tool_call_round_trip(client):
    messages = [{"role": "user", "content": "Oslo"}]
    first = client.chat.completions.create(model="echo", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"})
    second = client.chat.completions.create(model="echo", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Tool result: sunny, 21 C"


def test_streamed_tool_call_accumulates(client):
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "Bergen"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    name, arguments = None, ""
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = call.function.name or name
            arguments += call.function.arguments or ""
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "Bergen"}


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["echo", "echo-large"]
    assert client.models.retrieve("echo").id == "echo"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")


def test_bad_key_raises_authentication_error(veil):
    bad = OpenAI(base_url=veil.base_url, api_key="vk_test_" + "x" * 40, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_unknown_model_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "invalid_model"
    assert info.value.param == "model"
