"""``llmtally.instrument()`` with the official ``google-genai`` SDK against the replay upstream.

The upstream replays Gemini's documented REST shapes: ``generateContent`` and
``streamGenerateContent?alt=sse`` (https://ai.google.dev/api/generate-content,
the transcripts ``gemini_generate_content`` / ``gemini_stream_generate_content``),
``batchEmbedContents`` (https://ai.google.dev/api/embeddings), and Google's
error body (https://ai.google.dev/gemini-api/docs/troubleshooting).

Expected figures worked out by hand from the transcripts and the catalog
(gemini-2.5-flash: $0.30 input, $0.03 cached input, $2.50 output per 1M; output
includes thinking). ``promptTokenCount`` includes ``cachedContentTokenCount``;
output is ``candidatesTokenCount`` + ``thoughtsTokenCount``:

- generateContent: 8 in, 9 + 645 = 654 out:
  8 x 0.30 + 654 x 2.50 = 2.4 + 1635 = 1637.4 millionths = $0.0016374;
- streamGenerateContent: 4120 in of which 4096 cached, 24 + 310 = 334 out:
  24 x 0.30 + 4096 x 0.03 + 334 x 2.50 = 7.2 + 122.88 + 835 = 965.08 millionths
  = $0.00096508;
- the same stream closed after its first chunk ("Once upon a time, a girl named
  Mira": 9 tokens: Once/upon/a/time/,/a/girl/named/Mira, estimated), the input as
  that chunk reported it: 7.2 + 122.88 + 9 x 2.50 = 152.58 millionths = $0.00015258;
- a 429 or 500: no usage, no cost.

Each row is compared with the one the gateway records for the same call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import _api_client, errors, types

import llmtally
from gateway_support import ListRecorder, free_port
from instrument_support import (  # noqa: F401
    SAME,
    assert_same,
    catalog,
    gateway_call,
    recorded,
    recorded_calls,
)
from llmtally import instrument as inst
from llmtally.catalog import Catalog
from llmtally.instrument import google_sdk
from llmtally.usage import Call
from replay_upstream import ReplayUpstream, load_transcripts

FLASH = "gemini-2.5-flash"
EXPLAIN = "Explain how AI works in a few words"  # gemini_generate_content's prompt
STORY = "Write a story about a magic backpack."  # gemini_stream_generate_content's
PLAIN_PATH = f"/v1beta/models/{FLASH}:generateContent"
STREAM_PATH = f"/v1beta/models/{FLASH}:streamGenerateContent"
SAME_AS_GATEWAY = (*SAME, "flags")
# google-genai's own async client subclasses aiohttp's session, which aiohttp warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


def _error(model: str, code: int, status: str, message: str) -> dict[str, Any]:
    """Google's error body (https://ai.google.dev/gemini-api/docs/troubleshooting)."""
    body = {"error": {"code": code, "message": message, "status": status}}
    return {
        "request": {"method": "POST", "path": f"/v1beta/models/{model}:generateContent"},
        "response": {"status": code, "headers": {"content-type": "application/json"}, "body": body},
    }


