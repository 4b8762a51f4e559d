"""include_usage: added to the upstream request, its extra chunk hidden from clients."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtally.providers.adjust import UsageChunkFilter, with_stream_usage
from llmtally.providers.streams import OpenAIChatStream
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream, load_transcripts, sse_body, sse_text

TRANSCRIPTS = load_transcripts()
CHAT = TRANSCRIPTS["openai_chat_stream_usage"]
USAGE = Usage(input_tokens=10, output_tokens=6)


def without_usage_chunk(name: str = "openai_chat_stream_usage") -> bytes:
    events = [
        e
        for e in TRANSCRIPTS[name]["events"]
        if not (isinstance(e, dict) and e["data"]["choices"] == [])
    ]
    return "".join(sse_text(e) for e in events).encode()


def filtered(chunks: list[bytes]) -> bytes:
    keep = UsageChunkFilter()
    return b"".join(keep.feed(chunk) for chunk in chunks) + keep.flush()


def test_include_usage_is_added_to_a_stream_and_the_client_body_is_left_alone() -> None:
    body = {"model": "gpt-4o", "stream": True, "messages": []}
    adjusted = with_stream_usage(body)
    assert adjusted.body["stream_options"] == {"include_usage": True}
    assert not adjusted.client_asked and adjusted.changed
    assert "stream_options" not in body


def test_other_stream_options_are_kept() -> None:
    body = {"stream": True, "stream_options": {"include_obfuscation": False}}
    adjusted = with_stream_usage(body)
    assert adjusted.body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert body["stream_options"] == {"include_obfuscation": False}


def test_a_client_that_asked_gets_its_request_unchanged() -> None:
    body = {"stream": True, "stream_options": {"include_usage": True}}
    adjusted = with_stream_usage(body)
    assert adjusted.client_asked and not adjusted.changed and adjusted.body == body


@pytest.mark.parametrize("body", [{"model": "gpt-4o"}, {"stream": False}])
def test_a_request_that_does_not_stream_is_unchanged(body: dict[str, object]) -> None:
    adjusted = with_stream_usage(body)
    assert adjusted.body == body and not adjusted.changed and not adjusted.client_asked


def test_the_filter_drops_exactly_the_usage_chunk() -> None:
    body = sse_body(CHAT)
    keep = UsageChunkFilter()
    out = keep.feed(body) + keep.flush()
    assert out == without_usage_chunk()
    assert keep.dropped == 1


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(["openai_chat_stream_usage", "openai_chat_stream_reasoning_cached"]),
    cuts=st.lists(st.integers(min_value=0, max_value=5_000), max_size=30),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_the_filter_is_the_same_for_any_chunking(name: str, cuts: list[int], ending: str) -> None:
    body = sse_body(TRANSCRIPTS[name]).replace(b"\n", ending.encode())
    edges = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in itertools.pairwise(edges)]
    assert filtered(chunks) == without_usage_chunk(name).replace(b"\n", ending.encode())


def test_other_events_pass_byte_for_byte() -> None:
    body = b': keep-alive\n\ndata: {"choices":[],"usage":null}\n\n\n\nevent: x\ndata: [DONE]\n\n'
    assert filtered([body[i : i + 1] for i in range(len(body))]) == body


def test_an_unfinished_event_is_flushed_unchanged() -> None:
    keep = UsageChunkFilter()
    assert keep.feed(b'data: {"choices":[],"usage":{"prompt') == b""
    assert keep.flush() == b'data: {"choices":[],"usage":{"prompt'


def gateway(upstream_client: httpx.Client) -> tuple[httpx.Client, list[OpenAIChatStream]]:
    """A minimal metering proxy: adds include_usage, meters, filters for the client."""
    seen: list[OpenAIChatStream] = []

    def handle(request: httpx.Request) -> httpx.Response:
        adjusted = with_stream_usage(httpx.Response(200, content=request.content).json())
        reply = upstream_client.send(
            upstream_client.build_request("POST", request.url.path, json=adjusted.body),
            stream=True,
        )
        stream, keep = OpenAIChatStream(), UsageChunkFilter()
        seen.append(stream)

        def body() -> Iterator[bytes]:
            for chunk in reply.iter_raw():
                stream.feed(chunk)
                yield chunk if adjusted.client_asked else keep.feed(chunk)
            yield b"" if adjusted.client_asked else keep.flush()
            reply.close()

        return httpx.Response(reply.status_code, headers=reply.headers, content=body())

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


@pytest.mark.parametrize("client_asked", [False, True])
def test_the_openai_sdk_reads_the_filtered_stream(
    replay_upstream: ReplayUpstream, client_asked: bool
) -> None:
    extra = {"stream_options": {"include_usage": True}} if client_asked else {}
    with httpx.Client(base_url=replay_upstream.url) as upstream_client:
        http, seen = gateway(upstream_client)
        sdk = openai.OpenAI(api_key="test", base_url="http://gateway.test/v1", http_client=http)
        chunks = list(
            sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello."}],
                stream=True, **extra,  # type: ignore[call-overload]
            )
        )  # fmt: skip
        sdk.close()
    assert replay_upstream.served[-1].json["stream_options"] == {"include_usage": True}
    assert seen[0].usage() == USAGE and seen[0].finished
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! How can I help?"
    usage_chunks = [c for c in chunks if not c.choices]
    if client_asked:
        assert len(usage_chunks) == 1 and usage_chunks[0].usage is not None
        assert usage_chunks[0].usage.prompt_tokens == 10
    else:
        assert usage_chunks == [] and all(c.usage is None for c in chunks)
        assert len(chunks) == len(CHAT["events"]) - 2  # no usage chunk, no [DONE]
