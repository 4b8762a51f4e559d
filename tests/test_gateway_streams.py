"""Streams through the gateway: relayed as they come, usage read on the way,
the extra usage chunk hidden from clients that did not ask, cuts recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from gateway_support import ListRecorder, live_gateway, openai_and_claude
from replay_upstream import ReplayUpstream, load_transcripts, sse_body

TRANSCRIPTS = load_transcripts()
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReplayUpstream]:
    with ReplayUpstream() as replay:
        yield replay


@pytest.fixture(scope="module")
def gateway(upstream: ReplayUpstream) -> Iterator[tuple[str, ListRecorder]]:
    config = openai_and_claude(upstream.url)
    with live_gateway(config) as running:
        yield running


def test_openai_stream_hides_the_usage_chunk_it_added(
    gateway: tuple[str, ListRecorder], upstream: ReplayUpstream
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    transcript = TRANSCRIPTS["openai_chat_stream_usage"]
    with httpx.Client() as http:
        seen = http.post(
            f"{url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "stream": True, "messages": HELLO},
        ).content
    # The upstream was asked for usage; the client, who did not ask, gets every
    # event but the usage-only one.
    assert upstream.served[-1].json["stream_options"] == {"include_usage": True}
    events = [e for e in transcript["events"] if not _usage_only(e)]
    assert seen == sse_body({"events": events})
    call = recorder.next_call(before)
    assert call.usage.source == "reported" and call.usage.output_tokens > 0
    reported = next(e["data"]["usage"] for e in transcript["events"] if _usage_only(e))
    assert call.usage.input_tokens == reported["prompt_tokens"]
    assert call.usage.output_tokens == reported["completion_tokens"]
    assert call.ttft_ms is not None and call.cost is not None


def _usage_only(event: object) -> bool:
    return (
        isinstance(event, dict)
        and isinstance(event.get("data"), dict)
        and event["data"].get("choices") == []
        and event["data"].get("usage") is not None
    )


def test_openai_sdk_stream_that_asked_for_usage_gets_it(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    client.close()
    usage = chunks[-1].usage
    assert usage is not None
    assert recorder.next_call(before).usage.input_tokens == usage.prompt_tokens


def test_async_openai_sdk_stream_with_reasoning(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)

    async def run() -> list[object]:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
        stream = await client.chat.completions.create(model="o4-mini", messages=HELLO, stream=True)
        chunks = [chunk async for chunk in stream]
        await client.close()
        return chunks

    chunks = asyncio.run(run())
    assert chunks and all(getattr(c, "usage", None) is None for c in chunks)
    call = recorder.next_call(before)
    assert call.usage.reasoning_tokens > 0 and call.usage.cache_read_tokens > 0


def test_anthropic_sdk_stream_usage_matches(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    with client.messages.stream(
        model="claude-sonnet-4-20250514", max_tokens=256, messages=HELLO
    ) as stream:
        final = stream.get_final_message()
    client.close()
    call = recorder.next_call(before)
    u = final.usage
    cache_read = u.cache_read_input_tokens or 0
    cache_write = u.cache_creation_input_tokens or 0
    assert call.usage.input_tokens == u.input_tokens + cache_read + cache_write
    assert call.usage.output_tokens == u.output_tokens
    assert call.usage.source == "reported" and call.cost is not None


def test_a_cut_stream_fails_the_client_and_is_recorded_as_estimated(
    gateway: tuple[str, ListRecorder], upstream: ReplayUpstream
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    upstream.cut_after = 3
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    try:
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            list(client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    finally:
        upstream.cut_after = None
        client.close()
    call = recorder.next_call(before)
    assert call.error is not None and "cut" in call.error
    assert call.status == 502  # an error for the ledger and dashboard, not the 200 it began with
    assert call.usage.source == "estimated"
    assert call.usage.input_tokens > 0


@pytest.fixture(scope="module")
def gemini_gateway(upstream: ReplayUpstream) -> Iterator[tuple[str, ListRecorder]]:
    config = {
        "upstreams": {"google": {"kind": "gemini", "base_url": upstream.url}},
        "routes": [{"match": "gemini-*", "upstream": "google"}],
    }
    with live_gateway(config) as running:
        yield running


def test_gemini_generate_content_and_stream_pass_through(
    gemini_gateway: tuple[str, ListRecorder], upstream: ReplayUpstream
) -> None:
    url, recorder = gemini_gateway
    before = len(recorder.calls)
    body = TRANSCRIPTS["gemini_generate_content"]["request"]["json"]
    with httpx.Client(base_url=url, headers={"x-goog-api-key": "g-key"}) as http:
        plain = http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body)
        assert plain.json() == TRANSCRIPTS["gemini_generate_content"]["response"]["body"]
        assert upstream.served[-1].path.endswith("gemini-2.5-flash:generateContent")
        reported = plain.json()["usageMetadata"]
        call = recorder.next_call(before)
        assert call.usage.input_tokens == reported["promptTokenCount"] + reported.get(
            "toolUsePromptTokenCount", 0
        )
        assert call.cost is not None
        stream_body = TRANSCRIPTS["gemini_stream_generate_content"]["request"]["json"]
        streamed = http.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=stream_body
        )
    assert streamed.content == sse_body(TRANSCRIPTS["gemini_stream_generate_content"])
    assert (
        upstream.served[-1].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    last = recorder.next_call(before + 1)
    assert last.usage.source == "reported" and last.usage.output_tokens > 0


def test_an_upstream_of_your_own_is_priced_by_the_time_it_was_held(
    upstream: ReplayUpstream,
) -> None:
    config = {
        "upstreams": {
            "box": {
                "kind": "openai",
                "base_url": upstream.url,
                "provider": "local",
                "usd_per_hour": "36",
            }
        },
        "routes": [{"match": "*", "upstream": "box"}],
    }
    upstream.delay = 0.02  # 20 ms before each streamed event
    try:
        with live_gateway(config) as (url, recorder):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
            list(client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
            client.close()
            call = recorder.next_call(0)
    finally:
        upstream.delay = 0.0
    assert call.cost is not None and call.cost_error is None
    assert call.cost.price.source.startswith("gateway config: 36 USD per hour")
    # $36/h is $0.01 a second: the call's cost is its time in seconds x 0.01,
    # the wait for the first token as input and the rest as output.
    seconds = Decimal(str(call.latency_ms)) / 1000
    assert abs(call.cost.total - seconds / 100) < Decimal("0.000001")
    assert call.cost.input > 0 and call.cost.output > 0
    assert call.cost.output > call.cost.input  # six more events after the first token
