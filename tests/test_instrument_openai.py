"""``llmtally.instrument()`` with the official ``openai`` SDK against the replay upstream.

Expected figures are worked out by hand from the transcripts and the catalog:

- ``openai_chat``: gpt-4o, 19 prompt + 10 completion tokens; gpt-4o costs $2.50
  per 1M input and $10.00 per 1M output tokens: 19 x 2.5/1M + 10 x 10/1M =
  $0.0000475 + $0.0001 = $0.0001475;
- ``openai_chat_stream_usage``: gpt-4o-mini, 10 + 6 tokens at $0.15 / $0.60 per
  1M: $0.0000015 + $0.0000036 = $0.0000051;
- the same stream closed after its second chunk ("" then "Hello"): the prompt
  ``Say hello.`` is 10 tokens for gpt-4o-mini (o200k: 3 per message, "user" 1,
  "Say", " hello", "." 3, 3 to prime the answer) and "Hello" 1 token, estimated:
  10 x 0.15/1M + 1 x 0.60/1M = $0.0000021 (as tests/test_client_disconnect.py);
- ``openai_error_429``: a 429 from gpt-4.1-mini, no usage, no cost.

Each row is compared with the one the gateway records for the same call.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import _base_client

import llmtally
from gateway_support import ListRecorder, free_port
from instrument_support import (  # noqa: F401
    assert_same,
    catalog,
    gateway_call,
    recorded,
    recorded_calls,
    upstream,
)
from llmtally import instrument as inst
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.ledger.spool import Spool
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

HELLO = [{"role": "user", "content": "Say hello."}]
CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
STREAM_USAGE = {"stream": True, "stream_options": {"include_usage": True}}


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test-0123456789", max_retries=0)


def _gateway_call(upstream: ReplayUpstream, catalog: Catalog, send: Any) -> Call:  # noqa: F811
    """What the gateway records when the (uninstrumented) SDK sends ``send`` through it."""
    return gateway_call(
        upstream, catalog, "openai", _client, send, openai.APIStatusError, attributed=True
    )


def _chat(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=CHAT, extra_headers={"x-llmtally-feature": "greet"}
    )


def _stream(client: openai.OpenAI) -> list[Any]:
    made = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, **STREAM_USAGE)
    return [chunk.model_dump() for chunk in made]


def test_a_chat_call_is_the_row_the_gateway_records(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
) -> None:
    with _client(upstream.url) as client, llmtally.attribute(user="ana", tags=["beta"]):
        answer = _chat(client)
    assert answer.usage is not None and answer.usage.total_tokens == 29
    [call] = recorded_calls(recorded, 1)
    assert (call.provider, call.model_requested, call.status) == ("openai", "gpt-4o", 200)
    assert (call.usage.input_tokens, call.usage.output_tokens) == (19, 10)
    assert call.usage.source == "reported"
    assert call.cost is not None and call.cost.total == Decimal("0.0001475")
    assert (call.user, call.feature, call.tags) == ("ana", "greet", ("beta",))
    assert call.endpoint == "/v1/chat/completions"
    llmtally.uninstrument()

    def send(client: openai.OpenAI) -> None:
        _chat(
            client.with_options(
                default_headers={"x-llmtally-user": "ana", "x-llmtally-tags": "beta"}
            )
        )

    assert_same(call, _gateway_call(upstream, catalog, send))


def test_a_full_stream_gives_the_same_chunks_and_the_gateways_row(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
) -> None:
    with _client(upstream.url) as client:
        chunks = _stream(client)
        with client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, **STREAM_USAGE
        ) as managed:
            in_block = [chunk.model_dump() for chunk in managed]
    first, second = recorded_calls(recorded, 2)
    assert first.usage == second.usage and first.cost == second.cost
    assert (first.usage.input_tokens, first.usage.output_tokens) == (10, 6)
    assert first.cost is not None and first.cost.total == Decimal("0.0000051")
    assert (first.status, first.model_served) == (200, "gpt-4o-mini-2024-07-18")
    assert first.ttft_ms is not None and first.flags == ()
    llmtally.uninstrument()
    with _client(upstream.url) as bare:
        assert _stream(bare) == chunks == in_block  # the SDK saw the very same chunks
    assert_same(first, _gateway_call(upstream, catalog, _stream))


def test_a_stream_closed_half_way_is_recorded_as_the_gateway_records_a_client_that_left(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
) -> None:
    upstream.delay = 0.1
    with _client(upstream.url) as client:
        with client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, **STREAM_USAGE
        ) as stream:
            seen = []
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
                if len(seen) == 2:
                    break
    assert seen == ["", "Hello"]
    [call] = recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.usage.source == "estimated"
    assert (call.usage.input_tokens, call.usage.output_tokens) == (10, 1)
    assert call.cost is not None and call.cost.total == Decimal("0.0000021")
    assert call.model_served == "gpt-4o-mini-2024-07-18"


def _limited(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="gpt-4.1-mini", messages=[HELLO[0]])


def _raised(url: str) -> openai.RateLimitError:
    with _client(url) as client, pytest.raises(openai.RateLimitError) as caught:
        _limited(client)
    return caught.value


def test_an_upstream_429_is_raised_unchanged_and_recorded(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
) -> None:
    ours = _raised(upstream.url)
    [call] = recorded_calls(recorded, 1)
    llmtally.uninstrument()
    bare = _raised(upstream.url)
    assert (type(ours), ours.status_code, ours.message, ours.body) == (
        type(bare),
        bare.status_code,
        bare.message,
        bare.body,
    )
    assert call.status == 429 and call.cost is None
    assert call.cost_error == "the call failed (HTTP 429) and reported no usage"
    assert call.error is not None and "Rate limit reached for gpt-4.1-mini" in call.error
    assert_same(call, _gateway_call(upstream, catalog, _limited))


async def _async_pair(url: str) -> tuple[Any, list[Any]]:
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-x", max_retries=0) as client:

        async def plain() -> Any:
            with llmtally.attribute(user="u1", feature="chat"):
                return await client.chat.completions.create(model="gpt-4o", messages=CHAT)

        async def streamed() -> list[Any]:
            with llmtally.attribute(user="u2", tags=["s"]):
                made = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=HELLO, **STREAM_USAGE
                )
                return [chunk async for chunk in made]

        with llmtally.attribute(feature="outer", tags=["all"]):
            answer, chunks = await asyncio.gather(plain(), streamed())
        return answer, chunks


def test_async_calls_are_recorded_with_their_own_attribution_across_gather(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
) -> None:
    answer, chunks = asyncio.run(_async_pair(upstream.url))
    assert answer.usage.completion_tokens == 10 and len(chunks) == 6
    calls = {call.model_requested: call for call in recorded_calls(recorded, 2)}
    plain, streamed = calls["gpt-4o"], calls["gpt-4o-mini"]
    assert (plain.user, plain.feature, plain.tags) == ("u1", "chat", ("all",))
    assert (streamed.user, streamed.feature, streamed.tags) == ("u2", "outer", ("all", "s"))
    assert plain.cost is not None and plain.cost.total == Decimal("0.0001475")
    assert streamed.cost is not None and streamed.cost.total == Decimal("0.0000051")
    assert streamed.status == 200 and streamed.flags == ()


def test_an_async_stream_closed_half_way(upstream: ReplayUpstream, recorded: ListRecorder) -> None:  # noqa: F811
    upstream.delay = 0.1

    async def half() -> None:
        async with openai.AsyncOpenAI(
            base_url=f"{upstream.url}/v1", api_key="sk-x", max_retries=0
        ) as client:
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=HELLO, **STREAM_USAGE
            )
            async for chunk in stream:
                if chunk.choices[0].delta.content == "Hello":
                    break
            await stream.close()

    asyncio.run(half())
    [call] = recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.cost is not None and call.cost.total == Decimal("0.0000021")


def test_calls_reach_a_real_ledger(upstream: ReplayUpstream, tmp_path: Path) -> None:  # noqa: F811
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    assert llmtally.instrument(url, spool_path=tmp_path / "spool.jsonl")
    assert llmtally.instrument(url)  # idempotent: still one patch, one row per call
    try:
        with _client(upstream.url) as client:
            _chat(client)
    finally:
        llmtally.uninstrument()
    with open_store(url) as store:
        [call] = store.list(limit=10)
    assert call.cost is not None and call.cost.total == Decimal("0.0001475")
    assert call.feature == "greet"


def test_an_unreachable_ledger_leaves_the_application_alone_and_spools(
    upstream: ReplayUpstream,  # noqa: F811
    tmp_path: Path,
) -> None:
    before = inst.internal_errors()
    spool = tmp_path / "spool.jsonl"
    assert llmtally.instrument("postgresql+psycopg://postgres@127.0.0.1:1/test", spool_path=spool)
    try:
        with _client(upstream.url) as client:
            answer = _chat(client)
        inst.flush()
    finally:
        llmtally.uninstrument()
    assert answer.choices[0].message.content is not None
    assert inst.internal_errors() == before + 1  # the ledger could not be opened
    rows = [pair[0] for _, pair in Spool(spool).read(spool)]
    assert [(row["model_requested"], row["input_tokens"]) for row in rows] == [("gpt-4o", 19)]


class _Broken:
    def submit(self, call: Call) -> None:
        raise RuntimeError("the writer is broken")


def test_an_error_inside_llmtally_is_counted_and_never_seen(
    upstream: ReplayUpstream,  # noqa: F811
    catalog: Catalog,  # noqa: F811
) -> None:
    before = inst.internal_errors()
    assert llmtally.instrument(writer=_Broken(), catalog=catalog)
    try:
        with _client(upstream.url) as client:
            assert _chat(client).usage.prompt_tokens == 19
            assert len(_stream(client)) == 6
        inst.flush()
    finally:
        llmtally.uninstrument()
    assert inst.internal_errors() == before + 2


def test_uninstrument_restores_the_sdk() -> None:
    original = _base_client.SyncAPIClient._send_request
    llmtally.instrument(writer=ListRecorder(), catalog=Catalog.load())
    assert _base_client.SyncAPIClient._send_request is not original
    llmtally.uninstrument()
    assert _base_client.SyncAPIClient._send_request is original
    assert not inst.instrumented()


def test_the_active_opentelemetry_span_gives_trace_and_parent_ids(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    context = trace.SpanContext(trace_id=0xABC, span_id=0x12, is_remote=False)
    with trace.use_span(trace.NonRecordingSpan(context)), _client(upstream.url) as client:
        _chat(client)
    [call] = recorded_calls(recorded, 1)
    assert call.trace_id == "00000000000000000000000000000abc"
    assert call.parent_id == "0000000000000012"


def _story(client: openai.OpenAI) -> Any:
    return client.responses.create(model="gpt-4.1", input=STORY)


def _story_stream(client: openai.OpenAI) -> list[Any]:
    return [
        event.type for event in client.responses.create(model="gpt-4.1", input=STORY, stream=True)
    ]


def _embed(client: openai.OpenAI) -> Any:
    return client.embeddings.create(
        model="text-embedding-3-small", input=FOOD, encoding_format="float"
    )


STORY = "Tell me a three sentence bedtime story about a unicorn."
FOOD = "The food was delicious and the waiter..."


@pytest.mark.parametrize(
    ("send", "tokens", "total"),
    [
        # gpt-4.1: $2.00 in, $0.50 cache read, $8.00 out per 1M
        (_story, (36, 0, 87), "0.000768"),  # 36 x 2 + 87 x 8 = 72 + 696 millionths
        (_story_stream, (2048, 1536, 20), "0.001952"),  # 512 x 2 + 1536 x 0.5 + 20 x 8
        # text-embedding-3-small: $0.02 per 1M input tokens
        (_embed, (8, 0, 0), "0.00000016"),
    ],
    ids=["responses", "responses-stream", "embeddings"],
)
def test_responses_and_embeddings_are_the_rows_the_gateway_records(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    send: Any,
    tokens: tuple[int, int, int],
    total: str,
) -> None:
    with _client(upstream.url) as client:
        send(client)
    [call] = recorded_calls(recorded, 1)
    usage = call.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == tokens
    assert call.status == 200 and call.cost is not None
    assert call.cost.total == Decimal(total)
    llmtally.uninstrument()
    assert_same(call, _gateway_call(upstream, catalog, send))


def test_an_unreachable_upstream_raises_as_before_and_is_recorded(
    recorded: ListRecorder,  # noqa: F811
) -> None:
    port = free_port()  # nothing listens there
    with _client(f"http://127.0.0.1:{port}") as client, pytest.raises(openai.APIConnectionError):
        _chat(client)
    [call] = recorded_calls(recorded, 1)
    assert call.status == 502 and call.cost is None
    assert call.error is not None and call.error.startswith("upstream unreachable: ")
    assert call.cost_error == "the call failed (HTTP 502) and reported no usage"


def test_attribution_nests_and_follows_a_copied_context_into_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor
    from contextvars import copy_context

    from llmtally.instrument.context import Attribution, current

    inner = Attribution("ana", "search", ("beta", "eu"))
    with (
        llmtally.attribute(user="ana", tags="beta"),
        llmtally.attribute(feature="search", tags=["eu"]),
    ):
        assert current() == inner
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(copy_context().run, current).result() == inner
            assert pool.submit(current).result() == Attribution()  # a bare thread: none
    assert current() == Attribution()


def _left_half_way(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, **STREAM_USAGE)
    for chunk in stream:
        if chunk.choices[0].delta.content == "Hello":
            return  # never closed


@pytest.mark.parametrize("how", ["collected", "at exit"])
def test_a_stream_left_half_way_without_close_is_recorded(
    upstream: ReplayUpstream,  # noqa: F811
    recorded: ListRecorder,  # noqa: F811
    how: str,
) -> None:
    upstream.delay = 0.1
    with _client(upstream.url) as client:
        _left_half_way(client)
        if how == "collected":  # the SDK's generator closes the response when collected
            gc.collect()
        else:  # still open when the instrumentation stops (at exit): recorded as closed
            inst.flush()
            assert recorded.calls == []
            llmtally.uninstrument()
        [call] = recorded.calls if how == "at exit" else recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert (call.usage.input_tokens, call.usage.output_tokens) == (10, 1)


def test_a_spool_left_by_a_dead_instrumented_process_is_replayed(tmp_path: Path) -> None:
    from llmtally.ledger.rows import call_to_row
    from test_ledger_support import simple_call

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    orphan = tmp_path / f"instrument-spool-{int(dead.stdout)}.jsonl"
    left = simple_call(7)
    Spool(orphan).append([(call_to_row(left), None)])
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    assert llmtally.instrument(url, spool_path=tmp_path / f"instrument-spool-{os.getpid()}.jsonl")
    try:
        with open_store(url) as store:
            for _ in range(500):
                if store.ids():
                    break
                time.sleep(0.02)
            assert store.ids() == [left.id]
    finally:
        llmtally.uninstrument()
    assert not orphan.exists()
