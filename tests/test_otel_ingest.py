"""OTLP/HTTP trace ingest (``POST /v1/traces``): GenAI spans -> priced ledger rows.

Specifications followed (and checked here):
- OTLP/HTTP: https://opentelemetry.io/docs/specs/otlp/#otlphttp (protobuf and
  JSON encodings, hex trace/span ids in JSON, gzip, failures answered with a
  ``google.rpc.Status`` in the request's encoding, partial success).
- GenAI spans: https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/
  (``gen_ai.usage.input_tokens`` includes ``cache_read.input_tokens`` and
  ``cache_creation.input_tokens``; ``output_tokens`` includes reasoning).

Spans are made by the real ``opentelemetry-sdk`` and sent by the official
OTLP/HTTP exporter, or written by hand in OTLP JSON; the ledger is a real SQLite
ledger behind the gateway's writer. Costs worked out by hand from the catalog's
list prices (USD per 1M tokens): gpt-4o-mini $0.15 input, $0.075 cached input,
$0.60 output; claude-haiku-4-5 $1.00 input, $0.10 cache read, $1.25 cache write
(5 minutes), $5.00 output.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway_support import live_gateway
from llmtally.gateway.keys import KeyGate
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.keys import KeyStore
from llmtally.usage import Call

CONFIG = {  # no call is forwarded: the upstream is never asked
    "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
    "routes": [{"match": "*", "upstream": "openai"}],
}
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
SECOND = 1_000_000_000
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
TRACE = "5b8efff798038103d269b633813fc60c"
ROOT, CHAT, FAILED, AGENT = "eee19b7ec3c1b174", "eee19b7ec3c1b175", "eee19b7ec3c1b176", "e1"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[Store, LedgerWriter]]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        # db_timeout 30: a stall past the default 2 s on a shared machine (seen in CI)
        # would send the rows to the spool; the spool path has tests of its own
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01, db_timeout=30)
        yield store, writer
        writer.close()


def _rows(store: Store, writer: LedgerWriter) -> dict[str, Call]:
    """Every row once the writer has stored what was submitted, by model asked for."""
    assert writer.flush(10)
    return {call.model_requested: call for call in store.list(limit=100)}


def _genai_spans() -> list[ReadableSpan]:
    """A request span (not GenAI) with two model calls under it, made by the SDK."""
    provider = TracerProvider(resource=Resource({"service.name": "checkout"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test_otel_ingest")
    root = tracer.start_span("POST /checkout", start_time=T0_NS)
    under = trace.set_span_in_context(root)
    chat = tracer.start_span(
        "chat gpt-4o-mini",
        context=under,
        kind=SpanKind.CLIENT,
        start_time=T0_NS + SECOND,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 400,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.reasoning.output_tokens": 120,
        },
    )
    chat.end(end_time=T0_NS + SECOND + 1_500_000_000)
    claude = tracer.start_span(
        "chat claude-haiku-4-5",
        context=under,
        kind=SpanKind.CLIENT,
        start_time=T0_NS + 3 * SECOND,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
            "gen_ai.usage.output_tokens": 200,
        },
    )
    claude.end(end_time=T0_NS + 5 * SECOND)
    root.end(end_time=T0_NS + 6 * SECOND)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    assert len(spans) == 3
    return spans


def _metric(url: str, line: str) -> float:
    for row in httpx.get(f"{url}/metrics").text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    raise AssertionError(f"no {line} on /metrics")


def test_sdk_exports_become_priced_rows_once_however_often_sent(
    ledger: tuple[Store, LedgerWriter],
) -> None:
    store, writer = ledger
    spans = _genai_spans()
    root = next(s for s in spans if s.name == "POST /checkout")
    with live_gateway(CONFIG, None, writer) as (url, _):
        plain = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
        zipped = OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip)
        assert plain.export(spans) == SpanExportResult.SUCCESS
        assert zipped.export(spans) == SpanExportResult.SUCCESS  # the retry, gzip-compressed
        assert plain.export(spans) == SpanExportResult.SUCCESS
        rows = _rows(store, writer)
        assert store.count() == 2  # one row per model-call span, however often sent
        assert _metric(url, 'llmtally_otlp_spans_total{outcome="recorded"}') == 6
        assert _metric(url, 'llmtally_otlp_spans_total{outcome="ignored"}') == 3  # the root
        assert _metric(url, 'llmtally_otlp_exports_total{result="accepted"}') == 3
    chat, claude = rows["gpt-4o-mini"], rows["claude-haiku-4-5"]
    assert chat.started_at == T0 + dt.timedelta(seconds=1)
    assert (chat.provider, chat.model_served) == ("openai", "gpt-4o-mini-2024-07-18")
    assert (chat.endpoint, chat.status, chat.error, chat.latency_ms) == (
        "otel:chat",
        200,
        None,
        1500,
    )
    assert chat.trace_id == format(root.context.trace_id, "032x")
    assert chat.parent_id == format(root.context.span_id, "016x")  # the span it ran under
    assert chat.usage.input_tokens == 1000 and chat.usage.cache_read_tokens == 400
    assert chat.usage.output_tokens == 500 and chat.usage.reasoning_tokens == 120
    # 600 x $0.15 + 400 x $0.075 + 500 x $0.60 (reasoning priced as output), per 1M
    assert chat.cost is not None and chat.cost_error is None
    assert chat.cost.input == Decimal("0.00009") and chat.cost.cache_read == Decimal("0.00003")
    assert chat.cost.total == Decimal("0.00042")
    assert chat.output_tokens_per_s == pytest.approx(500 / 1.5)
    # input 3000 of which 1000 read and 500 written: 1500 x $1 + 1000 x $0.10
    # + 500 x $1.25 + 200 x $5 = $0.0015 + $0.0001 + $0.000625 + $0.001
    assert claude.usage.input_tokens == 3000 and claude.usage.cache_write_tokens == 500
    assert claude.cost is not None and claude.cost.total == Decimal("0.003225")
    assert claude.cost.cache_write == Decimal("0.000625")
    assert claude.latency_ms == 2000 and claude.flags == ()


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    return {"key": key, "value": {"intValue": str(value)}}  # int64 as a string, as OTLP JSON


def _json_span(span_id: str, start_s: int, end_s: int, **attrs: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": ROOT,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(T0_NS + start_s * SECOND),
        "endTimeUnixNano": str(T0_NS + end_s * SECOND),
        "attributes": [_attr(k.replace("__", "."), v) for k, v in attrs.items()],
    }


def _export(*spans: dict[str, Any]) -> dict[str, Any]:
    resource = {"attributes": [_attr("service.name", "support-bot")]}
    scope = {"scope": {"name": "hand-written"}, "spans": list(spans)}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}


def test_hand_written_otlp_json_with_older_names_errors_and_agents(
    ledger: tuple[Store, LedgerWriter],
) -> None:
    store, writer = ledger
    older = _json_span(  # gen_ai.system and prompt/completion tokens (semconv before 1.27)
        CHAT,
        0,
        2,
        gen_ai__system="openai",
        gen_ai__request__model="gpt-4o-mini",
        gen_ai__usage__prompt_tokens=2000,
        gen_ai__usage__completion_tokens=300,
    )
    failed = _json_span(
        FAILED,
        3,
        4,
        gen_ai__operation__name="chat",
        gen_ai__provider__name="openai",
        gen_ai__request__model="gpt-4.1",
        error__type="RateLimitError",
        http__response__status_code=429,
    )
    failed["status"] = {"code": 2, "message": "Rate limit reached"}
    agent = _json_span(  # its tokens repeat its model calls': not a row of its own
        "00000000000000" + AGENT,
        0,
        5,
        gen_ai__operation__name="invoke_agent",
        gen_ai__request__model="gpt-4o-mini",
        gen_ai__usage__input_tokens=2000,
    )
    body = json.dumps(_export(older, failed, agent))
    with live_gateway(CONFIG, None, writer) as (url, _):
        answer = httpx.post(f"{url}/v1/traces", content=body, headers=JSON)
        assert (answer.status_code, answer.json()) == (200, {})
        assert answer.headers["content-type"] == "application/json"
        rows = _rows(store, writer)
        assert _metric(url, 'llmtally_otlp_spans_total{outcome="ignored"}') == 1
    assert set(rows) == {"gpt-4o-mini", "gpt-4.1"}
    ok = rows["gpt-4o-mini"]
    assert (ok.trace_id, ok.parent_id, ok.latency_ms) == (TRACE, ROOT, 2000)
    assert ok.started_at == T0
    # 2000 x $0.15 + 300 x $0.60 per 1M = $0.0003 + $0.00018
    assert ok.cost is not None and ok.cost.total == Decimal("0.00048")
    bad = rows["gpt-4.1"]
    assert (bad.status, bad.error) == (429, "RateLimitError: Rate limit reached")
    assert bad.cost is None and bad.cost_error == "the call failed (HTTP 429) and reported no usage"


def test_cache_counted_apart_and_partial_success(ledger: tuple[Store, LedgerWriter]) -> None:
    store, writer = ledger
    apart = _json_span(  # Anthropic's own way: input excludes the cache
        CHAT,
        0,
        1,
        gen_ai__provider__name="anthropic",
        gen_ai__request__model="claude-haiku-4-5",
        gen_ai__usage__input_tokens=100,
        gen_ai__usage__cache_read__input_tokens=1000,
        gen_ai__usage__output_tokens=10,
    )
    broken = _json_span(
        FAILED, 2, 1, gen_ai__request__model="gpt-4o-mini", gen_ai__usage__input_tokens=5
    )
    with live_gateway(CONFIG, None, writer) as (url, _):
        answer = httpx.post(f"{url}/v1/traces", json=_export(apart, broken))
        assert answer.status_code == 200
        partial = answer.json()["partialSuccess"]
        assert int(partial["rejectedSpans"]) == 1
        assert partial["errorMessage"] == (
            f"1 GenAI spans rejected: span {FAILED}: the span ends before it starts"
        )
        rows = _rows(store, writer)
    assert set(rows) == {"claude-haiku-4-5"}
    row = rows["claude-haiku-4-5"]
    assert row.usage.input_tokens == 1100 and row.usage.cache_read_tokens == 1000
    assert row.flags == ("otel_cache_added",)
    # 100 x $1 + 1000 x $0.10 + 10 x $5 per 1M = $0.0001 + $0.0001 + $0.00005
    assert row.cost is not None and row.cost.total == Decimal("0.00025")


def _status(answer: httpx.Response) -> tuple[int, int, str]:
    """(HTTP status, google.rpc.Status code, message), read in the answer's encoding."""
    if answer.headers["content-type"] == "application/json":
        body = answer.json()
        return answer.status_code, body["code"], body["message"]
    status = status_pb2.Status.FromString(answer.content)
    return answer.status_code, status.code, status.message


