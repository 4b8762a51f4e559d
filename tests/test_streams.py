"""Stream accumulators: same result whole, byte by byte and in any chunking."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtally.providers import parse_usage
from llmtally.providers.estimate import estimate_usage, settle_usage
from llmtally.providers.streams import (
    StreamAccumulator,
    WireFormat,
    accumulator_for,
)
from llmtally.providers.streams_sse import SSEParser
from llmtally.tokens.registry import default_registry
from llmtally.usage import Usage
from replay_upstream import load_transcripts, sse_body, sse_text

TRANSCRIPTS = load_transcripts()

# transcript -> (wire, generated text, model, final usage)
STREAMS: dict[str, tuple[WireFormat, str, str, Usage]] = {
    "openai_chat_stream_usage": (
        "openai_chat",
        "Hello! How can I help?",
        "gpt-4o-mini-2024-07-18",
        Usage(input_tokens=10, output_tokens=6),
    ),
    "openai_chat_stream_reasoning_cached": (
        "openai_chat",
        "17 × 23 = 391.",
        "o4-mini-2025-04-16",
        Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=210, reasoning_tokens=192),
    ),
    "openai_responses_stream": (
        "openai_responses",
        "In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden"
        " pool.",
        "gpt-4.1-2025-04-14",
        Usage(input_tokens=2048, cache_read_tokens=1536, output_tokens=20),
    ),
    "anthropic_messages_stream": (
        "anthropic",
        "Hello!",
        "claude-sonnet-4-20250514",
        Usage(input_tokens=1825, cache_read_tokens=1800, output_tokens=15),
    ),
    "anthropic_messages_stream_thinking": (
        "anthropic",
        "I need to compute 27 * 453. 27 * 400 = 10800, 27 * 53 = 1431. 10800 + 1431 = 12231."
        "27 * 453 = 12,231",
        "claude-opus-4-1-20250805",
        Usage(input_tokens=43, output_tokens=98),
    ),
    "gemini_stream_generate_content": (
        "gemini",
        "Once upon a time, a girl named Mira found a backpack that hummed. Whatever she wished"
        " for appeared inside.",
        "gemini-2.5-flash",
        Usage(input_tokens=4120, cache_read_tokens=4096, output_tokens=334, reasoning_tokens=310),
    ),
}


def run(
    wire: WireFormat, chunks: Iterable[bytes], provider: str | None = None
) -> StreamAccumulator:
    stream = accumulator_for(wire, provider=provider, clock=itertools.count(1).__next__)
    for chunk in chunks:
        stream.feed(chunk)
    return stream


def summary(stream: StreamAccumulator) -> tuple[Any, ...]:
    return (stream.text, stream.model, stream.finished, stream.usage(), stream.first_token_at)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_a_whole_stream_gives_the_reported_usage(name: str) -> None:
    wire, text, model, usage = STREAMS[name]
    stream = run(wire, [sse_body(TRANSCRIPTS[name])])
    assert stream.text == text
    assert stream.model == model
    assert stream.finished
    assert stream.usage() == usage
    assert stream.first_token_at == 1  # the clock is read once, at the first content
    assert stream.error is None and stream.malformed == 0


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_byte_by_byte_is_the_same(name: str) -> None:
    body = sse_body(TRANSCRIPTS[name])
    wire = STREAMS[name][0]
    whole = summary(run(wire, [body]))
    assert summary(run(wire, (body[i : i + 1] for i in range(len(body))))) == whole


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_crlf_line_ends_read_the_same(name: str) -> None:
    body = sse_body(TRANSCRIPTS[name])
    wire = STREAMS[name][0]
    crlf = body.replace(b"\n", b"\r\n")
    assert summary(run(wire, [crlf[i : i + 1] for i in range(len(crlf))])) == summary(
        run(wire, [body])
    )


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(STREAMS)),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_any_chunking_is_the_same(name: str, cuts: list[int], ending: bytes) -> None:
    wire = STREAMS[name][0]
    body = sse_body(TRANSCRIPTS[name]).replace(b"\n", ending)
    assert summary(run(wire, split(body, cuts))) == summary(run(wire, [body]))


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_the_usage_matches_the_providers_parser(name: str) -> None:
    """The accumulator hands the final usage object to the registry's parser."""
    transcript = TRANSCRIPTS[name]
    last = [e["data"] for e in transcript["events"] if isinstance(e, dict)][-1]
    usage_object = {
        "openai": lambda: last.get("usage"),
        "google": lambda: last["usageMetadata"],
    }.get(transcript["provider"], lambda: None)()
    if usage_object is not None:
        expected = parse_usage(transcript["provider"], usage_object)
        assert run(STREAMS[name][0], [sse_body(transcript)]).usage() == expected


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_a_cut_stream_is_not_finished_and_its_usage_is_estimated(name: str) -> None:
    wire, text, model, _ = STREAMS[name]
    transcript = TRANSCRIPTS[name]
    events = transcript["events"]
    body = "".join(sse_text(e) for e in events[: len(events) // 2]).encode()
    stream = run(wire, [body, b'data: {"trunc'])  # the connection dropped mid-event
    assert not stream.finished
    assert stream.usage() is None
    assert text.startswith(stream.text)
    tokenizer = default_registry().get("o200k_base")
    settled = settle_usage(stream, transcript["request"]["json"], tokenizer=tokenizer)
    assert settled.source == "estimated"
    assert settled.input_tokens > 0
    assert settled.output_tokens >= tokenizer.count(stream.text) > 0 or not stream.text


def test_anthropic_keeps_the_reported_input_counts_when_cut() -> None:
    events = TRANSCRIPTS["anthropic_messages_stream"]["events"]
    body = "".join(sse_text(e) for e in events[:4]).encode()
    stream = run("anthropic", [body])
    assert stream.partial_usage() == Usage(
        input_tokens=1825, cache_read_tokens=1800, output_tokens=1
    )
    tokenizer = default_registry().get("o200k_base")
    request = TRANSCRIPTS["anthropic_messages_stream"]["request"]["json"]
    settled = settle_usage(stream, request, tokenizer=tokenizer)
    assert settled.input_tokens == 1825 and settled.cache_read_tokens == 1800
    assert settled.output_tokens == tokenizer.count("Hello") and settled.source == "estimated"


def test_anthropic_message_delta_takes_the_latest_value_of_each_field() -> None:
    start = {
        "type": "message_start",
        "message": {"model": "claude-x", "usage": {"input_tokens": 10, "output_tokens": 1}},
    }
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": 12, "cache_read_input_tokens": None, "output_tokens": 30},
    }
    events = [{"event": e["type"], "data": e} for e in (start, delta)]
    body = "".join(sse_text(e) for e in events).encode()
    assert run("anthropic", [body]).usage() == Usage(input_tokens=12, output_tokens=30)


def test_an_anthropic_error_event_is_kept_and_the_stream_is_not_finished() -> None:
    stream = run("anthropic", [sse_body(TRANSCRIPTS["anthropic_stream_error"])])
    assert stream.error == {"type": "overloaded_error", "message": "Overloaded"}
    assert not stream.finished and stream.usage() is None
    assert stream.text == "Hello! I'm"


def test_a_gemini_running_total_is_not_final_until_the_finish_reason() -> None:
    events = TRANSCRIPTS["gemini_stream_generate_content"]["events"]
    stream = run("gemini", [sse_text(events[0]).encode()])
    assert stream.usage() is None
    partial = stream.partial_usage()
    assert partial is not None and partial.output_tokens == 0


def test_usage_for_another_provider_on_the_openai_wire() -> None:
    chunk = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 4,
             "prompt_cache_hit_tokens": 6, "prompt_cache_miss_tokens": 4}}  # fmt: skip
    body = sse_text({"data": chunk}).encode() + b"data: [DONE]\n\n"
    stream = run("openai_chat", [body], provider="deepseek")
    assert stream.usage() == Usage(input_tokens=10, cache_read_tokens=6, output_tokens=4)


