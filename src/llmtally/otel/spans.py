"""GenAI spans -> priced :class:`~llmtally.usage.Call` records.

Attributes are read as the OpenTelemetry GenAI semantic conventions define them
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/), with the
older names still emitted by many producers as fallbacks:

- ``gen_ai.usage.input_tokens`` (older ``gen_ai.usage.prompt_tokens``): every
  prompt token, cache reads and writes included, as in :class:`Usage`;
  ``gen_ai.usage.cache_read.input_tokens`` and
  ``gen_ai.usage.cache_creation.input_tokens`` are subsets of it. A producer
  that reports Anthropic's way (input *excluding* the cache: the cache counts
  exceed the input count) has the cache added back, flagged
  ``otel_cache_added``.
- ``gen_ai.usage.output_tokens`` (older ``completion_tokens``): every output
  token, reasoning included; ``gen_ai.usage.reasoning.output_tokens`` is a subset
  (added back, flagged ``otel_reasoning_added``, when it exceeds the output).
- ``gen_ai.provider.name`` (older ``gen_ai.system``), ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.operation.name``, the span's status and
  ``error.type``, ``http.response.status_code``, start and end times. Without a
  status code, an ``error.type`` that is one (``"429"``) or names an openai /
  anthropic SDK error (``RateLimitError``, also as ``<class '...'>``) gives it.
- The producer's own cost (``gen_ai.usage.cost.*``, OpenLIT's
  ``gen_ai.usage.cost``), kept beside llmtally's as ``source_cost``
  (:mod:`llmtally.otel.span_cost`).

A span is a model call when its operation is one of ``chat``,
``text_completion``, ``generate_content``, ``embeddings`` (or it names no
operation but names a model); agent and tool spans (``invoke_agent``,
``execute_tool``...) are ignored, as their token counts repeat their children's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmtally.catalog import Catalog
from llmtally.otel.decode import hex_id
from llmtally.otel.span_cost import span_cost
from llmtally.pricing import Priced, price_usage
from llmtally.usage import Call, Usage, UsageError, stable_ulid

__all__ = [
    "MODEL_OPERATIONS",
    "Outcome",
    "SpanRejected",
    "call_from_span",
    "is_model_call",
    "read_spans",
    "spans_of",
]

MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
# gen_ai.provider.name / gen_ai.system values -> the catalog's provider ids
_PROVIDERS = {
    "openai": "openai",
    "azure.ai.openai": "openai",
    "az.ai.openai": "openai",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "google": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "xai",
    "xai": "xai",
    "together": "together",
    "together_ai": "together",
}
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
_CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
_REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
_SOURCE = "otel"
# error.type as the openai and anthropic SDKs name their HTTP errors (the
# producers write the exception's class name) -> the status it stands for
_SDK_ERRORS = {
    "BadRequestError": 400,
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "ConflictError": 409,
    "RequestTooLargeError": 413,
    "UnprocessableEntityError": 422,
    "RateLimitError": 429,
    "InternalServerError": 500,
    "ServiceUnavailableError": 503,
    "OverloadedError": 529,
}
_CLASS_REPR = re.compile(r"<class '([\w.]+)'>")


class SpanRejected(ValueError):
    """A GenAI span that cannot be recorded (bad ids, times or counts)."""


Scalar = str | bool | int | float | None


def _scalar(value: AnyValue) -> Scalar:
    kind = value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        scalar: Scalar = getattr(value, kind)
        return scalar
    return None  # arrays, maps and bytes are not read


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Scalar]:
    return {pair.key: _scalar(pair.value) for pair in pairs}


def _first(attrs: Mapping[str, Scalar], names: Iterable[str]) -> Scalar:
    for name in names:
        if attrs.get(name) is not None:
            return attrs[name]
    return None


def _count(attrs: Mapping[str, Scalar], names: tuple[str, ...]) -> int:
    value = _first(attrs, names)
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)  # OTLP JSON writes 64-bit integers as strings
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SpanRejected(f"{names[0]} must be a whole number >= 0, got {value!r}")
    return value


def _text(attrs: Mapping[str, Scalar], *names: str) -> str | None:
    value = _first(attrs, names)
    return value if isinstance(value, str) and value else None


def is_model_call(attrs: Mapping[str, Scalar]) -> bool:
    operation = _text(attrs, "gen_ai.operation.name")
    if operation is not None:
        return operation in MODEL_OPERATIONS
    return _text(attrs, "gen_ai.request.model", "gen_ai.response.model") is not None


def _usage(attrs: Mapping[str, Scalar], flags: list[str]) -> Usage:
    if _first(attrs, (*_INPUT, *_OUTPUT)) is None:
        return Usage(source="estimated")  # as the gateway records a call without usage
    inputs, outputs = _count(attrs, _INPUT), _count(attrs, _OUTPUT)
    read, write = _count(attrs, _CACHE_READ), _count(attrs, _CACHE_WRITE)
    reasoning = _count(attrs, _REASONING)
    if read + write > inputs:  # counted apart from the input, Anthropic's way
        inputs += read + write
        flags.append("otel_cache_added")
    if reasoning > outputs:  # counted apart from the output, Gemini's way
        outputs += reasoning
        flags.append("otel_reasoning_added")
    try:
        return Usage(
            input_tokens=inputs,
            cache_read_tokens=read,
            cache_write_tokens=write,
            output_tokens=outputs,
            reasoning_tokens=reasoning,
        )
    except UsageError as exc:
        raise SpanRejected(str(exc)) from exc


def _time(nanos: int, what: str) -> dt.datetime:
    if nanos <= 0:
        raise SpanRejected(f"the span has no {what} time")
    return dt.datetime.fromtimestamp(nanos / 1e9, dt.UTC)


def _error_kind(attrs: Mapping[str, Scalar]) -> str | None:
    """``error.type``, with the ``<class 'openai.RateLimitError'>`` that
    opentelemetry-util-genai writes cut to ``RateLimitError``."""
    kind = _text(attrs, "error.type")
    if kind is None:
        return None
    found = _CLASS_REPR.fullmatch(kind)
    return found.group(1).rsplit(".", 1)[-1] if found else kind


def _error_status(kind: str | None) -> int:
    """The HTTP status an error type names: a status code (``"429"``), or the
    exception the openai / anthropic SDKs raise for it; else 500."""
    if kind is not None and kind.isdigit() and 400 <= int(kind) <= 599:
        return int(kind)
    return _SDK_ERRORS.get(kind or "", 500)


def _status(span: Span, attrs: Mapping[str, Scalar]) -> tuple[int, str | None]:
    """The HTTP status (``http.response.status_code``, else the one ``error.type``
    names, else 500 for an error span, 200 otherwise) and the error, if the span
    failed."""
    code = attrs.get("http.response.status_code")
    http = code if isinstance(code, int) and not isinstance(code, bool) else None
    failed = span.status.code == Status.STATUS_CODE_ERROR or (http is not None and http >= 400)
    if not failed:
        return http or 200, None
    kind = _error_kind(attrs)
    error = span.status.message or kind or "the span ended with an error status"
    if kind and span.status.message and kind not in error:
        error = f"{kind}: {error}"
    return (http if http is not None and http >= 400 else _error_status(kind)), error


@dataclass(frozen=True, slots=True)
class _Ids:
    trace_id: str
    span_id: str
    parent_id: str | None


def _ids(span: Span) -> _Ids:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise SpanRejected("the span's trace id is not 16 bytes (or is all zero)")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise SpanRejected("the span's span id is not 8 bytes (or is all zero)")
    parent = hex_id(span.parent_span_id) if len(span.parent_span_id) == 8 else None
    return _Ids(hex_id(span.trace_id), hex_id(span.span_id), parent)


def call_from_span(
    span: Span, attrs: Mapping[str, Scalar], catalog: Catalog, key_id: str | None = None
) -> Call:
    """The ledger row of one GenAI model-call span, priced like the gateway's:
    the price in force at the span's start, ``cost=None`` and the reason when
    the provider or model is unknown. Its id is stable: the same span always
    gives the same row."""
    ids = _ids(span)
    started, ended = (
        _time(span.start_time_unix_nano, "start"),
        _time(span.end_time_unix_nano, "end"),
    )
    if ended < started:
        raise SpanRejected("the span ends before it starts")
    flags: list[str] = []
    usage = _usage(attrs, flags)
    named = _text(attrs, "gen_ai.provider.name", "gen_ai.system") or "unknown"
    provider = _PROVIDERS.get(named.lower(), named.lower())
    requested = _text(attrs, "gen_ai.request.model")
    served = _text(attrs, "gen_ai.response.model")
    model = requested or served or "unknown"
    status, error = _status(span, attrs)
    paid, reason, saved = _priced(usage, status, catalog, provider, served or model, started)
    latency_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
    operation = _text(attrs, "gen_ai.operation.name") or "chat"
    reported = span_cost(attrs, flags, started)  # the producer's own figure, kept beside ours
    return Call(
        id=stable_ulid(started, _SOURCE, ids.trace_id + ids.span_id),
        started_at=started,
        provider=provider,
        model_requested=model,
        model_served=served,
        endpoint=f"otel:{operation}",
        status=status,
        latency_ms=latency_ms,
        usage=usage,
        cost=paid,
        cost_error=reason,
        saved_cache=saved.cache if saved else None,
        saved_tier=saved.tier if saved else None,
        error=error,
        output_tokens_per_s=_rate(usage.output_tokens, latency_ms),
        user=_text(attrs, "user.id", "enduser.id"),
        trace_id=ids.trace_id,
        parent_id=ids.parent_id,
        key_id=key_id,
        flags=tuple(flags),
        source_cost=reported,
    )


def _priced(
    usage: Usage, status: int, catalog: Catalog, provider: str, model: str, at: dt.datetime
) -> Priced:
    """The cost as the gateway works it out; no usage reported: no cost, and why."""
    if usage.source == "estimated":
        if status >= 400:
            return Priced(None, f"the call failed (HTTP {status}) and reported no usage")
        return Priced(None, "the span reports no gen_ai.usage attributes")
    return price_usage(usage, catalog, provider, model, at)


def _rate(tokens: int, latency_ms: float) -> float | None:
    return tokens / (latency_ms / 1000) if tokens and latency_ms > 0 else None


@dataclass(slots=True)
class Outcome:
    """What one export held: the rows to record, and the spans not recorded."""

    calls: list[Call] = field(default_factory=list)
    ignored: int = 0  # not model calls (HTTP, database, agent and tool spans...)
    rejected: int = 0  # GenAI spans that could not be read
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        return f"{self.rejected} GenAI spans rejected: " + "; ".join(self.reasons[:3])


def read_spans(
    request_spans: Iterable[tuple[Mapping[str, Scalar], Span]],
    catalog: Catalog,
    key_id: str | None = None,
) -> Outcome:
    """Each (resource attributes, span) -> a call, ignored, or rejected."""
    outcome = Outcome()
    for resource, span in request_spans:
        attrs = {**resource, **_attributes(span.attributes)}
        if not is_model_call(attrs):
            outcome.ignored += 1
            continue
        try:
            outcome.calls.append(call_from_span(span, attrs, catalog, key_id))
        except SpanRejected as exc:
            outcome.rejected += 1
            outcome.reasons.append(f"span {hex_id(span.span_id) or '(no id)'}: {exc}")
    return outcome


def spans_of(request: ExportTraceServiceRequest) -> Iterable[tuple[Mapping[str, Scalar], Span]]:
    """(resource attributes, span) for every span of an export."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield resource, span
