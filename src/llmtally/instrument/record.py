"""One SDK request as the application thread saw it -> a priced, recorded ``Call``.

The application thread only notes times and keeps the bytes (:class:`Watch`);
everything else (parsing the request, feeding the stream accumulator, usage,
estimates, pricing) runs on one worker thread through the gateway's own code:
:func:`llmtally.gateway.finish.settle` and
:func:`llmtally.gateway.recording.build_call` on an
:class:`~llmtally.gateway.recording.Exchange`, so a call made through an SDK is
recorded exactly as the gateway records the same call.

Nothing here raises into the application: a failure is logged and counted in
:data:`STATS` (``llmtally.instrument.internal_errors()``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from llmtally.gateway.client_watch import CLIENT_CLOSED_STATUS, CLIENT_DISCONNECTED
from llmtally.gateway.fingerprint import prompt_fingerprint
from llmtally.gateway.finish import settle
from llmtally.gateway.recording import STREAM_CUT_STATUS, Exchange, build_call
from llmtally.gateway.redact import Redactor, secrets_of
from llmtally.providers.wires import WIRES, Wire

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.providers.streams import StreamAccumulator
    from llmtally.usage import Call

__all__ = ["STATS", "Sink", "Stats", "Watch", "to_call", "wire_for"]

_HEADER = "x-llmtally-"
_HEADER_BYTES = _HEADER.encode()
_PREFIX_LENGTH = len(_HEADER_BYTES)
_BATCH_PAUSE = 0.05  # seconds
_log = logging.getLogger("llmtally.instrument")


class Stats:
    """Counters of the instrumentation (thread-safe), read by tests and metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.recorded = 0
        self.errors: dict[str, int] = {}

    def error(self, where: str, reason: str | None = None) -> None:
        """Count (and log) an error inside llmtally that the application never saw:
        with the traceback being handled, or with ``reason`` alone when one is given."""
        if reason is None:
            _log.warning("llmtally instrumentation: error in %s", where, exc_info=True)
        else:
            _log.warning("llmtally instrumentation: error in %s: %s", where, reason)
        with self._lock:
            self.errors[where] = self.errors.get(where, 0) + 1

    def done(self) -> None:
        with self._lock:
            self.recorded += 1

    @property
    def internal_errors(self) -> int:
        with self._lock:
            return sum(self.errors.values())


STATS = Stats()


class Writer(Protocol):
    def submit(self, call: Call) -> None: ...


# The endpoints of each OpenAI-format wire, as the tail of an SDK request's path
# (the base URL may end in /v1, /v1beta/openai, /openai/v1...).
_TAILS = tuple(
    (path.removeprefix("/v1"), path, wire)
    for wire in WIRES.values()
    if wire.family == "openai"
    for path in wire.paths
)


def wire_for(path: str) -> tuple[str, Wire] | None:
    """(gateway endpoint, wire) of an SDK request path, None for other endpoints."""
    for tail, endpoint, wire in _TAILS:
        if path.endswith(tail):
            return endpoint, wire
    return None


@dataclass(slots=True)
class Watch:
    """What the application thread noted of one request (cheap to fill in)."""

    endpoint: str
    wire: Wire
    provider: str
    request: bytes
    attribution: dict[str, str]  # llmtally.attribute's, as x-llmtally-* headers
    request_headers: Mapping[str, str]  # as sent (x-llmtally-* ones win)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    t0: float = field(default_factory=time.perf_counter)
    status: int = 0  # the upstream's HTTP status
    body: bytes | None = None  # a whole body read by the SDK
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  # (arrived at, bytes)
    finished_at: float | None = None
    ending: str = "complete"  # complete | closed (by the application) | cut | unreachable
    error: str | None = None
    # Gemini's path names the model and whether it streams; other wires say so in the body
    model: str | None = None
    stream: bool | None = None


def _request_json(raw: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object; None when it is none (a form, say)."""
    try:
        body = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _accumulated(watch: Watch) -> StreamAccumulator:
    """The gateway's accumulator, fed the chunks with the times they arrived."""
    now = [watch.t0]
    acc = watch.wire.accumulator(watch.provider, clock=lambda: now[0])
    for at, chunk in watch.chunks:
        now[0] = at
        acc.feed(chunk)
    return acc


def _headers(watch: Watch) -> dict[str, str]:
    raw = getattr(watch.request_headers, "raw", None)  # httpx's (bytes, bytes) pairs
    if raw is not None:  # only the x-llmtally-* ones decoded
        sent = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in raw
            if k[:_PREFIX_LENGTH].lower() == _HEADER_BYTES
        }
    else:
        sent = {
            k.lower(): v for k, v in watch.request_headers.items() if k.lower().startswith(_HEADER)
        }
    return {**watch.attribution, **sent}