# The replay matches on the path, which names the model: one model per answer.
OWN_TRANSCRIPTS = {
    "gemini_error_429": _error(
        "gemini-2.5-pro",
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "gemini_error_500": _error(
        "gemini-2.0-flash",
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in"
        " https://developers.generativeai.google/guide/troubleshooting",
    ),
    # https://ai.google.dev/api/embeddings#method:-models.batchembedcontents
    "gemini_batch_embed": {
        "request": {
            "method": "POST",
            "path": "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        },
        "response": {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": {"embeddings": [{"values": [0.0023064255, -0.009327292, 0.015797347]}]},
        },
    },
}


@pytest.fixture
def upstream() -> Iterator[ReplayUpstream]:
    shared = load_transcripts()
    ours = {
        name: shared[name] for name in ("gemini_generate_content", "gemini_stream_generate_content")
    }
    with ReplayUpstream({**ours, **OWN_TRANSCRIPTS}) as running:
        yield running


def _options(url: str, transport: str = "aiohttp", **extra: Any) -> types.HttpOptions:
    """The documented v1beta paths; async over aiohttp (installed: the SDK's pick)
    or httpx2 (the SDK's pick when given a transport)."""
    if transport == "httpx2":
        extra["async_client_args"] = {"transport": httpx2.AsyncHTTPTransport()}
    return types.HttpOptions(base_url=url, api_version="v1beta", **extra)


def _client(url: str, **extra: Any) -> genai.Client:
    return genai.Client(api_key="AIza-test-0123456789abcdef", http_options=_options(url, **extra))


def _dumped(answer: Any) -> dict[str, Any]:
    """The SDK's answer without its HTTP headers (the replay's Date header moves)."""
    dumped: dict[str, Any] = answer.model_dump(exclude={"sdk_http_response"})
    return dumped


def _plain(client: genai.Client) -> dict[str, Any]:
    return _dumped(client.models.generate_content(model=FLASH, contents=EXPLAIN))


def _stream(client: genai.Client) -> list[dict[str, Any]]:
    return [
        _dumped(chunk)
        for chunk in client.models.generate_content_stream(model=FLASH, contents=STORY)
    ]


def _tokens(call: Call) -> tuple[int, int, int, int]:
    usage = call.usage
    return usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens


def _gateway_call(upstream: ReplayUpstream, catalog: Catalog, send: Any) -> Call:  # noqa: F811
    """What the gateway records when the (uninstrumented) SDK sends ``send`` through it,
    attributed as the instrumented call was (by headers)."""
    headers = {"x-llmtally-user": "ana", "x-llmtally-tags": "beta"}
    return gateway_call(
        upstream,
        catalog,
        "gemini",
        lambda url: _client(url, headers=headers),
        send,
        errors.APIError,
    )


@pytest.mark.parametrize(
    ("send", "path", "tokens", "total"),
    [
        (_plain, PLAIN_PATH, (8, 0, 654, 645), "0.0016374"),
        (_stream, STREAM_PATH, (4120, 4096, 334, 310), "0.00096508"),
    ],
    ids=["generate_content", "generate_content_stream"],
)
def test_calls_are_the_rows_the_gateway_records_and_the_sdk_sees_the_same(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    send: Any,
    path: str,
    tokens: tuple[int, int, int, int],
    total: str,
) -> None:
    with _client(upstream.url) as client, llmtally.attribute(user="ana", tags=["beta"]):
        ours = send(client)
    [call] = recorded_calls(recorded, 1)
    assert (call.provider, call.endpoint, call.status) == ("google", path, 200)
    assert (call.model_requested, call.model_served) == (FLASH, FLASH)
    assert _tokens(call) == tokens and call.usage.source == "reported"
    assert call.cost is not None and call.cost.total == Decimal(total)
    assert (call.user, call.tags, call.flags) == ("ana", ("beta",), ())
    assert (call.ttft_ms is not None) == (send is _stream)
    llmtally.uninstrument()
    with _client(upstream.url) as bare:
        assert send(bare) == ours  # the same answer, chunk for chunk
    assert_same(call, _gateway_call(upstream, catalog, send), SAME_AS_GATEWAY)


def test_the_request_recorded_is_the_one_sent(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
) -> None:
    config = types.GenerateContentConfig(system_instruction="Answer briefly.", temperature=0.2)
    with _client(upstream.url, headers={"x-llmtally-feature": "explain"}) as client:
        client.models.generate_content(model=FLASH, contents=EXPLAIN, config=config)
    [call] = recorded_calls(recorded, 1)
    sent = upstream.served[0].json
    assert sent["systemInstruction"]["parts"] == [{"text": "Answer briefly."}]
    assert call.feature == "explain"  # a header set on the client
    assert call.prompt_fingerprint is not None  # of the system instruction the body carried


def _half(client: genai.Client, how: str) -> list[str | None]:
    seen = []
    if how == "break":
        for chunk in client.models.generate_content_stream(model=FLASH, contents=STORY):
            seen.append(chunk.text)
            break  # the generator, dropped, is closed
        return seen
    made = client.models.generate_content_stream(model=FLASH, contents=STORY)
    seen.append(next(made).text)
    made.close()
    return seen


@pytest.mark.parametrize("how", ["close", "break"])
def test_a_stream_closed_half_way_is_recorded_as_a_client_that_left(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
    how: str,
) -> None:
    upstream.delay = 0.1
    with _client(upstream.url) as client:
        assert _half(client, how) == ["Once upon a time, a girl named Mira"]
    [call] = recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.usage.source == "estimated"
    assert _tokens(call)[:3] == (4120, 4096, 9)
    assert call.cost is not None and call.cost.total == Decimal("0.00015258")
    assert call.model_served == FLASH


def test_a_stream_the_upstream_cuts_raises_as_before_and_is_recorded_cut(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
) -> None:
    upstream.cut_after = 1

    def cut(client: genai.Client) -> tuple[list[str | None], type[BaseException]]:
        seen = []
        with pytest.raises(Exception) as caught:  # noqa: PT011 (whatever the SDK raises)
            for chunk in client.models.generate_content_stream(model=FLASH, contents=STORY):
                seen.append(chunk.text)
        return seen, caught.type

    with _client(upstream.url) as client:
        ours = cut(client)
    [call] = recorded_calls(recorded, 1)
    llmtally.uninstrument()
    with _client(upstream.url) as bare:
        assert cut(bare) == ours
    assert call.status == 502 and call.error == "stream ended before its last event"
    assert _tokens(call)[:3] == (4120, 4096, 9)


def _failing(model: str) -> Any:
    def send(client: genai.Client) -> Any:
        return client.models.generate_content(model=model, contents=EXPLAIN)

    return send


def _raised(url: str, model: str) -> errors.APIError:
    with _client(url) as client, pytest.raises(errors.APIError) as caught:
        _failing(model)(client)
    return caught.value


def _seen(exc: errors.APIError) -> tuple[Any, ...]:
    return type(exc), exc.code, exc.status, exc.message, exc.details, str(exc)


@pytest.mark.parametrize(
    ("model", "code", "kind", "status"),
    [
        ("gemini-2.5-pro", 429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        ("gemini-2.0-flash", 500, errors.ServerError, "INTERNAL"),
    ],
)
def test_an_upstream_error_is_raised_unchanged_and_recorded(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    model: str,
    code: int,
    kind: type[errors.APIError],
    status: str,
) -> None:
    with llmtally.attribute(user="ana", tags=["beta"]):
        ours = _raised(upstream.url, model)
    [call] = recorded_calls(recorded, 1)
    llmtally.uninstrument()
    bare = _raised(upstream.url, model)
    assert _seen(ours) == _seen(bare)
    assert (type(ours), ours.code, ours.status) == (kind, code, status)
    assert (call.status, call.model_requested, call.cost) == (code, model, None)
    assert call.cost_error == f"the call failed (HTTP {code}) and reported no usage"
    assert call.error is not None and status in call.error
    assert json.loads(call.error) == OWN_TRANSCRIPTS[f"gemini_error_{code}"]["response"]["body"]
    assert_same(call, _gateway_call(upstream, catalog, _failing(model)), SAME_AS_GATEWAY)


async def _async_all(url: str, transport: str) -> tuple[Any, list[Any], Any]:
    aio = _client(url, transport=transport).aio
    async with aio:

        async def plain() -> Any:
            with llmtally.attribute(user="u1", feature="chat"):
                return await aio.models.generate_content(model=FLASH, contents=EXPLAIN)

        async def streamed() -> list[Any]:
            with llmtally.attribute(user="u2", tags=["s"]):
                made = await aio.models.generate_content_stream(model=FLASH, contents=STORY)
                return [chunk.text async for chunk in made]

        async def failing() -> Any:
            with pytest.raises(errors.ServerError) as caught:
                await aio.models.generate_content(model="gemini-2.0-flash", contents=EXPLAIN)
            return caught.value

        with llmtally.attribute(feature="outer", tags=["all"]):
            return await asyncio.gather(plain(), streamed(), failing())


@pytest.mark.parametrize("transport", ["aiohttp", "httpx2"])
def test_async_calls_streams_and_errors_with_their_own_attribution(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
    transport: str,
) -> None:
    answer, texts, failure = asyncio.run(_async_all(upstream.url, transport))
    assert answer.text == "AI learns patterns from data to make predictions."
    assert texts[0] == "Once upon a time, a girl named Mira" and len(texts) == 3
    assert (failure.code, failure.status) == (500, "INTERNAL")
    calls = {call.user: call for call in recorded_calls(recorded, 3)}
    plain, streamed, failed = calls["u1"], calls["u2"], calls[None]
    assert (plain.feature, plain.tags, plain.endpoint) == ("chat", ("all",), PLAIN_PATH)
    assert plain.cost is not None and plain.cost.total == Decimal("0.0016374")
    assert (streamed.feature, streamed.tags, streamed.endpoint) == (
        "outer",
        ("all", "s"),
        STREAM_PATH,
    )
    assert streamed.cost is not None and streamed.cost.total == Decimal("0.00096508")
    assert streamed.ttft_ms is not None and streamed.status == 200
    assert (failed.status, failed.feature, failed.cost) == (500, "outer", None)


@pytest.mark.parametrize("transport", ["aiohttp", "httpx2"])
def test_an_async_stream_closed_half_way(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
    transport: str,
) -> None:
    upstream.delay = 0.1

    async def half() -> None:
        async with _client(upstream.url, transport=transport).aio as aio:
            made = await aio.models.generate_content_stream(model=FLASH, contents=STORY)
            async for _ in made:
                break
            await made.aclose()

    asyncio.run(half())
    [call] = recorded_calls(recorded, 1)
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.cost is not None and call.cost.total == Decimal("0.00015258")


def test_embeddings_pass_through_unrecorded(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
) -> None:
    """The Gemini API's batchEmbedContents reports no usage, and the gateway has no
    wire for it: nothing to record, the same answer."""
    with _client(upstream.url) as client:
        ours = _dumped(client.models.embed_content(model="gemini-embedding-001", contents="Hi"))
    assert recorded_calls(recorded, 0) == []
    assert ours["embeddings"][0]["values"] == [0.0023064255, -0.009327292, 0.015797347]
    llmtally.uninstrument()
    with _client(upstream.url) as bare:
        assert (
            _dumped(bare.models.embed_content(model="gemini-embedding-001", contents="Hi")) == ours
        )


def test_an_unreachable_upstream_raises_as_before_and_is_recorded(
    recorded: ListRecorder,  # noqa: F811
) -> None:
    port = free_port()  # nothing listens there
    with _client(f"http://127.0.0.1:{port}") as client, pytest.raises(httpx2.ConnectError):
        client.models.generate_content(model=FLASH, contents=EXPLAIN)
    [call] = recorded_calls(recorded, 1)
    assert (call.status, call.cost, call.endpoint) == (502, None, PLAIN_PATH)
    assert call.error is not None and call.error.startswith("upstream unreachable: ConnectError")


def test_the_active_opentelemetry_span_gives_trace_and_parent_ids(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    context = trace.SpanContext(trace_id=0xABC, span_id=0x12, is_remote=False)
    with trace.use_span(trace.NonRecordingSpan(context)), _client(upstream.url) as client:
        _plain(client)
    [call] = recorded_calls(recorded, 1)
    assert call.trace_id == "00000000000000000000000000000abc"
    assert call.parent_id == "0000000000000012"


def test_an_error_inside_llmtally_is_counted_and_never_seen(
    upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("attribution is broken")

    monkeypatch.setattr(google_sdk, "headers_for_call", broken)
    before = inst.internal_errors()
    with _client(upstream.url) as client:
        assert len(_stream(client)) == 3
        assert _plain(client)["usage_metadata"]["thoughts_token_count"] == 645
    assert recorded_calls(recorded, 0) == []
    assert inst.internal_errors() == before + 2  # each call's watch, never the app


def test_uninstrument_restores_the_sdk() -> None:
    base = _api_client.BaseApiClient
    original, async_original = base._request_once, base._async_request_once
    llmtally.instrument(writer=ListRecorder(), catalog=Catalog.load())
    assert base._request_once is not original
    assert base._async_request_once is not async_original
    llmtally.uninstrument()
    assert base._request_once is original
    assert base._async_request_once is async_original
