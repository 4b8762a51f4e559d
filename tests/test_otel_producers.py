"""OTLP ingest fed by real GenAI span producers: their rows equal the gateway's.

Producers (installed by the ``dev`` extra, instrumented and uninstrumented inside
each test so no other test sees a patched SDK):
- ``opentelemetry-instrumentation-openai-v2`` (2.4b0, the OpenTelemetry
  contrib instrumentation, https://pypi.org/project/opentelemetry-instrumentation-openai-v2/);
- OpenLLMetry's ``opentelemetry-instrumentation-openai`` and
  ``-anthropic`` (0.62.4, https://pypi.org/project/opentelemetry-instrumentation-openai/,
  https://pypi.org/project/opentelemetry-instrumentation-anthropic/).

Each patches the official ``openai`` (or ``anthropic``) SDK, which calls the replay upstream
(``tests/replay_upstream.py``) directly; the spans it makes, named as the GenAI
semantic conventions say (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/,
or the producer's own older names), go out through the official OTLP/HTTP
exporter to ``/v1/traces`` of a live gateway writing to a real SQLite ledger (or,
encoded by that exporter, as OTLP JSON and then again as protobuf: each span
must still give one row).
The same calls are then made through that gateway by an uninstrumented client;
the rows recorded from the spans must equal the gateway's in provider, model,
tokens, cost and status.

Costs worked out by hand from the catalog's list prices (USD per 1M tokens):
gpt-4o $2.50 input, $10.00 output: 19 x 2.5 + 10 x 10 = 147.5 -> $0.0001475;
gpt-4o-mini $0.15 input, $0.60 output: 10 x 0.15 + 6 x 0.6 = 5.1 -> $0.0000051.
"""

from __future__ import annotations

import base64
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as AnthropicLLMetry
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribV2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from gateway_support import live_gateway, openai_and_claude
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.otel.spans import call_from_span
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

HELLO = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
SAY_HELLO = [{"role": "user", "content": "Say hello."}]
MULTIPLY = [{"role": "user", "content": "What is 17 * 23?"}]
EMBED = "The food was delicious and the waiter..."
WITH_USAGE: Any = {"include_usage": True}
# (provider, model asked, tokens in, tokens out, cost, status), worked out by hand
EXPECTED = [
    ("openai", "gpt-4o", 19, 10, Decimal("0.0001475"), 200),
    ("openai", "gpt-4o-mini", 10, 6, Decimal("0.0000051"), 200),
    # 1200 in of which 1024 cached, 210 out: 176 x 1.10 + 1024 x 0.275 + 210 x 4.40
    ("openai", "o4-mini", 1200, 210, Decimal("0.0013992"), 200),
    ("openai", "text-embedding-3-small", 8, 0, Decimal("0.00000016"), 200),  # 8 x $0.02
    ("openai", "gpt-4.1-mini", 0, 0, None, 429),  # rate limited: no usage, no cost
]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[Store, LedgerWriter]]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
        yield store, writer
        writer.close()


def _stream_text(client: openai.OpenAI, model: str, messages: Any, **extra: Any) -> str:
    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options=WITH_USAGE, **extra
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def _openai_calls(base_url: str) -> None:
    """The transcripts' calls: plain, streamed, streamed with reasoning and a cache
    hit, embeddings, and one the upstream refuses with a 429."""
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello! How can I assist you today?"
    assert _stream_text(client, "gpt-4o-mini", SAY_HELLO)
    assert _stream_text(client, "o4-mini", MULTIPLY, reasoning_effort="medium")
    vectors = client.embeddings.create(
        model="text-embedding-3-small", input=EMBED, encoding_format="float"
    )
    assert len(vectors.data[0].embedding) == 4
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4.1-mini", messages=[HELLO[1]])  # type: ignore[list-item]


def _key(call: Call) -> tuple[Any, ...]:
    cost = call.cost.total if call.cost is not None else None
    usage = call.usage
    return (
        call.provider,
        call.model_requested,
        usage.input_tokens,
        usage.output_tokens,
        cost,
        call.status,
    )


def _facts(call: Call) -> tuple[Any, ...]:
    """Everything both paths know about a call, beyond the compared key."""
    usage = call.usage
    return (
        call.model_served,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        call.error is None,
        call.cost_error is None,
    )


