"""``GET /metrics``: the gateway's calls in the Prometheus text format.

Every recorded call updates counters of cost, tokens and calls and histograms
of latency and time to first token, labelled by provider and model only (never
user, key or trace: those belong in the ledger, not in time series). A model
name comes from the client when the upstream names none, so the number of
models kept as labels is capped; calls beyond it count under ``model="_other"``.

``llmtally_cost_usd`` counts USD, the ledger's pivot: a call priced in another
currency (CNY) counts its cost converted at the rate of its UTC day
(``llmtally.currency.pivot``, as the ledger stores it); with no rate for that
day it is counted as unpriced, as the ledger keeps it.

Token kinds follow :class:`llmtally.usage.Usage`: ``input`` and ``output`` are
totals, ``cache_read`` and ``cache_write`` are part of ``input`` and
``reasoning`` part of ``output`` (so summing over ``kind`` double-counts).

The ledger writer's health (queue and its bound, rows written, spooled,
journaled, lost, database and spool up) is read from its ``stats()`` when the
page is scraped; calls refused while its queue is full are counted here.
Each gateway has its own registry: nothing is registered globally or at
import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from llmtally.currency.pivot import PIVOT, usd_amount
from llmtally.ledger.rows import CallBodies
from llmtally.usage import Call

if TYPE_CHECKING:
    from llmtally.gateway.app import Recorder
    from llmtally.ledger.writer import WriterStats

__all__ = [
    "LLM_BUCKETS",
    "OTHER_MODEL",
    "TOKEN_KINDS",
    "GatewayMetrics",
    "MeteredRecorder",
    "status_class",
]

_log = logging.getLogger("llmtally.gateway")

# Seconds: from a cached short answer to a long reasoning run.
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
# kind label -> the Usage field it counts
TOKEN_KINDS = {
    "input": "input_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
    "reasoning": "reasoning_tokens",
}
_KIND_FIELDS = tuple(TOKEN_KINDS.items())
OTHER_MODEL = "_other"
_LABELS = ("provider", "model")
_M = TypeVar("_M", Counter, Histogram)


def status_class(call: Call) -> str:
    """``2xx`` .. ``5xx`` from the HTTP status; ``error`` for a call that failed
    without a status (a stream cut after a successful start is recorded as 502)."""
    if not 100 <= call.status <= 599 or (call.error is not None and call.status < 400):
        return "error"
    return f"{call.status // 100}xx"


class _LedgerCollector(Collector):
    """The ledger writer's counts, read from ``stats()`` at scrape time."""

    def __init__(self, stats: Callable[[], WriterStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            s = self._stats()
        except Exception:  # a scrape must still answer; the gateway's own metrics stand
            _log.exception("could not read the ledger writer's stats for /metrics")
            return
        yield GaugeMetricFamily(
            "llmtally_ledger_queued_calls", "Calls waiting to be written.", value=s.queued
        )
        for name, value, text in (
            ("written", s.written, "Calls written to the database."),
            ("spooled", s.spooled, "Calls spooled to disk while the database was down."),
            ("replayed", s.replayed, "Spooled calls written to the database later."),
            ("rejected", s.rejected, "Calls the database refused (kept in the reject file)."),
            ("journaled", s.journaled, "Durable mode: calls fsync'd before their answer."),
            ("fallback", s.fallback, "Calls written to a fallback file at exit."),
            ("lost", s.lost, "Calls neither written, spooled nor kept in a fallback file."),
        ):
            yield CounterMetricFamily(f"llmtally_ledger_{name}_calls", text, value=value)
        yield GaugeMetricFamily(
            "llmtally_ledger_spool_pending",
            "1 while spooled calls wait for replay.",
            value=int(s.spool_pending),
        )
        yield GaugeMetricFamily(
            "llmtally_ledger_database_up",
            "1 while the database takes writes, 0 while the writer waits to retry.",
            value=int(s.database_up),
        )
        yield GaugeMetricFamily(
            "llmtally_ledger_spool_up",
            "1 while the spool takes writes, 0 while writing it fails (disk full).",
            value=int(s.spool_up),
        )
        yield GaugeMetricFamily(
            "llmtally_ledger_max_queued_calls",
            "The bound on queued calls: at it, new calls are refused with 503.",
            value=s.max_held,
        )
        yield GaugeMetricFamily(
            "llmtally_ledger_full",
            "1 while the queue is at its bound and new calls are refused.",
            value=int(s.full),
        )


class GatewayMetrics:
    """The gateway's metrics in a registry of their own.

    ``ledger`` is the recorder behind the gateway: when it has ``stats()`` (the
    ledger writer), its health is exported too. ``max_models`` caps the distinct
    (provider, model) pairs kept as labels.
    """

    def __init__(self, ledger: object = None, max_models: int = 500) -> None:
        self.registry = CollectorRegistry()
        self.max_models = max_models
        self._models: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        reg = self.registry
        self.cost = Counter(
            "llmtally_cost_usd", "Cost of priced calls, USD.", _LABELS, registry=reg
        )
        self.tokens = Counter(
            "llmtally_tokens",
            "Tokens by kind; input and output are totals, cache_read and cache_write are "
            "part of input, reasoning part of output.",
            (*_LABELS, "kind"),
            registry=reg,
        )
        self.calls = Counter(
            "llmtally_calls",
            "Calls by HTTP status class.",
            (*_LABELS, "status_class"),
            registry=reg,
        )
        self.unpriced = Counter(
            "llmtally_unpriced_calls",
            "Calls without a cost (see cost_error).",
            _LABELS,
            registry=reg,
        )
        self.latency = Histogram(
            "llmtally_latency_seconds",
            "Time from request to the end of the answer.",
            _LABELS,
            buckets=LLM_BUCKETS,
            registry=reg,
        )
        self.ttft = Histogram(
            "llmtally_time_to_first_token_seconds",
            "Time to the first token of streamed answers.",
            _LABELS,
            buckets=LLM_BUCKETS,
            registry=reg,
        )
        self.refused = Counter(
            "llmtally_refused_calls",
            "Calls refused before reaching an upstream, by reason (ledger_full: 503 while "
            "the ledger's memory queue is at its bound; budgets: insufficient_quota, "
            "rate_limit_exceeded, exceeds_budget, budget_unbounded, budget_store_unavailable).",
            ("reason",),
            registry=reg,
        )
        self.observe_failures = Counter(
            "llmtally_metrics_observe_failures",
            "Calls recorded but not counted here, because counting failed.",
            registry=reg,
        )
        stats = getattr(ledger, "stats", None)
        if callable(stats):
            reg.register(_LedgerCollector(stats))

    def _labels(self, call: Call) -> tuple[str, str]:
        pair = (call.provider, call.model)
        with self._lock:
            if pair in self._models:
                return pair
            if len(self._models) < self.max_models:
                self._models.add(pair)
                return pair
        return (call.provider, OTHER_MODEL)

    def observe(self, call: Call) -> None:
        """Count one finished call."""
        pair = self._labels(call)
        child = self._child
        child(self.calls, (*pair, status_class(call))).inc()
        usage = call.usage
        for kind, field in _KIND_FIELDS:
            count = getattr(usage, field)
            if count:
                child(self.tokens, (*pair, kind)).inc(count)
        cost = call.cost
        usd = None if cost is None else cost.total
        if cost is not None and cost.price.currency != PIVOT:  # billed in CNY...: in USD
            usd = usd_amount(cost.total, cost.price.currency, call.started_at)
        if usd is None:
            child(self.unpriced, pair).inc()
        else:
            child(self.cost, pair).inc(float(usd))
        child(self.latency, pair).observe(call.latency_ms / 1000)
        if call.ttft_ms is not None:
            child(self.ttft, pair).observe(call.ttft_ms / 1000)

    def _child(self, metric: _M, labels: tuple[str, ...]) -> _M:
        """``metric.labels(*labels)``, looked up once per label set (a series is
        still made on its first use only, as ``labels`` makes it)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> tuple[bytes, str]:
        """The page and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MeteredRecorder:
    """``inner`` that counts each call in ``metrics`` first (and exports it after).
    Counting never costs a call: if it fails, that is logged and the call still
    goes on to ``inner``."""

    def __init__(
        self, inner: Recorder, metrics: GatewayMetrics, exporter: Recorder | None = None
    ) -> None:
        self.inner, self.metrics, self.exporter = inner, metrics, exporter

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        try:
            self.metrics.observe(call)
        except Exception:  # telemetry fails open: the ledger still gets the call
            _log.exception("could not count call %s in /metrics", call.id)
            self.metrics.observe_failures.inc()
        self.inner.submit(call, bodies)
        if self.exporter is not None:  # OTLP export (llmtally.otel.export): never raises
            self.exporter.submit(call)
