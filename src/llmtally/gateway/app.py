"""The gateway: an ASGI app that forwards OpenAI- and Anthropic-style calls to
upstreams and records each one. The request path never waits on the ledger:
the finished call is handed to a ``Recorder`` (the ledger's write-behind
writer) without blocking.

Raw ASGI (no framework) and one shared aiohttp session for upstreams: both
measured as the cheapest per request (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from llmtally.asgi_body import BodyTooLarge, read_body
from llmtally.catalog import Catalog
from llmtally.gateway.budget_gate import BudgetGate
from llmtally.gateway.call_ingest import CALLS_PATH, CallIngest
from llmtally.gateway.client_watch import CLIENT_CLOSED_STATUS, CLIENT_DISCONNECTED, ClientWatch
from llmtally.gateway.clouds import CloudPath, Refusal, Signer, cloud_path, resolve
from llmtally.gateway.config import GatewayConfig, RouteError, Upstream
from llmtally.gateway.finish import Finisher
from llmtally.gateway.forms import is_multipart
from llmtally.gateway.gemini import GeminiTarget, gemini_target
from llmtally.gateway.guard import BrowserGuard
from llmtally.gateway.http_parts import (
    decode_request,
    error_headers,
    json_headers,
    request_headers,
    response_headers,
    upstream_headers,
)
from llmtally.gateway.keys import Admitted, Denied, KeyGate
from llmtally.gateway.ledger_link import LEDGER_FULL, HeldEnd, LedgerControl, ledger_full_response
from llmtally.gateway.metrics import GatewayMetrics, MeteredRecorder
from llmtally.gateway.recording import STREAM_CUT_STATUS, Exchange
from llmtally.gateway.streaming import ClientGone, StreamCut, Streaming
from llmtally.gateway.upstream_raw import RawConnectError, RawPool, UpstreamResponse
from llmtally.ledger.rows import CallBodies
from llmtally.otel.export import open_exporter
from llmtally.providers.errors import Family, error_body
from llmtally.providers.wires import Wire, wire_for_path
from llmtally.usage import Call

__all__ = ["ASGIApp", "Gateway", "Recorder", "is_api_path"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_Ingest = Callable[[Scope, Receive, Send, dict[str, str]], Awaitable[None]]  # with its headers

_FAILURE_LIMIT = 64 * 1024  # an error body read whole, at most this much
_TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \\?\"[^\"]+\.py\\?\", line \d+")
# versioned paths first (the common case); then the clouds' own (gateway.clouds)
_API_PATH = re.compile(r"^(?:/v\d+(beta\d*|alpha\d*)?(/|$)|/openai/|/model/)")


def is_api_path(path: str) -> bool:
    """Paths the gateway answers itself, with JSON errors: every versioned API
    path (``/v1``, ``/v1beta``, ``/v2/...``), Azure's ``/openai/...`` and
    Bedrock's ``/model/...``, ``/metrics`` and the calls ingest
    (``/llmtally/v1/calls``); the rest is the dashboard's."""
    return path in ("/metrics", CALLS_PATH) or _API_PATH.match(path) is not None


class Recorder(Protocol):
    """Where finished calls go (the ledger's writer); ``submit`` must not block."""

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None: ...


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _why(exc: BaseException, url: str, timeout_s: float) -> str:
    """Why an upstream could not be reached, in words (never a repr)."""
    host = urlsplit(url).netloc
    if isinstance(exc, TimeoutError):
        return f"{host} did not answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {urlsplit(url).hostname} (no DNS answer)"
    if isinstance(exc, aiohttp.ClientConnectorError | RawConnectError):
        code = exc.os_error.errno
        reason = os.strerror(code) if code else str(exc.os_error)
        return f"cannot connect to {host}: {reason}"
    return f"{host}: {type(exc).__name__}: {exc}"