def test_bad_and_oversized_exports_get_the_otlp_error_and_write_nothing(
    ledger: tuple[Store, LedgerWriter],
) -> None:
    store, writer = ledger
    good = json.dumps(_export(_json_span(CHAT, 0, 1, gen_ai__request__model="gpt-4o-mini")))
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros in about 64 KB
    assert len(bomb) < 100_000
    with live_gateway(CONFIG, None, writer) as (url, _):
        post = f"{url}/v1/traces"

        def send(body: bytes | str, **headers: str) -> tuple[int, int, str]:
            return _status(httpx.post(post, content=body, headers=headers))

        code, rpc, message = send(b"\xff\xff\xff\xff", **PROTOBUF)
        assert (code, rpc) == (400, 3) and message.startswith("malformed protobuf body")
        code, rpc, message = send('{"resourceSpans": [', **JSON)
        assert (code, rpc) == (400, 3) and message.startswith("malformed JSON body")
        assert send(good.replace(CHAT, "not-hex!"), **JSON) == (
            400,
            3,
            "spanId is not hex: 'not-hex!'",
        )
        assert send(b"\0" * (4 * 1024 * 1024 + 1), **PROTOBUF) == (
            413,
            8,
            "the body is over the limit of 4194304 bytes",
        )
        started = time.monotonic()
        zipped = {**PROTOBUF, "content-encoding": "gzip"}
        assert send(bomb, **zipped) == (
            413,
            8,
            "the decompressed body is over the limit of 4194304 bytes",
        )
        assert time.monotonic() - started < 2
        code, _, message = send(gzip.compress(good.encode())[:-12], **{**JSON, **zipped})
        assert code == 400 and message.startswith("malformed gzip body")
        code, _, message = send(good, **{"content-type": "text/plain"})
        assert code == 415  # a web page's simple request (no CORS preflight) is refused
        assert (
            httpx.post(
                post, content=good, headers={**JSON, "origin": "https://evil.example"}
            ).status_code
            == 403
        )
        assert _metric(url, 'llmtally_otlp_exports_total{result="refused"}') == 7
        assert writer.flush(10)
        assert store.count() == 0  # nothing was written


