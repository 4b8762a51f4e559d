"""OpenTelemetry: the OTLP/HTTP trace receiver (GenAI spans -> priced calls)."""

from llmtally.otel.decode import IngestLimits, OtlpError, decode_request
from llmtally.otel.ingest import TRACES_PATH, IngestCounts, TraceIngest
from llmtally.otel.spans import MODEL_OPERATIONS, Outcome, call_from_span, read_spans

__all__ = [
    "MODEL_OPERATIONS",
    "TRACES_PATH",
    "IngestCounts",
    "IngestLimits",
    "OtlpError",
    "Outcome",
    "TraceIngest",
    "call_from_span",
    "decode_request",
    "read_spans",
]