def _unwrap_sdks() -> int:
    """Take off every wrapt wrapper left on the openai and anthropic SDKs'
    classes; how many. OpenLLMetry 0.62.4's ``uninstrument()`` leaves its
    wrappers on (its dotted ``unwrap("...", "Completions.create")`` finds
    nothing), and they would make spans in later tests."""
    removed = 0
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in ("openai", "anthropic"):
            continue
        for cls in [v for v in vars(module).values() if inspect.isclass(v)]:
            for attr, value in list(vars(cls).items()):
                while "FunctionWrapper" in type(value).__name__:
                    value = value.__wrapped__
                    setattr(cls, attr, value)
                    removed += 1
    return removed


class JsonThenProtobuf(SpanExporter):
    """Each batch of the producer's spans sent as OTLP JSON (trace and span ids in
    hex, https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), then
    again as protobuf, as an exporter retrying a batch would: the OTLP exporter's
    own encoder makes the message, so the spans are the producer's."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        message = encode_spans(spans)
        as_json = json_format.MessageToDict(message)
        for resource in as_json["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    for name in ("traceId", "spanId", "parentSpanId"):
                        if name in span:
                            span[name] = base64.b64decode(span[name]).hex()
        sent = httpx.post(self.endpoint, json=as_json)
        assert sent.status_code == 200, sent.text
        again = httpx.post(
            self.endpoint,
            content=message.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
        assert again.status_code == 200, again.text
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _spans_then_gateway(
    ledger: tuple[Store, LedgerWriter],
    producer: Callable[[], BaseInstrumentor],
    calls: Callable[[str], None],
    count: int,
    exporter: Callable[[str], SpanExporter] = lambda url: OTLPSpanExporter(endpoint=url),
) -> tuple[list[Call], list[Call]]:
    """``calls`` (given a base URL) made straight to the upstream under the
    producer, then through the gateway: the rows from the producer's spans and
    the rows the gateway recorded, in call order (each span recorded once)."""
    store, writer = ledger
    with (
        ReplayUpstream() as upstream,
        live_gateway(openai_and_claude(upstream.url), None, writer) as (url, _),
    ):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter(f"{url}/v1/traces")))
        instrumentor = producer()
        instrumentor.instrument(tracer_provider=provider)
        try:
            calls(upstream.url)
        finally:
            instrumentor.uninstrument()
            _unwrap_sdks()
            provider.shutdown()
        assert writer.flush(10)
        calls(url)
        assert len(upstream.served) == 2 * count
        for _ in range(500):  # the gateway records after it has answered
            if store.count() >= 2 * count:
                break
            writer.flush(0.01)
        assert writer.flush(10)
    rows = sorted(store.list(limit=100), key=lambda call: call.started_at)
    assert len(rows) == 2 * count
    spans = [call for call in rows if call.endpoint.startswith("otel:")]
    gateway = [call for call in rows if not call.endpoint.startswith("otel:")]
    return spans, gateway


# What each producer's span of the streamed o4-mini call reports (the gateway
# reads 1024 cached and 192 reasoning tokens from the stream's usage chunk):
# (cache read, reasoning, cost) of the row made from it.
# openai-v2 2.4b0 writes no usage details for a stream: priced without the cache,
# 1200 x 1.10 + 210 x 4.40 = 2244 -> $0.002244.
O4_OPENAI_V2 = (0, 0, Decimal("0.002244"))
# OpenLLMetry writes the cache read but not the reasoning count for a stream;
# reasoning is priced as output, so the cost is right.
O4_OPENLLMETRY = (1024, 0, Decimal("0.0013992"))
# OpenLLMetry's Responses wrapper declares a class-based pydantic config (deprecated).
OLD_PYDANTIC = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
PRODUCERS = [
    pytest.param(ContribV2, O4_OPENAI_V2, id="openai-v2"),
    pytest.param(OpenLLMetry, O4_OPENLLMETRY, id="openllmetry", marks=OLD_PYDANTIC),
]
ENCODINGS = [
    pytest.param(lambda url: OTLPSpanExporter(endpoint=url), id="protobuf"),
    pytest.param(JsonThenProtobuf, id="json-then-protobuf"),
]


@pytest.mark.parametrize("exporter", ENCODINGS)
@pytest.mark.parametrize(("producer", "o4"), PRODUCERS)
def test_producer_spans_give_the_rows_the_gateway_records(
    ledger: tuple[Store, LedgerWriter],
    producer: Callable[[], BaseInstrumentor],
    o4: tuple[int, int, Decimal],
    exporter: Callable[[str], SpanExporter],
) -> None:
    spans, gateway = _spans_then_gateway(ledger, producer, _openai_calls, len(EXPECTED), exporter)
    assert [_key(call) for call in gateway] == EXPECTED
    gateway_o4 = gateway[2].usage
    assert (gateway_o4.cache_read_tokens, gateway_o4.reasoning_tokens) == (1024, 192)
    streamed = spans.pop(2)
    assert (streamed.usage.cache_read_tokens, streamed.usage.reasoning_tokens) == o4[:2]
    assert _key(streamed) == (*EXPECTED[2][:4], o4[2], 200)
    del gateway[2]
    assert [_key(call) for call in spans] == [_key(call) for call in gateway]
    assert [_facts(call) for call in spans] == [_facts(call) for call in gateway]
    endpoints = ["otel:chat", "otel:chat", "otel:embeddings", "otel:chat"]
    assert [call.endpoint for call in spans] == endpoints
    # the SDK's exception class (cut from "<class 'openai.RateLimitError'>" for
    # openai-v2) and its message, which holds the upstream's
    assert str(spans[3].error).startswith("RateLimitError: Error code: 429 - Rate limit reached")
    assert gateway[3].error is not None and "Rate limit reached" in gateway[3].error
    for call in [*spans, streamed]:
        assert call.trace_id is not None and len(call.trace_id) == 32
        assert call.flags == ()


SONNET = "claude-sonnet-4-20250514"
CONCISE: Any = [
    {"type": "text", "text": "You are a concise assistant.", "cache_control": {"type": "ephemeral"}}
]


def _anthropic_calls(base_url: str) -> None:
    """A message that writes the cache, and a stream that reads it (Anthropic
    reports both apart from ``input_tokens``). OpenLLMetry 0.62.4 makes no span
    for the ``messages.stream()`` helper, so the stream is ``create(stream=True)``."""
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)
    hello = [{"role": "user", "content": "Hello, Claude"}]
    reply = client.messages.create(model=SONNET, max_tokens=1024, messages=hello)  # type: ignore[arg-type]
    assert reply.usage.output_tokens == 503
    stream = client.messages.create(
        model=SONNET,
        max_tokens=256,
        stream=True,
        system=CONCISE,
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert len(list(stream)) == 7


# claude-sonnet-4 $3.00 input, $3.75 cache write (5 minutes), $0.30 cache read,
# $15.00 output per 1M. The message: 2095 in + 2051 written, 503 out:
# 2095 x 3 + 2051 x 3.75 + 503 x 15 = 21521.25 -> $0.02152125.
# The stream: 25 in + 1800 read, 15 out (message_delta's count is the total):
# 25 x 3 + 1800 x 0.30 + 15 x 15 = 840 -> $0.00084.
CLAUDE = [
    ("anthropic", SONNET, 4146, 503, Decimal("0.02152125"), 200),
    ("anthropic", SONNET, 1825, 15, Decimal("0.00084"), 200),
]


@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
def test_openllmetry_anthropic_spans_give_the_gateway_rows_but_one_output_token(
    ledger: tuple[Store, LedgerWriter],
) -> None:
    spans, gateway = _spans_then_gateway(ledger, AnthropicLLMetry, _anthropic_calls, 2)
    assert [_key(call) for call in gateway] == CLAUDE
    assert [(c.usage.cache_write_tokens, c.usage.cache_read_tokens) for c in gateway] == [
        (2051, 0),
        (0, 1800),
    ]
    assert _key(spans[0]) == CLAUDE[0]
    # OpenLLMetry adds message_start's output count (1) to message_delta's total
    # (15): 16 x $15 instead of 15, $0.000855 instead of $0.00084.
    assert _key(spans[1]) == (*CLAUDE[1][:3], 16, Decimal("0.000855"), 200)
    assert [_facts(call) for call in spans] == [_facts(call) for call in gateway]
    assert [call.flags for call in spans] == [(), ()]  # the producer adds the cache in


@pytest.mark.parametrize(
    ("error_type", "status", "error"),
    [
        ("429", 429, "429: overloaded"),  # a status code, as HTTP instrumentations write it
        ("<class 'anthropic.OverloadedError'>", 529, "OverloadedError: overloaded"),
        ("AuthenticationError", 401, "AuthenticationError: overloaded"),
        ("TimeoutError", 500, "TimeoutError: overloaded"),  # names no status
    ],
)
def test_error_type_names_the_status(error_type: str, status: int, error: str) -> None:
    span = Span(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        start_time_unix_nano=1_800_000_000 * 10**9,
        end_time_unix_nano=1_800_000_001 * 10**9,
        status=Status(code=Status.STATUS_CODE_ERROR, message="overloaded"),
    )
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    call = call_from_span(span, {**attrs, "error.type": error_type}, Catalog.load())
    assert (call.status, call.error, call.cost) == (status, error, None)
