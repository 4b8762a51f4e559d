"""Recorded calls -> OTLP spans and metrics, as the GenAI semantic conventions name them.

Span attributes follow the GenAI client-span conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/, v1.37, the
release that named ``gen_ai.provider.name``): operation, provider, request and
response model, the usage counts (cache reads and writes included in
``gen_ai.usage.input_tokens``, reasoning in ``output_tokens``, as llmtally's
ingest reads them), ``error.type`` and ``http.response.status_code``. The cost
follows the open proposal ``gen_ai.usage.cost.*`` (semantic-conventions-genai
pull request #443, August 2026): ``amount`` (double), ``currency`` (``USD``)
and ``source`` (``local``: llmtally priced it). The exact decimal is kept as
``llmtally.cost.usd``, since a double cannot hold every amount the ledger does.

A call priced in another currency (a CNY price file) is exported as the
proposal defines the amount: computed from the pricing data llmtally owns, so in
that data's currency, named by ``gen_ai.usage.cost.currency`` (``CNY``), never
converted in the attribute; beside it ``llmtally.cost.billed`` (the exact
amount), and ``llmtally.cost.usd`` (the ledger's USD figure: the rate of the
call's UTC day, 10 places), ``llmtally.cost.fx_rate`` and
``llmtally.cost.fx_date`` from ``llmtally.currency.pivot``; with no rate for that
day, ``llmtally.cost.usd_error`` says why instead.

Metrics, per export interval (delta temporality): the conventions'
``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration``
histograms with their advised buckets, and ``llmtally.cost`` (a monotonic sum
in USD: the convention's cost metric is not settled yet; a call billed in
another currency adds its USD figure, or nothing when it has no rate).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from llmtally import __version__
from llmtally.currency.pivot import PIVOT, to_usd, usd_amount, usd_rate
from llmtally.ledger.schema import check_fixed
from llmtally.usage import Call

__all__ = ["COST_PROPOSAL", "MetricsWindow", "operation_of", "span_of", "trace_request"]

COST_PROPOSAL = "open-telemetry/semantic-conventions-genai#443"
# llmtally's provider ids -> gen_ai.provider.name's well-known values
_PROVIDER_NAMES = {"google": "gcp.gemini", "mistral": "mistral_ai", "xai": "x_ai"}
_TOKEN_BOUNDS = [4.0**i for i in range(14)]  # 1, 4, 16 ... 67,108,864 (the advice)
_DURATION_BOUNDS = [0.01 * 2**i for i in range(14)]  # 0.01 ... 81.92 s (the advice)
Attrs = tuple[tuple[str, str], ...]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def operation_of(endpoint: str) -> str:
    """``gen_ai.operation.name`` for a recorded endpoint."""
    if endpoint.startswith("otel:"):
        return endpoint[5:]
    lowered = endpoint.lower()
    if "embed" in lowered:
        return "embeddings"
    if "generatecontent" in lowered:
        return "generate_content"
    if lowered.endswith("/completions") and "chat" not in lowered:
        return "text_completion"
    return "chat"


def _value(value: str | int | float | Sequence[str]) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))


def _attributes(pairs: dict[str, str | int | float | Sequence[str] | None]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in pairs.items() if v is not None]


def _ids(call: Call) -> tuple[bytes, bytes, bytes]:
    """(trace id, span id, parent span id): the call's own trace when it has a W3C
    one, else ids derived from the call id, so a re-export is the same span."""
    digest = hashlib.sha256(call.id.encode()).digest()
    span_id = digest[:8]
    trace_id = _hex(call.trace_id, 16) or digest[8:24]
    parent = _hex(call.parent_id, 8) if _hex(call.trace_id, 16) else None
    return trace_id, span_id, parent or b""


def _hex(text: str | None, size: int) -> bytes | None:
    if text is None or len(text) != 2 * size:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if any(raw) else None


def _usage_attributes(call: Call) -> dict[str, str | int | float | Sequence[str] | None]:
    usage = call.usage
    return {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens or None,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens or None,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens or None,
    }


def _cost_attributes(call: Call) -> dict[str, str | int | float | Sequence[str] | None]:
    if call.cost is None:
        return {"llmtally.cost_error": call.cost_error}
    total = call.cost.total
    billed = call.cost.price.currency
    attrs: dict[str, str | int | float | Sequence[str] | None] = {
        "gen_ai.usage.cost.amount": float(total),
        "gen_ai.usage.cost.currency": billed,
        "gen_ai.usage.cost.source": "local",
    }
    if billed == PIVOT:
        attrs["llmtally.cost.usd"] = _exact(total)
    else:
        attrs.update(_billed_attributes(call, total, billed))
    return attrs


def _exact(amount: Decimal) -> str:
    return format(amount.normalize(), "f")  # exact, no trailing zeros


def _billed_attributes(
    call: Call, total: Decimal, billed: str
) -> dict[str, str | int | float | Sequence[str] | None]:
    """The exact billed amount, and the USD the ledger stores for it with its rate."""
    day = call.started_at.astimezone(dt.UTC).date()
    try:
        rate = usd_rate(billed, day)
    except (LookupError, ValueError) as exc:  # no rate that day; a bad rates file
        return {"llmtally.cost.billed": _exact(total), "llmtally.cost.usd_error": str(exc)}
    return {
        "llmtally.cost.billed": _exact(total),
        "llmtally.cost.usd": _exact(check_fixed(to_usd(total, rate))),
        "llmtally.cost.fx_rate": str(rate.rate),
        "llmtally.cost.fx_date": rate.rate_date.isoformat(),
    }


def span_of(call: Call) -> Span:
    """One CLIENT span for one recorded call."""
    trace_id, span_id, parent = _ids(call)
    operation = operation_of(call.endpoint)
    start = (call.started_at - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    attrs: dict[str, str | int | float | Sequence[str] | None] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": _PROVIDER_NAMES.get(call.provider, call.provider),
        "gen_ai.request.model": call.model_requested,
        "gen_ai.response.model": call.model_served,
        **_usage_attributes(call),
        **_cost_attributes(call),
        "http.response.status_code": call.status,
        "error.type": (call.error or str(call.status)) if call.status >= 400 else None,
        "user.id": call.user,
        "llmtally.call.id": call.id,
        "llmtally.feature": call.feature,
        "llmtally.tags": list(call.tags) or None,
        "llmtally.key_id": call.key_id,
    }
    failed = call.status >= 400
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=f"{operation} {call.model_requested}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(call.latency_ms * 1_000_000),
        attributes=_attributes(attrs),
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET),
    )


def _resource(service: str) -> Resource:
    return Resource(
        attributes=_attributes(
            {
                "service.name": service,
                "telemetry.sdk.name": "llmtally",
                "telemetry.sdk.language": "python",
                "telemetry.sdk.version": __version__,
            }
        )
    )


def _scope() -> InstrumentationScope:
    return InstrumentationScope(name="llmtally", version=__version__)


def trace_request(calls: Iterable[Call], service: str) -> ExportTraceServiceRequest:
    """One export of the spans of ``calls``."""
    scope_spans = ScopeSpans(scope=_scope(), spans=[span_of(call) for call in calls])
    resource_spans = ResourceSpans(resource=_resource(service), scope_spans=[scope_spans])
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


@dataclass
class _Buckets:
    bounds: list[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        # an explicit bound is the upper limit of its bucket, inclusive
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class MetricsWindow:
    """What the calls of one export interval add to each metric, by attributes."""

    start_ns: int
    tokens: dict[Attrs, _Buckets] = field(default_factory=dict)
    durations: dict[Attrs, _Buckets] = field(default_factory=dict)
    cost: dict[Attrs, float] = field(default_factory=dict)

    def add(self, call: Call) -> None:
        base = (
            ("gen_ai.operation.name", operation_of(call.endpoint)),
            ("gen_ai.provider.name", _PROVIDER_NAMES.get(call.provider, call.provider)),
            ("gen_ai.request.model", call.model_requested),
        )
        for kind, count in (
            ("input", call.usage.input_tokens),
            ("output", call.usage.output_tokens),
        ):
            if count:
                key = (*base, ("gen_ai.token.type", kind))
                self.tokens.setdefault(key, _Buckets(_TOKEN_BOUNDS)).add(count)
        self.durations.setdefault(base, _Buckets(_DURATION_BOUNDS)).add(call.latency_ms / 1000)
        cost = call.cost
        if cost is None:
            return
        usd: Decimal | None = cost.total
        if cost.price.currency != PIVOT:  # billed in another currency: its USD figure
            usd = usd_amount(cost.total, cost.price.currency, call.started_at)
        if usd is not None:  # no rate: not counted, as the ledger keeps it unpriced
            self.cost[base] = self.cost.get(base, 0.0) + float(usd)

    @property
    def empty(self) -> bool:
        return not self.durations

    def request(self, end_ns: int, service: str) -> ExportMetricsServiceRequest:
        """The window's metrics as one export (delta temporality)."""
        metrics = [
            self._histogram("gen_ai.client.token.usage", "{token}", self.tokens, end_ns),
            self._histogram("gen_ai.client.operation.duration", "s", self.durations, end_ns),
            self._cost(end_ns),
        ]
        scope = ScopeMetrics(scope=_scope(), metrics=metrics)
        return ExportMetricsServiceRequest(
            resource_metrics=[ResourceMetrics(resource=_resource(service), scope_metrics=[scope])]
        )

    def _histogram(
        self, name: str, unit: str, series: dict[Attrs, _Buckets], end_ns: int
    ) -> Metric:
        points = [
            HistogramDataPoint(
                attributes=_attributes(dict(attrs)),
                start_time_unix_nano=self.start_ns,
                time_unix_nano=end_ns,
                count=b.count,
                sum=b.total,
                bucket_counts=b.counts,
                explicit_bounds=b.bounds,
            )
            for attrs, b in series.items()
        ]
        delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        return Metric(
            name=name,
            unit=unit,
            histogram=Histogram(data_points=points, aggregation_temporality=delta),
        )

    def _cost(self, end_ns: int) -> Metric:
        points = [
            NumberDataPoint(
                attributes=_attributes(dict(attrs)),
                start_time_unix_nano=self.start_ns,
                time_unix_nano=end_ns,
                as_double=amount,
            )
            for attrs, amount in self.cost.items()
        ]
        delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        return Metric(
            name="llmtally.cost",
            unit="USD",
            description="What the calls cost, priced by llmtally",
            sum=Sum(data_points=points, aggregation_temporality=delta, is_monotonic=True),
        )