def _exchange(watch: Watch, request: Mapping[str, Any], ending: str, stream: bool) -> Exchange:
    model = watch.model or request.get("model")
    ex = Exchange(
        started_at=watch.started_at,
        t0=watch.t0,
        wire=watch.wire,
        endpoint=watch.endpoint,
        provider=watch.provider,
        model_requested=model if isinstance(model, str) else "",
        request_json=request,
        headers=_headers(watch),
        status=watch.status,
        error=watch.error,
        stream=stream,
        finished_at=watch.finished_at,
        first_byte_at=watch.chunks[0][0] if watch.chunks else watch.finished_at,
    )
    if ending == "closed":  # as the gateway records a client that went away
        ex.status = CLIENT_CLOSED_STATUS
        ex.flags.append(CLIENT_DISCONNECTED)
        ex.error = ex.error or "the application closed the stream before its end"
    elif ending == "cut":
        ex.status = STREAM_CUT_STATUS
    return ex


def to_call(watch: Watch, catalog: Catalog, redact: Redactor) -> Call:
    """The priced call, read by the gateway's own functions."""
    parsed = _request_json(watch.request)
    request = parsed if parsed is not None else {}
    stream = bool(request.get("stream")) if watch.stream is None else watch.stream
    streamed = stream and watch.wire.stream is not None
    acc = _accumulated(watch) if streamed and 0 < watch.status < 400 else None
    # The SDK closes a stream once its last event is in (before the body's end).
    ending = "complete" if acc is not None and acc.finished else watch.ending
    ex = _exchange(watch, request, ending, stream)
    ex.request_body = watch.request if parsed is not None else None
    body = watch.body if watch.body is not None else b"".join(c for _, c in watch.chunks)
    if ending != "unreachable":
        settle(ex, body, acc)
    prompt = watch.wire.prompt(request)
    if prompt is not None:
        ex.fingerprint = prompt_fingerprint(prompt.system_text)
    if ex.error is not None:  # an upstream's error can echo the key it was sent
        ex.error = redact(ex.error, secrets_of(watch.request_headers, ()))
    return build_call(ex, catalog)


class Sink:
    """Turns watches into calls on one worker thread and hands them to ``writer``."""

    def __init__(self, writer: Writer, catalog: Catalog) -> None:
        self.writer, self.catalog = writer, catalog
        self._redact = Redactor()
        self._queue: queue.SimpleQueue[Watch | threading.Event | None] = queue.SimpleQueue()
        self._closed = False
        self._open: dict[int, Watch] = {}  # streams the application is still reading
        self._thread = threading.Thread(target=self._run, name="llmtally-instrument", daemon=True)
        self._thread.start()

    def opened(self, watch: Watch) -> None:
        """A stream handed to the application: recorded at :meth:`close` if still open."""
        self._open[id(watch)] = watch

    def submit(self, watch: Watch) -> None:
        self._open.pop(id(watch), None)
        if self._closed:  # uninstrumented meanwhile: nothing records it now
            STATS.error("submit")
            return
        self._queue.put(watch)

    def _run(self) -> None:
        # Woken by the first call, then a pause to let more arrive: taking calls in
        # batches keeps this thread from contending with the application's for the GIL.
        while True:
            batch = [self._queue.get()]
            time.sleep(_BATCH_PAUSE)
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            for item in batch:
                if item is None:
                    return
                if isinstance(item, threading.Event):
                    item.set()
                else:
                    self._record(item)

    def _record(self, watch: Watch) -> None:
        try:
            self.writer.submit(to_call(watch, self.catalog, self._redact))
        except Exception:  # fail open: counted, never raised into the application
            STATS.error("record")
            return
        STATS.done()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every call handed over so far has reached the writer."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Record the streams still open (as closed by the application), then stop."""
        for watch in list(self._open.values()):
            self._open.pop(id(watch), None)
            if watch.finished_at is None:  # else it is being recorded already
                watch.finished_at, watch.ending = time.perf_counter(), "closed"
                self._queue.put(watch)
        self._closed = True
        self._queue.put(None)
        self._thread.join()
