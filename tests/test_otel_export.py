"""OTLP export: every call the gateway records reaches a local OTLP receiver as a
GenAI span (and metrics) with its tokens and cost; export failures never touch
the calls.

The receiver (tests/otlp_receiver.py) decodes what arrives with the official
OTLP protobuf classes; the expected values are read off the replayed
transcripts and the catalog's dated prices, worked out by hand below.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway_support import free_port, live_gateway
from llmtally import instrument as inst
from llmtally.catalog import Catalog
from llmtally.otel.export import OtlpExport, OtlpExporter
from llmtally.otel.spans import read_spans
from llmtally.usage import Call, Usage
from otlp_receiver import OtlpReceiver, attributes
from replay_upstream import ReplayUpstream, load_transcripts

TRANSCRIPTS = load_transcripts()
# o4-mini, streamed: 1,200 prompt tokens of which 1,024 cached, 210 output of which
# 192 reasoning, at o4-mini's price from 2025-04-16 (per million: input $1.10,
# cached $0.275, output $4.40):
#   176 x 1.10 + 1,024 x 0.275 + 210 x 4.40 = 193.6 + 281.6 + 924 = 1,399.2 (per 1e6)
O4_MINI_COST = Decimal("0.0013992")
# gpt-4o (served as gpt-4o-2024-08-06): 19 prompt, 10 output at $2.50 / $10.00:
#   19 x 2.50 + 10 x 10.00 = 47.5 + 100 = 147.5 (per 1e6)
GPT_4O_COST = Decimal("0.0001475")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _gateway_config(upstream: str, receiver: str, **export: Any) -> dict[str, Any]:
    return {
        "upstreams": {"openai": {"kind": "openai", "base_url": upstream}},
        "routes": [{"match": "*", "upstream": "openai"}],
        "otel_export": {
            "endpoint": receiver,
            "headers": {"x-backend-key": "backend-secret"},
            "service_name": "gw-test",
            "interval_s": 0.05,
            **export,
        },
    }


def _send_through(base: str, names: list[str]) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        for name in names:
            request = TRANSCRIPTS[name]["request"]
            answer = client.post(request["path"], json=request["json"])
            answer.read()
            assert answer.status_code == 200, answer.text


def test_gateway_calls_arrive_as_genai_spans(catalog: Catalog) -> None:
    with ReplayUpstream() as upstream, OtlpReceiver() as receiver:
        config = _gateway_config(upstream.url, receiver.url)
        with live_gateway(config, catalog) as (base, keeper):
            _send_through(base, ["openai_chat_stream_reasoning_cached", "openai_chat"])
            keeper.next_call(1)
        # the gateway's shutdown flushed the export
        spans = {attributes(s.attributes)["gen_ai.request.model"]: s for s in receiver.spans()}
        calls = {c.model_requested: c for c in keeper.calls}
    assert sorted(spans) == ["gpt-4o", "o4-mini"]
    o4 = attributes(spans["o4-mini"].attributes)
    assert o4["gen_ai.operation.name"] == "chat"
    assert o4["gen_ai.provider.name"] == "openai"
    assert o4["gen_ai.response.model"] == "o4-mini-2025-04-16"
    assert o4["gen_ai.usage.input_tokens"] == 1200
    assert o4["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert o4["gen_ai.usage.output_tokens"] == 210
    assert o4["gen_ai.usage.reasoning.output_tokens"] == 192
    assert "gen_ai.usage.cache_creation.input_tokens" not in o4  # none written
    assert o4["gen_ai.usage.cost.amount"] == float(O4_MINI_COST)
    assert o4["gen_ai.usage.cost.currency"] == "USD"
    assert o4["gen_ai.usage.cost.source"] == "local"
    assert Decimal(str(o4["llmtally.cost.usd"])) == O4_MINI_COST
    assert o4["http.response.status_code"] == 200
    assert o4["llmtally.call.id"] == calls["o4-mini"].id
    gpt = attributes(spans["gpt-4o"].attributes)
    assert Decimal(str(gpt["llmtally.cost.usd"])) == GPT_4O_COST
    assert spans["gpt-4o"].name == "chat gpt-4o"
    assert spans["gpt-4o"].kind == spans["gpt-4o"].SPAN_KIND_CLIENT
    # the span lasts as long as the call the ledger holds
    span = spans["o4-mini"]
    lasted_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
    assert lasted_ms == pytest.approx(calls["o4-mini"].latency_ms, abs=0.001)
    started = dt.datetime.fromtimestamp(span.start_time_unix_nano / 1e9, dt.UTC)
    assert abs(started - calls["o4-mini"].started_at) < dt.timedelta(microseconds=2)


def test_export_request_is_otlp_protobuf_gzip_with_the_configured_headers(
    catalog: Catalog,
) -> None:
    with ReplayUpstream() as upstream, OtlpReceiver() as receiver:
        with live_gateway(_gateway_config(upstream.url, receiver.url), catalog) as (base, keeper):
            _send_through(base, ["openai_chat"])
            keeper.next_call(0)
        request = receiver.wait_for("/v1/traces")[0]
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["x-backend-key"] == "backend-secret"
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    resource = ExportTraceServiceRequest.FromString(request.body).resource_spans[0].resource
    assert attributes(resource.attributes)["service.name"] == "gw-test"


def test_metrics_carry_tokens_durations_and_cost(catalog: Catalog) -> None:
    with ReplayUpstream() as upstream, OtlpReceiver() as receiver:
        with live_gateway(_gateway_config(upstream.url, receiver.url), catalog) as (base, keeper):
            _send_through(base, ["openai_chat_stream_reasoning_cached", "openai_chat"])
            keeper.next_call(1)
        exports = receiver.metrics()
    tokens: dict[tuple[str, str], float] = {}
    cost: dict[str, float] = {}
    durations = 0
    for export in exports:
        for metric in export.resource_metrics[0].scope_metrics[0].metrics:
            if metric.name == "gen_ai.client.token.usage":
                assert metric.unit == "{token}"
                for point in metric.histogram.data_points:
                    a = attributes(point.attributes)
                    key = (str(a["gen_ai.request.model"]), str(a["gen_ai.token.type"]))
                    tokens[key] = tokens.get(key, 0) + point.sum
                    assert sum(point.bucket_counts) == point.count
            elif metric.name == "gen_ai.client.operation.duration":
                durations += sum(p.count for p in metric.histogram.data_points)
            elif metric.name == "llmtally.cost":
                assert metric.sum.is_monotonic
                for number in metric.sum.data_points:
                    model = str(attributes(number.attributes)["gen_ai.request.model"])
                    cost[model] = cost.get(model, 0) + number.as_double
    assert tokens == {
        ("o4-mini", "input"): 1200,
        ("o4-mini", "output"): 210,
        ("gpt-4o", "input"): 19,
        ("gpt-4o", "output"): 10,
    }
    assert durations == 2
    assert cost == {"o4-mini": float(O4_MINI_COST), "gpt-4o": float(GPT_4O_COST)}


def _call(n: int, **fields: Any) -> Call:
    return Call(
        id=f"01JTESTCALL{n:015d}",
        started_at=dt.datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=dt.UTC),
        provider=fields.pop("provider", "openai"),
        model_requested=fields.pop("model", "gpt-4o"),
        model_served=None,
        endpoint=fields.pop("endpoint", "/v1/chat/completions"),
        status=fields.pop("status", 200),
        latency_ms=250.0,
        usage=Usage(input_tokens=100, output_tokens=20),
        **fields,
    )


def test_an_exported_span_reads_back_as_the_same_call(catalog: Catalog) -> None:
    """What llmtally exports, llmtally's own OTLP ingest reads back: same usage,
    same price; a Gemini call names gcp.gemini and comes back as google."""
    from llmtally.meter import cost

    at = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
    usage = Usage(input_tokens=1000, output_tokens=300, cache_read_tokens=400)
    priced = cost(usage, catalog.price_at("google", "gemini-2.5-flash", at))
    call = Call(
        id="01JTESTGEMINI0000000000000",
        started_at=at,
        provider="google",
        model_requested="gemini-2.5-flash",
        model_served="gemini-2.5-flash",
        endpoint="/v1beta/models/gemini-2.5-flash:generateContent",
        status=200,
        latency_ms=812.5,
        usage=usage,
        cost=priced,
        user="ada",
    )
    from llmtally.otel.export_encode import trace_request
    from llmtally.otel.spans import spans_of

    export = trace_request([call], "svc")
    span_attrs = attributes(export.resource_spans[0].scope_spans[0].spans[0].attributes)
    assert span_attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert span_attrs["gen_ai.operation.name"] == "generate_content"
    (back,) = read_spans(spans_of(export), catalog).calls
    assert (back.provider, back.model, back.usage, back.user) == (
        "google",
        call.model,
        usage,
        "ada",
    )
    assert back.cost == priced
    assert back.latency_ms == pytest.approx(812.5)


def test_retryable_answers_are_retried_and_a_400_is_not() -> None:
    with OtlpReceiver() as receiver:
        receiver.answers = [503, 503]
        exporter = OtlpExporter(OtlpExport(endpoint=receiver.url, metrics=False))
        exporter.submit(_call(1))
        assert exporter.flush(10)
        assert [r.status for r in receiver.on("/v1/traces")] == [503, 503, 200]
        assert exporter.stats.exported_spans == 1
        receiver.answers = [400]
        exporter.submit(_call(2))
        assert exporter.flush(10)
        exporter.close()
        assert [r.status for r in receiver.on("/v1/traces")] == [503, 503, 200, 400]
    assert (exporter.stats.failed_spans, exporter.stats.exported_spans) == (1, 1)


def test_an_unreachable_endpoint_drops_spans_counted_and_never_blocks() -> None:
    settings = OtlpExport(endpoint=f"http://127.0.0.1:{free_port()}", timeout_s=0.3, metrics=False)
    exporter = OtlpExporter(settings)
    started = time.monotonic()
    for n in range(50):
        exporter.submit(_call(n))
    assert time.monotonic() - started < 0.1  # submit only queues
    assert exporter.flush(10)
    exporter.close()
    assert exporter.stats.failed_spans == 50
    assert exporter.stats.exported_spans == 0


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    with OtlpReceiver() as receiver:
        receiver.hold.clear()  # the first export stays in flight
        settings = OtlpExport(endpoint=receiver.url, max_queue=2, max_batch=1, metrics=False)
        exporter = OtlpExporter(settings)
        exporter.submit(_call(0))
        deadline = time.monotonic() + 5
        while exporter._finished == 0 and not exporter._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        while exporter._queue and time.monotonic() < deadline:  # taken by the thread
            time.sleep(0.01)
        for n in range(1, 6):
            exporter.submit(_call(n))  # 2 fit in the queue, 3 do not
        assert exporter.stats.dropped_spans == 3
        receiver.hold.set()
        assert exporter.flush(10)
        exporter.close()
    assert exporter.stats.exported_spans == 3


def test_a_gateway_whose_export_fails_records_and_answers_as_usual(catalog: Catalog) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with ReplayUpstream() as upstream:
        config = _gateway_config(upstream.url, dead, timeout_s=0.2)
        with live_gateway(config, catalog) as (base, keeper):
            _send_through(base, ["openai_chat"])
            assert keeper.next_call(0).cost is not None
            failed = 'llmtally_otel_export_spans_total{outcome="failed"} 1.0'
            for _ in range(500):  # counted on /metrics once the export gave up
                page = httpx.get(f"{base}/metrics").text
                if failed in page:
                    break
                time.sleep(0.01)
            assert failed in page
            assert 'llmtally_otel_export_spans_total{outcome="exported"} 0.0' in page


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("ftp://collector:4318", "not an http(s) URL"),
        ("collector:4318", "not an http(s) URL"),
        ("http://user:pw@collector:4318", "credentials in headers"),
    ],
)
def test_bad_endpoints_are_refused_with_a_reason(endpoint: str, says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        OtlpExport(endpoint=endpoint)


def test_instrumented_sdk_calls_are_exported_as_children_of_the_active_span(
    catalog: Catalog,
) -> None:
    """``instrument(otlp_endpoint=...)``: the call is recorded and exported; its span
    is a child of the application's active OTel span (same trace, that parent)."""
    import openai
    from opentelemetry.sdk.trace import TracerProvider

    import llmtally
    from gateway_support import ListRecorder

    tracer = TracerProvider().get_tracer("app")
    keeper = ListRecorder()
    with ReplayUpstream() as upstream, OtlpReceiver() as receiver:
        assert llmtally.instrument(writer=keeper, catalog=catalog, otlp_endpoint=receiver.url)
        try:
            client = openai.OpenAI(base_url=f"{upstream.url}/v1", api_key="sk-x", max_retries=0)
            with tracer.start_as_current_span("handle request") as app_span:
                request = TRANSCRIPTS["openai_chat"]["request"]["json"]
                client.chat.completions.create(**request)
            assert inst.flush()
        finally:
            llmtally.uninstrument()
        (span,) = receiver.spans()
    (call,) = keeper.calls
    context = app_span.get_span_context()
    assert span.trace_id == context.trace_id.to_bytes(16, "big")
    assert span.parent_span_id == context.span_id.to_bytes(8, "big")
    exported = attributes(span.attributes)
    assert exported["llmtally.call.id"] == call.id
    assert Decimal(str(exported["llmtally.cost.usd"])) == GPT_4O_COST
    resource = receiver.on("/v1/traces")[0]
    assert resource.headers["content-encoding"] == "gzip"


def test_a_span_sent_twice_to_the_gateway_is_exported_once(catalog: Catalog) -> None:
    """An exporter retrying into /v1/traces: the ledger stores the span once (by its
    id), and the export passes it on once too."""
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b175",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1764600000000000000",
        "endTimeUnixNano": "1764600001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}},
        ],
    }
    export = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    with ReplayUpstream() as upstream, OtlpReceiver() as receiver:
        config = _gateway_config(upstream.url, receiver.url)
        with live_gateway(config, catalog) as (base, keeper):
            for _ in range(2):
                answer = httpx.post(f"{base}/v1/traces", json=export)
                assert answer.status_code == 200, answer.text
            page = httpx.get(f"{base}/metrics").text
        spans = receiver.spans()
    assert len(keeper.calls) == 2  # the ledger's writer drops the second by id
    assert len(spans) == 1
    # gpt-4o-mini: 1,000 x $0.15 + 100 x $0.60 per 1M = 150 + 60 = 210 -> $0.00021
    assert attributes(spans[0].attributes)["llmtally.cost.usd"] == "0.00021"
    assert 'llmtally_otel_export_spans_total{outcome="repeated"} 1.0' in page