def test_malformed_events_are_counted_not_raised() -> None:
    stream = run("openai_chat", [b"data: {nope\n\ndata: 3\n\n: comment\n\ndata: [DONE]\n\n"])
    assert stream.malformed == 2 and stream.finished and stream.events == 3


def test_no_content_no_first_token_time() -> None:
    stream = run("openai_chat", [b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'])
    assert stream.first_token_at is None and stream.text == ""


def test_sse_parser_rules() -> None:
    parser = SSEParser()
    events = parser.feed(b"event: a\ndata: 1\ndata:2\nid: 9\n\n\n:c\ndata: \xc3")
    assert [(e.event, e.data) for e in events] == [("a", "1\n2")]
    assert [(e.event, e.data) for e in parser.feed(b"\xa9\r")] == []
    assert [(e.event, e.data) for e in parser.feed(b"\n\r\n")] == [("message", "é")]


def test_an_unknown_wire_is_refused() -> None:
    with pytest.raises(ValueError, match="wire must be one of"):
        accumulator_for("smoke-signals")  # type: ignore[arg-type]


def test_estimate_without_a_stream() -> None:
    tokenizer = default_registry().get("o200k_base")
    body = TRANSCRIPTS["openai_chat"]["request"]["json"]
    usage = estimate_usage(body, "openai_chat", tokenizer=tokenizer, output_text="Hi there")
    assert usage == Usage(input_tokens=usage.input_tokens, output_tokens=2, source="estimated")
    assert usage.input_tokens > 10


@pytest.mark.parametrize(
    ("wire", "name"),
    [
        ("openai_responses", "openai_responses"),
        ("gemini", "gemini_generate_content"),
        ("anthropic", "anthropic_messages"),
    ],
)
def test_estimate_reads_each_wire(wire: WireFormat, name: str) -> None:
    tokenizer = default_registry().get("o200k_base")
    usage = estimate_usage(TRANSCRIPTS[name]["request"]["json"], wire, tokenizer=tokenizer)
    assert usage.input_tokens > 0 and usage.source == "estimated"


def test_estimate_finds_the_tokenizer_by_model() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello!"}]}
    assert estimate_usage(body, "openai_chat").input_tokens > 0
