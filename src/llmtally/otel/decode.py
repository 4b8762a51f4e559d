"""OTLP/HTTP request bodies -> ``ExportTraceServiceRequest``, and the answers.

The OTLP specification (https://opentelemetry.io/docs/specs/otlp/#otlphttp):
binary protobuf (``application/x-protobuf``) or JSON (``application/json``,
lowerCamelCase names, trace and span ids as hex strings, not base64), either
one optionally gzip-compressed (``Content-Encoding: gzip``). A failure is
answered with a ``google.rpc.Status`` in the request's encoding; a success with
an ``ExportTraceServiceResponse`` (empty, or with ``partial_success``).

Every limit is checked before anything is decoded further: the body as sent,
the body once decompressed (a gzip bomb stops at the limit), the nesting depth
of JSON and the number of spans.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmtally.json_depth import nests_deeper

__all__ = [
    "Encoding",
    "IngestLimits",
    "OtlpError",
    "decode_request",
    "encoding_of",
    "gunzip",
    "hex_id",
    "response_body",
    "status_body",
]

Encoding = Literal["protobuf", "json"]
_CONTENT_TYPES: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/json": "json",
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What one export may hold."""

    max_body_bytes: int = 4 * 1024 * 1024  # as sent, and again once decompressed
    max_spans: int = 10_000
    max_json_depth: int = 64


class OtlpError(Exception):
    """A request refused whole: the HTTP status and why (nothing is written)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def encoding_of(content_type: str) -> Encoding | None:
    """``protobuf`` or ``json`` from a Content-Type (parameters ignored), else None."""
    return _CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def gunzip(body: bytes, limit: int) -> bytes:
    """The gzip body decompressed, refused (413) once it passes ``limit`` bytes,
    so a small bomb never inflates in memory."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"malformed gzip body: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise OtlpError(413, f"the decompressed body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise OtlpError(400, "malformed gzip body: it ends before the gzip stream does")
    return out


def _hex_to_base64(value: Any, name: str) -> Any:
    """OTLP JSON writes ids in hex; protobuf's JSON mapping reads bytes as base64."""
    if not isinstance(value, str):
        raise OtlpError(400, f"{name} must be a hex string")
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError as exc:
        raise OtlpError(400, f"{name} is not hex: {value[:40]!r}") from exc


def _ids_to_base64(document: dict[str, Any]) -> None:
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _convert_ids(span)
                for link in _items(span, "links"):
                    _convert_ids(link)


def _items(holder: Any, *names: str) -> list[Any]:
    if not isinstance(holder, dict):
        raise OtlpError(400, "an OTLP JSON message must be an object")
    for name in names:
        if name in holder:
            value = holder[name]
            if not isinstance(value, list):
                raise OtlpError(400, f"{name} must be an array")
            return value
    return []


def _convert_ids(span: Any) -> None:
    if not isinstance(span, dict):
        raise OtlpError(400, "a span must be an object")
    for name in _ID_FIELDS:
        if name in span and span[name] != "":
            span[name] = _hex_to_base64(span[name], name)


def _from_json(body: bytes, limits: IngestLimits) -> ExportTraceServiceRequest:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OtlpError(400, f"malformed JSON body: {exc}") from exc
    except RecursionError as exc:
        raise OtlpError(400, f"the JSON body nests deeper than {limits.max_json_depth}") from exc
    if not isinstance(document, dict):
        raise OtlpError(400, "the JSON body must be an ExportTraceServiceRequest object")
    if nests_deeper(document, limits.max_json_depth):
        raise OtlpError(400, f"the JSON body nests deeper than {limits.max_json_depth} levels")
    _ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:  # unknown fields are ignored, as the specification asks of receivers
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpError(400, f"not an OTLP ExportTraceServiceRequest: {exc}") from exc
    return request


def _from_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise OtlpError(400, f"malformed protobuf body: {exc}") from exc
    return request


def decode_request(
    body: bytes, encoding: Encoding, content_encoding: str, limits: IngestLimits
) -> ExportTraceServiceRequest:
    """The export in ``body``, or :class:`OtlpError` (400 malformed, 413 too
    large, 415 an encoding other than gzip)."""
    coding = content_encoding.strip().lower()
    if coding == "gzip":
        body = gunzip(body, limits.max_body_bytes)
    elif coding not in ("", "identity"):
        raise OtlpError(415, f"Content-Encoding {coding[:40]!r} is not supported (gzip is)")
    request = _from_json(body, limits) if encoding == "json" else _from_protobuf(body)
    spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if spans > limits.max_spans:
        raise OtlpError(413, f"{spans} spans in one export; the limit is {limits.max_spans}")
    return request


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# google.rpc.Status codes (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto)
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 429: 8, 503: 14}


def status_body(status: int, message: str, encoding: Encoding) -> bytes:
    """A ``google.rpc.Status`` (code, message) in ``encoding``: written by hand,
    two fields, so no googleapis package is needed."""
    code = _RPC_CODES.get(status, 2)  # 2: UNKNOWN
    if encoding == "json":
        return json.dumps({"code": code, "message": message}).encode()
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def response_body(rejected: int, message: str, encoding: Encoding) -> bytes:
    """An ``ExportTraceServiceResponse``: empty, or with ``partial_success``."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
        )
    if encoding == "json":
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def hex_id(raw: bytes) -> str:
    """A trace or span id as OTLP JSON and the W3C trace context write it."""
    return binascii.hexlify(raw).decode()