class Gateway:
    """``Gateway(config, recorder, catalog)`` is an ASGI application."""

    def __init__(
        self,
        config: GatewayConfig,
        recorder: Recorder,
        catalog: Catalog,
        gate: KeyGate | None = None,
        web: ASGIApp | None = None,
        metrics_token: str | None = None,
        guard: BrowserGuard | None = None,
        budgets: BudgetGate | None = None,
    ) -> None:
        self.web = web  # the dashboard: every path that is not an API path
        # /metrics asks for the dashboard's admin token (Authorization: Bearer) when one is set
        self.metrics_token = metrics_token
        self.metrics = GatewayMetrics(ledger=recorder)  # the writer's stats(), if it has them
        # the writer's backpressure and durable acks, if it has them
        self._ledger = recorder if isinstance(recorder, LedgerControl) else None
        self.exporter = open_exporter(config.otel_export, self.metrics.registry)  # or None
        recorder = MeteredRecorder(recorder, self.metrics, self.exporter)
        self.config, self.recorder, self.catalog, self.gate = config, recorder, catalog, gate
        self.budgets = budgets  # budgets and rate limits: reserve, then settle
        self._session: aiohttp.ClientSession | None = None
        self._raw = RawPool() if config.upstream_client == "raw" else None  # issue 16
        self._finisher = Finisher(config, recorder, catalog)
        from llmtally.otel.ingest import TraceIngest  # it imports the gateway's key gate

        self.traces = TraceIngest.of(self)  # OTLP/HTTP POST /v1/traces, counted on /metrics
        self.calls_in = CallIngest.of(self)  # POST /llmtally/v1/calls: forwarded SDK calls
        self._ingest: dict[str, _Ingest] = {"/v1/traces": self.traces, CALLS_PATH: self.calls_in}
        self.guard = guard or BrowserGuard.for_listener(
            "127.0.0.1", config.allowed_hosts, config.allowed_origins
        )

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._raw is not None:
            await self._raw.close()
        self._finisher.close()  # every answered call reaches the recorder
        if self.exporter is not None:
            await asyncio.to_thread(self.exporter.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        headers = request_headers(scope["headers"])
        refusal = self.guard.refuse(headers)
        if refusal is not None:
            await self._refuse(send, path, refusal.status, refusal.message)
            return
        ingest = self._ingest.get(path)  # before the dashboard's paths (/llmtally/...)
        if ingest is not None:
            await ingest(scope, receive, send, headers)
            return
        if method == "GET" and path == "/metrics":
            await self._metrics(scope, send)
            return
        if self.web is not None and not is_api_path(path):
            await self.web(scope, receive, send)
            return
        if method == "GET" and path == "/v1/models":  # with keys, only for key holders
            await self._models(send, headers)
            return
        wire, cloud = wire_for_path(path), None
        if wire is None:
            cloud = cloud_path(path, scope.get("raw_path"))
            if cloud is None:
                await self._fail(send, "openai", 404, f"no such endpoint: {method} {path}")
                return
            wire = cloud.wire
        if method != "POST":
            body = wire.error_body(405, f"{path} takes POST, not {method}")
            out = [*error_headers(wire.family, 405, len(body)), (b"allow", b"POST")]
            await _respond(send, 405, body, out)
            return
        if not wire.takes(headers.get("content-type", "")):
            kinds = "application/json" + (" or multipart/form-data" if wire.forms else "")
            await self._fail(send, wire.family, 415, f"{path} takes {kinds} bodies")
            return
        admitted = self._admit(headers)
        if isinstance(admitted, Denied):
            await self._deny(send, wire.family, admitted)
            return
        if self.ledger_is_full():  # before any reservation
            await self._ledger_full(send, wire.family)
            return
        await self._forward(scope, receive, send, wire, admitted, cloud)

    def ledger_is_full(self) -> bool:
        """The writer holds all it may; calls still being priced are held in memory too."""
        return self._ledger is not None and self._ledger.is_full(self._finisher.pending)

    async def _ledger_full(self, send: Send, family: Family) -> None:
        self.metrics.refused.labels(LEDGER_FULL).inc()
        body, headers = ledger_full_response(family, self.config.ledger.retry_after_s)
        await _respond(send, 503, body, headers)

    @staticmethod
    async def _deny(send: Send, family: Family, denied: Denied) -> None:
        body = denied.body(family)
        out = [*error_headers(family, denied.status, len(body)), *denied.headers()]
        await _respond(send, denied.status, body, out)

    def _admit(self, headers: dict[str, str]) -> Admitted | Denied:
        """The gateway key's verdict, from memory."""
        return Admitted(None, headers) if self.gate is None else self.gate.admit(headers)

    async def _refuse(self, send: Send, path: str, status: int, message: str) -> None:
        """A request from a web page: JSON on API paths, text for the dashboard's."""
        if is_api_path(path):
            wire = wire_for_path(path)
            await self._fail(send, wire.family if wire else "openai", status, message)
            return
        body = (message + "\n").encode()
        await _respond(send, status, body, [(b"content-type", b"text/plain; charset=utf-8")])

    async def _metrics(self, scope: Scope, send: Send) -> None:
        if self.metrics_token is not None:
            sent = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            expected = f"Bearer {self.metrics_token}"
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                body = b"/metrics needs the admin token: Authorization: Bearer TOKEN\n"
                headers = [(b"content-type", b"text/plain; charset=utf-8")]
                await _respond(send, 401, body, [*headers, (b"www-authenticate", b"Bearer")])
                return
        page, content_type = self.metrics.render()
        headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(page))]
        await _respond(send, 200, page, headers)

    async def _models(self, send: Send, headers: dict[str, str]) -> None:
        denied = self._admit(headers)
        if isinstance(denied, Denied):
            await self._deny(send, "openai", denied)
            return
        data = [
            {"id": route.match, "object": "model", "owned_by": route.upstream}
            for route in self.config.routes
        ]
        body = json.dumps({"object": "list", "data": data}).encode()
        await _respond(send, 200, body, json_headers(len(body)))

    async def _fail(self, send: Send, wire: Family, status: int, message: str) -> None:
        body = error_body(wire, status, message)
        await _respond(send, status, body, error_headers(wire, status, len(body)))

    async def _read(self, receive: Receive, send: Send, family: Family) -> bytes | None:
        """The request body, or None once a 413 has been sent for one over the limit."""
        limit = self.config.max_body_bytes
        try:
            return await read_body(receive, limit)
        except BodyTooLarge:
            await self._fail(send, family, 413, f"request body over the limit of {limit} bytes")
            return None

    async def _hold(self, ex: Exchange, upstream: Upstream, size: int, send: Send) -> bool:
        """Reserve the call's worst case against its budgets (when there are any);
        False once a denial has been sent."""
        if self.budgets is None:
            return True
        held = await self.budgets.reserve_for(ex, upstream, size)
        if isinstance(held, Denied):
            self.metrics.refused.labels(held.code or "budget").inc()
            await self._deny(send, ex.wire.family, held)
            return False
        ex.hold = held
        return True

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        wire: Wire,
        admitted: Admitted,
        cloud: CloudPath | None = None,
    ) -> None:
        if cloud is not None:  # Azure's and Bedrock's own paths
            await self._forward_cloud(scope, receive, send, cloud, admitted)
            return
        started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
        headers = admitted.headers  # without the gateway key, which never goes upstream
        raw = await self._read(receive, send, wire.family)
        if raw is None:
            return
        form = is_multipart(headers.get("content-type", ""))
        request = decode_request(raw, headers.get("content-type", ""))
        if isinstance(request, str):
            await self._fail(send, wire.family, 400, request)
            return
        gemini = gemini_target(scope["path"])
        model = gemini.model if gemini else request.get("model")
        if not isinstance(model, str) or not model:
            await self._fail(send, wire.family, 400, "the request has no 'model'")
            return
        try:
            route, upstream = self.config.route(model)
        except RouteError as exc:
            await self._fail(send, wire.family, 404, str(exc))
            return
        # Gemini's path names the model: the upstream's name for it
        asked = gemini.path_for(route.upstream_model(model)) if gemini else scope["path"]
        path = wire.upstream_path(upstream.kind, asked)
        if path is None:
            message = (
                f"{model} is served by a {upstream.kind} upstream, which has no {scope['path']}"
            )
            await self._fail(send, wire.family, 404, message)
            return
        ex = Exchange(
            started_at=started,
            t0=t0,
            wire=wire,
            endpoint=scope["path"],
            provider=upstream.price_provider,
            model_requested=model,
            request_json=request,
            headers=headers,
            key_id=admitted.key_id,
            stream=gemini.stream if gemini else bool(request.get("stream")),
            usd_per_hour=upstream.usd_per_hour,
            # as sent (the upstream may get it rewritten); hashed on the finisher's thread
            request_body=None if form else raw,
        )
        if not await self._hold(ex, upstream, len(raw), send):
            return
        query = scope.get("query_string", b"")
        outgoing, streaming = self._outgoing(ex, request, route.upstream_model(model), query)
        if outgoing != request and not form:
            raw = json.dumps(outgoing).encode()
        target = path + (f"?{query.decode('latin-1')}" if query else "")
        origin, version = upstream.api_root  # worked out once (Upstream.url)
        url = origin + target if version is None else upstream.url(target)
        await self._relay_held(ex, upstream, raw, url, send, streaming, receive)

    async def _forward_cloud(
        self, scope: Scope, receive: Receive, send: Send, cloud: CloudPath, admitted: Admitted
    ) -> None:
        """An Azure deployment or Bedrock Converse call (gateway.clouds): routed by
        the name its path (or body) carries, sent on the upstream's origin."""
        started, t0, wire = dt.datetime.now(dt.UTC), time.perf_counter(), cloud.wire
        raw = await self._read(receive, send, wire.family)
        if raw is None:
            return
        request = decode_request(raw, "application/json")
        if isinstance(request, str):
            await self._fail(send, wire.family, 400, request)
            return
        target = resolve(self.config, cloud, request, admitted.headers)
        if isinstance(target, Refusal):
            await self._fail(send, wire.family, target.status, target.message)
            return
        ex = Exchange(
            started_at=started,
            t0=t0,
            wire=wire,
            endpoint=scope["path"],
            provider=target.provider,
            model_requested=target.model,
            request_json=request,
            headers=admitted.headers,
            key_id=admitted.key_id,
            stream=cloud.streams(request),
            usd_per_hour=target.upstream.usd_per_hour,
            request_body=raw,
            secrets=target.secrets,
        )
        if not await self._hold(ex, target.upstream, len(raw), send):
            return
        query = scope.get("query_string", b"")
        outgoing, streaming = self._outgoing(ex, request, target.model, query)
        if outgoing != request:
            raw = json.dumps(outgoing).encode()
        url = (
            target.upstream.origin + target.path + (f"?{query.decode('latin-1')}" if query else "")
        )
        await self._relay_held(ex, target.upstream, raw, url, send, streaming, receive, target.sign)

    @staticmethod
    def _outgoing(
        ex: Exchange, request: dict[str, Any], upstream_model: str, query: bytes
    ) -> tuple[dict[str, Any], Streaming | None]:
        """The body to send upstream, and the stream watcher when it streams."""
        wire, outgoing = ex.wire, dict(request)
        if "model" in request and upstream_model != ex.model_requested:
            outgoing["model"] = upstream_model
        if not ex.stream or wire.stream is None:
            return outgoing, None
        if wire.family == "gemini" and not GeminiTarget.sse(query):
            return outgoing, None  # a JSON array, read whole at the end
        hide = False
        if wire.stream_usage is not None:
            adjusted = wire.stream_usage(outgoing)
            outgoing, hide = adjusted.body, adjusted.changed
        return outgoing, Streaming(wire, ex.provider, hide)

    async def _relay_held(
        self,
        ex: Exchange,
        upstream: Upstream,
        raw: bytes,
        url: str,
        send: Send,
        streaming: Streaming | None,
        receive: Receive,
        sign: Signer | None = None,
    ) -> None:
        """Relay ``ex``, then give back its budget hold unless the call was recorded."""
        try:
            await self._relay(ex, upstream, raw, url, send, streaming, receive, sign)
        finally:
            if ex.hold is not None:  # a call that was never recorded holds nothing
                ex.hold.release_unless_recorded()

    async def _relay(
        self,
        ex: Exchange,
        upstream: Upstream,
        raw: bytes,
        url: str,
        send: Send,
        streaming: Streaming | None,
        receive: Receive | None = None,
        sign: Signer | None = None,
    ) -> None:
        headers = upstream_headers(upstream, ex.wire.family, ex.headers)
        if sign is not None:  # Bedrock: signed with the gateway's AWS keys
            ex.secrets = (*ex.secrets, sign(headers, url, raw))
        response_body = b""
        durable = self._ledger if self._ledger is not None and self._ledger.durable else None
        end = HeldEnd(send) if durable is not None else None
        send = end or send  # durable: the response completes once the call is on disk
        try:
            post: AbstractAsyncContextManager[UpstreamResponse]
            if self._raw is not None:
                post = self._raw.post(url, data=raw, headers=headers, timeout_s=upstream.timeout_s)
            else:
                timeout = aiohttp.ClientTimeout(total=upstream.timeout_s)
                post = (await self.session()).post(url, data=raw, headers=headers, timeout=timeout)
            async with post as response:
                ex.status = response.status
                out_headers = response_headers(response.headers)
                if streaming is not None and response.status < 400:
                    response_body = await self._pass_stream(
                        ex, response, send, out_headers, streaming, receive
                    )
                elif response.status >= 500:
                    response_body = await self._pass_failure(ex, response, send, out_headers)
                else:
                    response_body = await self._pass_body(ex, response, send, out_headers)
        except StreamCut as cut:
            ex.status = STREAM_CUT_STATUS  # the client saw 200, then a broken stream
            ex.finished_at = time.perf_counter()
            self._record(ex, raw, cut.sent, streaming)
            raise  # the connection is dropped, so the client sees the failure too
        except ClientGone as gone:
            ex.status = CLIENT_CLOSED_STATUS
            ex.flags.append(CLIENT_DISCONNECTED)
            ex.finished_at = time.perf_counter()
            self._record(ex, raw, gone.sent, streaming)  # billed so far (estimated if unsaid)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = 504 if isinstance(exc, TimeoutError) else 502
            ex.status = status
            ex.error = f"upstream unreachable: {_why(exc, url, upstream.timeout_s)}"
            await self._fail(send, ex.wire.family, status, ex.error)
        ex.finished_at = time.perf_counter()
        recorded = self._record(ex, raw, response_body, streaming if ex.status < 400 else None)
        if end is not None and durable is not None:
            await end.release_when_durable(recorded, durable)

    async def _pass_failure(
        self,
        ex: Exchange,
        response: UpstreamResponse,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> bytes:
        """An upstream's server error, relayed whole; one that holds a Python
        traceback (llama-cpp-python's server sends them) is replaced by an error
        in the wire's shape, so no traceback reaches a client or the ledger."""
        body = await response.content.read(_FAILURE_LIMIT)
        if _TRACEBACK.search(body) is None:
            await _respond(send, response.status, body, headers)
            return body
        message = f"the upstream failed (HTTP {response.status}); its traceback is not passed on"
        ex.error = message
        clean = ex.wire.error_body(response.status, message)
        await _respond(send, response.status, clean, json_headers(len(clean)))
        return clean

    async def _pass_stream(
        self,
        ex: Exchange,
        response: UpstreamResponse,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        streaming: Streaming,
        receive: Receive | None = None,
    ) -> bytes:
        """Relay a stream chunk by chunk, reading its usage on the way; a client
        that leaves ends it (``client_disconnect``: cancel, or read on unseen)."""
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        parts: list[bytes] = []
        cancel = self.config.client_disconnect == "cancel"
        watch = ClientWatch(receive, cancel) if receive is not None else None
        delivered = False  # the client was sent the stream's terminal event
        try:
            async for chunk in response.content.iter_any():
                parts.append(chunk)
                out = streaming.feed(chunk)
                if out and not (watch and watch.gone):
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                    delivered = streaming.accumulator.finished
        except (aiohttp.ClientError, TimeoutError) as exc:
            ex.error = f"upstream stream cut: {type(exc).__name__}: {exc}"
            raise StreamCut(b"".join(parts)) from exc
        except asyncio.CancelledError:
            if watch is None or not watch.absorb():
                raise
        finally:
            if watch is not None:
                watch.stop()
        # a client that leaves after it was sent the terminal event saw all of it
        if watch is not None and watch.gone and not delivered:
            how = "cancelled" if cancel else "read to its end"
            ex.error = f"the client disconnected mid-stream; the upstream request was {how}"
            raise ClientGone(b"".join(parts))
        tail = streaming.flush()
        if not (watch and watch.gone):
            await send({"type": "http.response.body", "body": tail})
        return b"".join(parts)

    async def _pass_body(
        self,
        ex: Exchange,
        response: UpstreamResponse,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> bytes:
        """Relay the upstream body to the client as it arrives; return what was sent."""
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        parts = []
        async for chunk in response.content.iter_any():
            if ex.first_byte_at is None:
                ex.first_byte_at = time.perf_counter()
            parts.append(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return b"".join(parts)

    def _record(
        self, ex: Exchange, request: bytes, response: bytes, streaming: Streaming | None = None
    ) -> Future[Call | None]:
        """Hand the call over to be priced and recorded off the event loop."""
        acc = streaming.accumulator if streaming else None
        if ex.hold is not None:
            ex.hold.recorded = True  # settled by the finisher
        return self._finisher.submit(ex, request, response, acc)
