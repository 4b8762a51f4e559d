"""``POST /llmtally/v1/calls``: ledger rows forwarded by instrumented processes.

``llmtally.instrument(gateway_url=...)`` (:mod:`llmtally.instrument.forward`)
sends the exact rows a local ledger would have stored, so many processes share
the gateway's ledger. The route asks what the API routes ask: a gateway key
once keys exist (the rows are attributed to it), a JSON body (a web page cannot
send one without a CORS preflight), within the limits (4 MiB as sent and once
gunzipped, 10,000 calls, 64 levels). The batch is read, checked and re-priced
off the event loop (:mod:`llmtally.gateway.call_rows`) and only then handed to
the recorder, all of it or none. Rows are idempotent by call id (the ledger
skips known ids), so a retried batch adds nothing. While the ledger writer
holds its bound of calls, the answer is 503 with ``Retry-After``.

Answers are JSON: ``{"accepted": n}``, or an error in OpenAI's shape.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from llmtally.asgi_body import BodyTooLarge, read_body
from llmtally.catalog import Catalog
from llmtally.gateway.call_rows import CallLimits, Refused, read_batch
from llmtally.gateway.keys import Admitted, Denied
from llmtally.gateway.ledger_link import LEDGER_FULL
from llmtally.providers.errors import error_body
from llmtally.usage import Call

if TYPE_CHECKING:
    from llmtally.gateway.app import Gateway, Recorder

__all__ = ["CALLS_PATH", "CallIngest", "CallIngestCounts"]

CALLS_PATH = "/llmtally/v1/calls"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class CallIngestCounts:
    """On ``/metrics``: ``llmtally_ingest_batches_total`` by ``result`` (accepted,
    refused) and ``llmtally_ingest_calls_total`` by ``result`` (accepted, rejected:
    the rows of refused batches that could be counted)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry or CollectorRegistry()
        self.batches = Counter(
            "llmtally_ingest_batches",
            "Batches of forwarded calls received.",
            ["result"],
            registry=reg,
        )
        self.calls = Counter(
            "llmtally_ingest_calls", "Forwarded calls received.", ["result"], registry=reg
        )


class CallIngest:
    """The route; ``admit`` is the gateway's key gate, ``full`` its ledger's backpressure."""

    def __init__(
        self,
        recorder: Recorder,
        catalog: Catalog,
        admit: Callable[[dict[str, str]], Admitted | Denied],
        full: Callable[[], bool],
        retry_after_s: int = 5,
        registry: CollectorRegistry | None = None,
        limits: CallLimits | None = None,
    ) -> None:
        self.recorder, self.catalog, self.admit, self.full = recorder, catalog, admit, full
        self.retry_after_s = retry_after_s
        self.limits = limits or CallLimits()
        self.counts = CallIngestCounts(registry)

    @classmethod
    def of(cls, gateway: Gateway) -> CallIngest:
        """The route of ``gateway``: its recorder, catalog, key gate and ledger."""
        return cls(
            gateway.recorder,
            gateway.catalog,
            gateway._admit,
            gateway.ledger_is_full,
            gateway.config.ledger.retry_after_s,
            gateway.metrics.registry,
        )

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        try:
            calls = await self._accept(scope, receive, headers)
        except Refused as exc:
            self.counts.batches.labels("refused").inc()
            await _answer(send, exc.status, error_body("openai", exc.status, exc.message))
            return
        except _Denied as refused:
            self.counts.batches.labels("refused").inc()
            denied = refused.denied
            await _answer(send, denied.status, denied.body("openai"), denied.headers())
            return
        self.counts.batches.labels("accepted").inc()
        self.counts.calls.labels("accepted").inc(len(calls))
        await _answer(send, 200, json.dumps({"accepted": len(calls)}).encode())

    async def _accept(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> list[Call]:
        if scope["method"] != "POST":
            raise Refused(405, f"{CALLS_PATH} takes POST, not {scope['method']}")
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            raise Refused(415, f"{CALLS_PATH} takes application/json")
        admitted = self.admit(headers)
        if isinstance(admitted, Denied):
            raise _Denied(admitted)
        if self.full():
            message = f"the gateway cannot record calls right now; retry in {self.retry_after_s} s"
            raise _Denied(Denied(503, message, LEDGER_FULL, self.retry_after_s))
        try:
            body = await read_body(receive, self.limits.max_body_bytes)
        except BodyTooLarge as exc:
            raise Refused(413, str(exc)) from None
        coding = headers.get("content-encoding", "")
        return await asyncio.to_thread(self._record, body, coding, admitted.key_id)

    def _record(self, body: bytes, coding: str, key_id: str | None) -> list[Call]:
        """Read the whole batch, then hand every call over (off the event loop)."""
        try:
            calls = read_batch(body, coding, self.catalog, key_id, self.limits)
        except Refused as exc:
            self.counts.calls.labels("rejected").inc(exc.rows)
            raise
        for call in calls:
            self.recorder.submit(call)
        return calls


class _Denied(Exception):
    def __init__(self, denied: Denied) -> None:
        super().__init__(denied.message)
        self.denied = denied


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 405:
        headers.append((b"allow", b"POST"))
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
