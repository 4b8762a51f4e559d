"""Export every recorded call as an OTLP span (and metrics) to any OTLP/HTTP endpoint.

The gateway (``otel_export:`` in its config) and ``llmtally.instrument(otlp_endpoint=...)``
hand each recorded call to an :class:`OtlpExporter`. ``submit`` only appends to
a bounded queue; one thread sends the queue in batches (protobuf, gzip) to
``<endpoint>/v1/traces`` and, once per interval, the metrics to
``<endpoint>/v1/metrics`` (the OTLP/HTTP paths,
https://opentelemetry.io/docs/specs/otlp/#otlphttp-request). Fail-open: the
export is telemetry, not the ledger; a full queue, an unreachable endpoint or a
refused export drops spans, and every drop is counted in :class:`ExportStats`,
never raised. Retries follow the OTLP spec: 429, 502, 503 and 504 and
connection errors are retried with backoff (honouring ``Retry-After``), other
answers are not.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from llmtally.ledger.rows import CallBodies
    from llmtally.otel.export_encode import MetricsWindow
    from llmtally.usage import Call

__all__ = ["ExportStats", "OtlpExport", "OtlpExporter", "open_exporter"]

_RETRYABLE = frozenset({429, 502, 503, 504})
# Calls sent again (an OTLP exporter retrying into /v1/traces, a forwarder's resend)
# are exported once if their first time is among the last this many.
_RECENT_IDS = 100_000
_log = logging.getLogger("llmtally.otel.export")


class OtlpExport(BaseModel):
    """Where and how to export (``otel_export:`` in the gateway's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str  # the base URL, as OTEL_EXPORTER_OTLP_ENDPOINT: http://collector:4318
    # sent with every export (an API key of the backend): never logged or stored
    headers: dict[str, str] = {}
    service_name: str = "llmtally"
    interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    max_batch: Annotated[int, Field(gt=0, le=10_000)] = 512
    max_queue: Annotated[int, Field(gt=0, le=1_000_000)] = 10_000
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    metrics: bool = True

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        if parts.username or parts.password:
            raise ValueError("put credentials in headers, not in the URL")
        return value.rstrip("/")


class ExportStats:
    """Counters of the export (thread-safe enough: one writer thread, ints)."""

    def __init__(self) -> None:
        self.exported_spans = 0
        self.dropped_spans = 0  # the queue was full
        self.repeated_spans = 0  # a call exported a moment ago, sent again (an OTLP retry)
        self.failed_spans = 0  # the endpoint refused them or could not be reached
        self.failed_exports = 0
        self.exported_metrics = 0


class OtlpExporter:
    """A recorder (``submit(call)``) that exports; see the module docstring."""

    def __init__(
        self,
        settings: OtlpExport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self._clock = settings, clock
        self.stats = ExportStats()
        self._queue: deque[Call] = deque()
        self._recent: OrderedDict[str, None] = OrderedDict()  # ids exported lately
        self._cond = threading.Condition()
        self._submitted = self._finished = 0
        self._flushing = self._closed = False
        self._window: MetricsWindow | None = None
        self._window_at = clock()
        self._thread = threading.Thread(target=self._run, name="llmtally-otlp", daemon=True)
        self._thread.start()

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        """Queue one call's span; never blocks, never raises."""
        with self._cond:
            if call.id in self._recent:  # the ledger stores it once: so is it exported
                self.stats.repeated_spans += 1
                return
            if self._closed or len(self._queue) >= self.settings.max_queue:
                self.stats.dropped_spans += 1
                return
            self._recent[call.id] = None
            if len(self._recent) > _RECENT_IDS:
                self._recent.popitem(last=False)
            self._queue.append(call)
            self._submitted += 1
            if len(self._queue) >= self.settings.max_batch:
                self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send what was submitted so far (spans and metrics); whether that finished."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            self._flushing = True
            self._cond.notify_all()
            while self._finished < target or self._flushing:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(max(0.0, timeout))
        return done

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._flushing and not self._closed:
                    self._cond.wait(self.settings.interval_s)
                if self._closed and not self._queue:
                    return
                batch = [
                    self._queue.popleft()
                    for _ in range(min(len(self._queue), self.settings.max_batch))
                ]
                flushing = self._flushing and not self._queue
            self._export(batch, flushing)
            with self._cond:
                self._finished += len(batch)
                if flushing:
                    self._flushing = False
                self._cond.notify_all()

    def _export(self, batch: list[Call], flushing: bool) -> None:
        try:
            if batch:
                self._send_spans(batch)
            if self.settings.metrics:
                self._metrics(batch, flushing)
        except Exception:  # a bug here must not stop the thread: count, log, go on
            _log.exception("OTLP export failed")
            self.stats.failed_exports += 1

    def _send_spans(self, batch: list[Call]) -> None:
        from llmtally.otel.export_encode import trace_request

        if self._post("/v1/traces", trace_request(batch, self.settings.service_name)):
            self.stats.exported_spans += len(batch)
        else:
            self.stats.failed_spans += len(batch)

    def _metrics(self, batch: list[Call], flushing: bool) -> None:
        from llmtally.otel.export_encode import MetricsWindow

        if self._window is None:
            self._window = MetricsWindow(time.time_ns())
        for call in batch:
            self._window.add(call)
        due = self._clock() - self._window_at >= self.settings.interval_s
        if not (due or flushing) or self._window.empty:
            return
        window, self._window, self._window_at = self._window, None, self._clock()
        request = window.request(time.time_ns(), self.settings.service_name)
        if self._post("/v1/metrics", request):
            self.stats.exported_metrics += 1

    def _post(self, path: str, message: Message) -> bool:
        """POST one export; retried as the OTLP spec says within ``timeout_s``."""
        body = gzip.compress(message.SerializeToString(), compresslevel=5)
        headers = {
            **self.settings.headers,
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        }
        deadline, pause = self._clock() + self.settings.timeout_s, 0.1
        while True:
            wait = self._attempt(self.settings.endpoint + path, body, headers)
            if wait is None:
                return True
            left = deadline - self._clock()
            if wait < 0 or left <= 0:
                self.stats.failed_exports += 1
                return False
            time.sleep(min(max(wait, pause), left))
            pause *= 2

    def _attempt(self, url: str, body: bytes, headers: dict[str, str]) -> float | None:
        """None when accepted; else the seconds to wait before retrying, or -1: don't."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as answer:
                answer.read()
                return None
        except urllib.error.HTTPError as exc:
            exc.close()
            _log.warning("OTLP endpoint answered %s to %s", exc.code, url)
            if exc.code not in _RETRYABLE:
                return -1.0
            return _retry_after(exc.headers.get("Retry-After"))
        except (OSError, ValueError) as exc:  # refused, reset, timed out, DNS
            _log.warning("OTLP endpoint %s unreachable: %s", url, type(exc).__name__)
            return 0.0


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value or 0), 30.0)
    except ValueError:
        return 0.0


def open_exporter(
    settings: OtlpExport | None, registry: CollectorRegistry | None = None
) -> OtlpExporter | None:
    """An exporter when export is configured, else None; its counters go on
    ``registry`` (the gateway's /metrics) as ``llmtally_otel_export_spans_total``."""
    if settings is None:
        return None
    exporter = OtlpExporter(settings)
    if registry is not None:
        registry.register(_Counters(exporter.stats))
    return exporter


class _Counters(Collector):
    def __init__(self, stats: ExportStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "llmtally_otel_export_spans",
            "Recorded calls exported as OTLP spans, or not, by outcome",
            labels=["outcome"],
        )
        for outcome in ("exported", "dropped", "failed", "repeated"):
            family.add_metric([outcome], getattr(self.stats, f"{outcome}_spans"))
        yield family
