"""The transcripts are real wire format: the official SDKs, pointed at the replay
upstream, parse them and report the usage our parsers and accumulators compute."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from llmtally.providers import parse_usage
from llmtally.providers.estimate import settle_usage
from llmtally.providers.streams import StreamAccumulator, WireFormat, accumulator_for
from llmtally.tokens.registry import default_registry
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream, load_transcripts

TRANSCRIPTS = load_transcripts()
HELLO = [{"role": "user", "content": "Hello!"}]


def body_usage(name: str) -> Usage:
    transcript = TRANSCRIPTS[name]
    return parse_usage(transcript["provider"], transcript["response"]["body"]["usageMetadata"]
                       if transcript["provider"] == "google"
                       else transcript["response"]["body"]["usage"])  # fmt: skip


def metered(upstream: ReplayUpstream, wire: WireFormat) -> StreamAccumulator:
    """An accumulator fed the exact bytes the upstream sent for the last request."""
    stream = accumulator_for(wire)
    stream.feed(bytes(upstream.served[-1].sent))
    return stream


def oai(upstream: ReplayUpstream) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=f"{upstream.url}/v1", max_retries=0)


def aoai(upstream: ReplayUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="test", base_url=f"{upstream.url}/v1", max_retries=0)


def claude(upstream: ReplayUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url=upstream.url, max_retries=0)


def aclaude(upstream: ReplayUpstream) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test", base_url=upstream.url, max_retries=0)


def dump(usage: Any) -> dict[str, Any]:
    return usage.model_dump() if usage is not None else {}


# --- OpenAI ------------------------------------------------------------------


def test_openai_chat(replay_upstream: ReplayUpstream) -> None:
    with oai(replay_upstream) as sdk:
        reply = sdk.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello! How can I assist you today?"
    assert parse_usage("openai", dump(reply.usage)) == body_usage("openai_chat")


def test_openai_chat_async(replay_upstream: ReplayUpstream) -> None:
    async def call() -> Any:
        async with aoai(replay_upstream) as sdk:
            return await sdk.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]

    reply = asyncio.run(call())
    assert parse_usage("openai", dump(reply.usage)) == Usage(input_tokens=19, output_tokens=10)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o-mini", "openai_chat_stream_usage"),
        ("o4-mini", "openai_chat_stream_reasoning_cached"),
    ],
)
def test_openai_chat_stream(replay_upstream: ReplayUpstream, model: str, name: str) -> None:
    with oai(replay_upstream) as sdk:
        chunks = list(sdk.chat.completions.create(
            model=model, messages=HELLO, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        ))  # fmt: skip
    assert replay_upstream.served[-1].transcript == name
    ours = metered(replay_upstream, "openai_chat")
    assert ours.finished and chunks[-1].choices == []
    assert parse_usage("openai", dump(chunks[-1].usage)) == ours.usage()
    assert ours.text == "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_openai_chat_stream_async(replay_upstream: ReplayUpstream) -> None:
    async def call() -> list[Any]:
        async with aoai(replay_upstream) as sdk:
            stream = await sdk.chat.completions.create(
                model="gpt-4o-mini", messages=HELLO, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
            return [chunk async for chunk in stream]

    chunks = asyncio.run(call())
    ours = metered(replay_upstream, "openai_chat")
    assert parse_usage("openai", dump(chunks[-1].usage)) == ours.usage() is not None


def test_openai_responses(replay_upstream: ReplayUpstream) -> None:
    with oai(replay_upstream) as sdk:
        reply = sdk.responses.create(model="gpt-4.1", input="Tell me a story.")
    assert reply.output_text.startswith("In a peaceful grove")
    assert parse_usage("openai", dump(reply.usage)) == body_usage("openai_responses")


def test_openai_responses_stream(replay_upstream: ReplayUpstream) -> None:
    with oai(replay_upstream) as sdk:
        events = list(sdk.responses.create(model="gpt-4.1", input="Tell me.", stream=True))
    ours = metered(replay_upstream, "openai_responses")
    assert events[-1].type == "response.completed"
    assert parse_usage("openai", dump(events[-1].response.usage)) == ours.usage()
    assert ours.usage() == Usage(input_tokens=2048, cache_read_tokens=1536, output_tokens=20)


def test_openai_responses_stream_async(replay_upstream: ReplayUpstream) -> None:
    async def call() -> Any:
        async with aoai(replay_upstream) as sdk:
            async with sdk.responses.stream(model="gpt-4.1", input="Tell me.") as stream:
                return await stream.get_final_response()

    final = asyncio.run(call())
    ours = metered(replay_upstream, "openai_responses")
    assert final.output_text == ours.text
    assert parse_usage("openai", dump(final.usage)) == ours.usage()


def test_openai_embeddings(replay_upstream: ReplayUpstream) -> None:
    with oai(replay_upstream) as sdk:
        reply = sdk.embeddings.create(model="text-embedding-3-small", input="The food was...")
    assert len(reply.data[0].embedding) == 4
    assert parse_usage("openai", dump(reply.usage)) == Usage(input_tokens=8)


def test_openai_rate_limit_error(replay_upstream: ReplayUpstream) -> None:
    with oai(replay_upstream) as sdk, pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-4.1-mini", messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == 429 and caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "20"


def test_a_cut_openai_stream_fails_the_sdk_and_is_estimated(
    replay_upstream: ReplayUpstream,
) -> None:
    replay_upstream.cut_after = 3
    with oai(replay_upstream) as sdk, pytest.raises((httpx.HTTPError, openai.APIError)):
        for _ in sdk.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        ):  # fmt: skip
            pass
    ours = metered(replay_upstream, "openai_chat")
    assert not ours.finished and ours.usage() is None and ours.text == "Hello!"
    request = replay_upstream.served[-1].json
    settled = settle_usage(ours, request, tokenizer=default_registry().get("o200k_base"))
    assert settled.source == "estimated" and settled.output_tokens == 2


def test_time_to_first_token_sees_the_delay(replay_upstream: ReplayUpstream) -> None:
    replay_upstream.delay = 0.05
    stream = accumulator_for("openai_chat")
    with httpx.Client(base_url=replay_upstream.url) as client:
        start = time.monotonic()
        body = {"model": "gpt-4o-mini", "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as reply:
            for chunk in reply.iter_raw():
                stream.feed(chunk)
    assert stream.first_token_at is not None and stream.first_token_at - start >= 0.1
    assert stream.finished


# --- Anthropic ---------------------------------------------------------------


def test_anthropic_messages(replay_upstream: ReplayUpstream) -> None:
    with claude(replay_upstream) as sdk:
        reply = sdk.messages.create(
            model="claude-sonnet-4-20250514", max_tokens=1024, messages=HELLO  # type: ignore[list-item]
        )  # fmt: skip
    ours = body_usage("anthropic_messages")
    assert parse_usage("anthropic", dump(reply.usage)) == ours
    assert ours == Usage(input_tokens=4146, cache_write_tokens=2051, output_tokens=503)


def test_anthropic_messages_async(replay_upstream: ReplayUpstream) -> None:
    async def call() -> Any:
        async with aclaude(replay_upstream) as sdk:
            return await sdk.messages.create(
                model="claude-sonnet-4-20250514", max_tokens=1024, messages=HELLO  # type: ignore[list-item]
            )  # fmt: skip

    reply = asyncio.run(call())
    assert parse_usage("anthropic", dump(reply.usage)) == body_usage("anthropic_messages")


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("claude-sonnet-4-20250514", "anthropic_messages_stream"),
        ("claude-opus-4-1-20250805", "anthropic_messages_stream_thinking"),
    ],
)
def test_anthropic_stream(replay_upstream: ReplayUpstream, model: str, name: str) -> None:
    with claude(replay_upstream) as sdk:
        with sdk.messages.stream(model=model, max_tokens=1024, messages=HELLO) as stream:  # type: ignore[list-item]
            final = stream.get_final_message()
    assert replay_upstream.served[-1].transcript == name
    ours = metered(replay_upstream, "anthropic")
    assert ours.finished and parse_usage("anthropic", dump(final.usage)) == ours.usage()
    texts = [getattr(b, "thinking", None) or getattr(b, "text", "") for b in final.content]
    assert ours.text == "".join(texts)


def test_anthropic_stream_async(replay_upstream: ReplayUpstream) -> None:
    async def call() -> Any:
        async with aclaude(replay_upstream) as sdk:
            async with sdk.messages.stream(
                model="claude-sonnet-4-20250514", max_tokens=256, messages=HELLO  # type: ignore[list-item]
            ) as stream:  # fmt: skip
                return await stream.get_final_message()

    final = asyncio.run(call())
    ours = metered(replay_upstream, "anthropic")
    assert parse_usage("anthropic", dump(final.usage)) == ours.usage()
    assert ours.usage() == Usage(input_tokens=1825, cache_read_tokens=1800, output_tokens=15)


def test_anthropic_overloaded_error(replay_upstream: ReplayUpstream) -> None:
    with claude(replay_upstream) as sdk, pytest.raises(anthropic.OverloadedError) as caught:
        sdk.messages.create(
            model="claude-3-5-haiku-20241022", max_tokens=1024, messages=HELLO  # type: ignore[list-item]
        )  # fmt: skip
    assert caught.value.status_code == 529


def test_anthropic_error_event_in_a_stream(replay_upstream: ReplayUpstream) -> None:
    with claude(replay_upstream) as sdk, pytest.raises(anthropic.APIError, match="Overloaded"):
        with sdk.messages.stream(
            model="claude-3-5-haiku-20241022", max_tokens=1024, messages=HELLO  # type: ignore[list-item]
        ) as stream:  # fmt: skip
            stream.get_final_message()
    ours = metered(replay_upstream, "anthropic")
    assert ours.error is not None and ours.error["type"] == "overloaded_error"
    assert not ours.finished and ours.usage() is None


# --- Gemini (no official SDK installed: plain HTTP) ----------------------------


def test_gemini_generate_content(replay_upstream: ReplayUpstream) -> None:
    with httpx.Client(base_url=replay_upstream.url) as client:
        reply = client.post("/v1beta/models/gemini-2.5-flash:generateContent", json={})
    assert parse_usage("google", reply.json()["usageMetadata"]) == Usage(
        input_tokens=8, output_tokens=654, reasoning_tokens=645
    )


def test_gemini_stream_generate_content(replay_upstream: ReplayUpstream) -> None:
    stream = accumulator_for("gemini")
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    with httpx.Client(base_url=replay_upstream.url) as client:
        with client.stream("POST", path, json={}) as reply:
            assert reply.headers["content-type"] == "text/event-stream"
            for chunk in reply.iter_raw():
                stream.feed(chunk)
    last = TRANSCRIPTS["gemini_stream_generate_content"]["events"][-1]["data"]
    assert stream.finished and stream.usage() == parse_usage("google", last["usageMetadata"])