def test_a_gateway_key_is_needed_once_keys_exist(
    ledger: tuple[Store, LedgerWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's set-up: the exporter configured by environment variables alone."""
    store, writer = ledger
    made = KeyStore(store).create("tracing")
    gate = KeyGate(KeyStore(store))
    gate.refresh()
    spans = _genai_spans()
    with live_gateway(CONFIG, None, writer, gate=gate) as (url, _):
        answer = httpx.post(f"{url}/v1/traces", content=b"", headers=PROTOBUF)
        code, rpc, message = _status(answer)
        assert (code, rpc) == (401, 16) and "needs a gateway key" in message
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{url}/v1/traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x-api-key={made.secret}")
        assert OTLPSpanExporter().export(spans) == SpanExportResult.SUCCESS
        rows = _rows(store, writer)
    assert {call.key_id for call in rows.values()} == {made.key.id}
    assert len(rows) == 2


def test_status_and_kind_of_sdk_error_spans(ledger: tuple[Store, LedgerWriter]) -> None:
    """An SDK span ended with an error status and no usage: a 500 row without a cost."""
    store, writer = ledger
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    span = provider.get_tracer("t").start_span(
        "chat gpt-4o-mini",
        start_time=T0_NS,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
    )
    span.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    span.end(end_time=T0_NS + 30 * SECOND)
    with live_gateway(CONFIG, None, writer) as (url, _):
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
        assert exporter.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
        [row] = _rows(store, writer).values()
    provider.shutdown()
    assert (row.status, row.error, row.parent_id, row.latency_ms) == (
        500,
        "upstream timed out",
        None,
        30_000,
    )
    assert row.provider == "unknown" and row.cost is None
    assert row.cost_error == "the call failed (HTTP 500) and reported no usage"


def test_a_full_ledger_refuses_the_export_with_503_and_retry_after(
    ledger: tuple[Store, LedgerWriter], tmp_path: Path
) -> None:
    """OTLP exporters retry a 503 (https://opentelemetry.io/docs/specs/otlp/#retryable-response-codes):
    the spans are refused whole while the ledger holds all it may, then taken."""
    store, writer = ledger
    full = LedgerWriter(store, tmp_path / "full-spool.jsonl", max_held=0)
    export = json.dumps(_export(_json_span(CHAT, 0, 1, gen_ai__request__model="gpt-4o-mini")))
    try:
        with live_gateway(CONFIG, None, full) as (url, _):
            answer = httpx.post(f"{url}/v1/traces", content=export, headers=JSON)
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "5"
            assert "ledger is full" in answer.json()["message"]
            assert _metric(url, 'llmtally_otlp_exports_total{result="refused"}') == 1
    finally:
        full.close()
    assert store.list(limit=10) == []
    with live_gateway(CONFIG, None, writer) as (url, _):
        assert httpx.post(f"{url}/v1/traces", content=export, headers=JSON).status_code == 200
    assert list(_rows(store, writer)) == ["gpt-4o-mini"]
