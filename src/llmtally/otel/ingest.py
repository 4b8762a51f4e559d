"""``POST /v1/traces``: the OTLP/HTTP trace receiver of ``llmtally serve``.

It asks what the gateway's API routes ask (a gateway key once keys exist; a
body a web page cannot send without a CORS preflight: ``application/json`` or
``application/x-protobuf`` only), reads the body within the limits, decodes and
prices every GenAI span off the event loop, and only then hands the calls to
the gateway's recorder: a refused export writes nothing. Rows are idempotent by
span id, so an exporter's retry adds nothing. While the ledger's writer is full
an export is refused with 503 and ``Retry-After``, which OTLP exporters retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from llmtally.asgi_body import BodyTooLarge, read_body
from llmtally.catalog import Catalog
from llmtally.gateway.keys import Admitted, Denied
from llmtally.otel.decode import (
    Encoding,
    IngestLimits,
    OtlpError,
    decode_request,
    encoding_of,
    response_body,
    status_body,
)
from llmtally.otel.spans import Outcome, read_spans, spans_of
from llmtally.usage import Call

if TYPE_CHECKING:
    from llmtally.gateway.app import Gateway

__all__ = ["TRACES_PATH", "IngestCounts", "TraceIngest"]

TRACES_PATH = "/v1/traces"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Recorder(Protocol):
    def submit(self, call: Call) -> None: ...


class IngestCounts:
    """On ``/metrics`` (the gateway's registry): ``llmtally_otlp_exports_total``
    by ``result`` (accepted, refused) and ``llmtally_otlp_spans_total`` by
    ``outcome`` (recorded, ignored: not a model call, rejected: unreadable)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry or CollectorRegistry()
        self.exports = Counter(
            "llmtally_otlp_exports", "OTLP trace exports received.", ["result"], registry=reg
        )
        self.spans = Counter(
            "llmtally_otlp_spans", "Spans in accepted OTLP exports.", ["outcome"], registry=reg
        )

    def accepted(self, outcome: Outcome) -> None:
        self.exports.labels("accepted").inc()
        self.spans.labels("recorded").inc(len(outcome.calls))
        self.spans.labels("ignored").inc(outcome.ignored)
        self.spans.labels("rejected").inc(outcome.rejected)


class TraceIngest:
    """The receiver; ``admit`` is the gateway's key gate."""

    def __init__(
        self,
        recorder: _Recorder,
        catalog: Catalog,
        admit: Callable[[dict[str, str]], Admitted | Denied],
        registry: CollectorRegistry | None = None,
        limits: IngestLimits | None = None,
        full: Callable[[], bool] = lambda: False,
        retry_after_s: int = 5,
    ) -> None:
        self.recorder, self.catalog, self.admit = recorder, catalog, admit
        self.limits = limits or IngestLimits()
        self.counts = IngestCounts(registry)
        self.full, self.retry_after_s = full, retry_after_s

    @classmethod
    def of(cls, gateway: Gateway) -> TraceIngest:
        """The receiver of ``gateway``: its recorder, catalog, key gate and ledger."""
        return cls(
            gateway.recorder,
            gateway.catalog,
            gateway._admit,
            gateway.metrics.registry,
            full=gateway.ledger_is_full,
            retry_after_s=gateway.config.ledger.retry_after_s,
        )

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        encoding = encoding_of(headers.get("content-type", "")) or "json"
        try:
            outcome = await self._accept(scope, receive, headers)
        except OtlpError as exc:
            self.counts.exports.labels("refused").inc()
            body = status_body(exc.status, exc.message, encoding)
            wait = [(b"retry-after", b"%d" % self.retry_after_s)] if exc.status == 503 else []
            await _answer(send, exc.status, body, encoding, wait)
            return
        except _Refused as refused:
            self.counts.exports.labels("refused").inc()
            body = status_body(refused.denied.status, refused.denied.message, encoding)
            await _answer(send, refused.denied.status, body, encoding, refused.denied.headers())
            return
        for call in outcome.calls:
            self.recorder.submit(call)
        self.counts.accepted(outcome)
        body = response_body(outcome.rejected, outcome.message, encoding)
        await _answer(send, 200, body, encoding)

    async def _accept(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> Outcome:
        if scope["method"] != "POST":
            raise OtlpError(405, f"{TRACES_PATH} takes POST, not {scope['method']}")
        encoding = encoding_of(headers.get("content-type", ""))
        if encoding is None:
            raise OtlpError(415, f"{TRACES_PATH} takes application/x-protobuf or application/json")
        admitted = self.admit(headers)
        if isinstance(admitted, Denied):
            raise _Refused(admitted)
        if self.full():
            raise OtlpError(503, "the ledger is full for now: retry this export later")
        try:
            body = await read_body(receive, self.limits.max_body_bytes)
        except BodyTooLarge as exc:
            raise OtlpError(413, str(exc)) from None
        coding = headers.get("content-encoding", "")
        return await asyncio.to_thread(self._read_export, body, encoding, coding, admitted.key_id)

    def _read_export(
        self, body: bytes, encoding: Encoding, coding: str, key_id: str | None
    ) -> Outcome:
        request = decode_request(body, encoding, coding, self.limits)
        return read_spans(spans_of(request), self.catalog, key_id)


class _Refused(Exception):
    def __init__(self, denied: Denied) -> None:
        super().__init__(denied.message)
        self.denied = denied


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    encoding: Encoding,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The answer in the request's encoding (JSON when it named neither)."""
    kind = b"application/json" if encoding == "json" else b"application/x-protobuf"
    headers = [(b"content-type", kind), (b"content-length", b"%d" % len(body))]
    if status == 405:
        headers.append((b"allow", b"POST"))
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
