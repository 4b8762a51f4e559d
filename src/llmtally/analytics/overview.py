"""The dashboard's overview: spend today, 7 days, month to date and projected
month-end; daily spend by model; top models, users, features, prompt
fingerprints, traces and calls; the hidden-cost breakdown; latency by model.

Every window is whole UTC days, so all of it is read from the day rollups
(``llmtally.ledger.rollup_tables``) plus two indexed top-N queries: the page
costs the same at a thousand calls or tens of millions.

The month-end projection is month-to-date plus the daily run rate times the
days left. The run rate is the mean spend of whole UTC days only (today is
never a rate, so a few hours of today cannot explode it): the last 7 days
before today, or the whole days since the ledger's first call when there are
fewer; with none (every call is from today) there is no projection, and the
note says so. The note says which days the rate came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from llmtally.analytics.hidden import HiddenCosts, ModelStats, performance
from llmtally.analytics.ranges import EPOCH, bucket_start
from llmtally.analytics.report import ReportRow, spend_report
from llmtally.analytics.rollup_query import table, table_sums
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.ledger.schema import calls
from llmtally.money import usd

if TYPE_CHECKING:
    from llmtally.ledger.store import Store

__all__ = [
    "DAYS",
    "CallRow",
    "ModelDay",
    "Overview",
    "TraceRow",
    "TraceStats",
    "Window",
    "overview",
]

DAYS = 30  # the window of the top lists, hidden costs and latency
TOP = 10
SERIES_MODELS = 8  # models stacked by name in the daily chart; the rest is "other"
RATE_DAYS = 7  # whole days before today in the month-end run rate
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    label: str
    since: dt.datetime
    until: dt.datetime
    cost: Decimal
    calls: int


@dataclass(frozen=True, slots=True)
class ModelDay:
    day: dt.date
    model: str
    cost: Decimal
    calls: int


@dataclass(frozen=True, slots=True)
class TraceRow:
    trace_id: str
    calls: int
    cost: Decimal
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TraceStats:
    """Agent fan-out: traces (distinct trace ids), their calls and their cost."""

    traces: int
    calls: int
    cost: Decimal

    @property
    def calls_per_trace(self) -> float | None:
        return self.calls / self.traces if self.traces else None

    @property
    def cost_per_trace(self) -> Decimal | None:
        return (self.cost / self.traces).quantize(Decimal("1e-10")) if self.traces else None


@dataclass(frozen=True, slots=True)
class CallRow:
    id: str
    started_at: dt.datetime
    provider: str
    model: str
    feature: str | None
    user: str | None
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Overview:
    now: dt.datetime
    empty: bool
    today: Window
    last_7d: Window
    month_to_date: Window
    projected_month_end: Decimal | None  # None: not one whole day of history yet
    projection_note: str
    since: dt.datetime  # the start of the DAYS-day window below
    until: dt.datetime
    daily: list[ModelDay]
    top_models: list[ReportRow]
    top_users: list[ReportRow]
    top_features: list[ReportRow]
    top_fingerprints: list[ReportRow]
    top_traces: list[TraceRow]
    trace_stats: TraceStats
    top_calls: list[CallRow]
    hidden: HiddenCosts
    models: list[ModelStats]


def _midnight(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_bucket(moment: dt.datetime) -> int:
    return (moment - EPOCH) // _DAY


def _window(conn: Connection, label: str, since: dt.datetime, until: dt.datetime) -> Window:
    source = table("model", "day")
    ranges = [(_day_bucket(since), _day_bucket(until))]
    found = table_sums(conn, source, ranges, [], ("cost_total", "calls"))[0]
    return Window(label, since, until, Decimal(found.cost_total), int(found.calls))


def _daily(conn: Connection, since: dt.datetime, until: dt.datetime) -> list[ModelDay]:
    source = table("model", "day")
    ranges = [(_day_bucket(since), _day_bucket(until))]
    keys = [source.c.bucket, source.c.model]
    rows = table_sums(conn, source, ranges, keys, ("cost_total", "calls"))
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.model] = totals.get(row.model, Decimal(0)) + row.cost_total
    named = set(sorted(totals, key=lambda m: (-totals[m], m))[:SERIES_MODELS])
    merged: dict[tuple[int, str], list[Any]] = {}
    for row in rows:
        key = (row.bucket, row.model if row.model in named else "other")
        found = merged.setdefault(key, [Decimal(0), 0])
        found[0] += row.cost_total
        found[1] += row.calls
    return [
        ModelDay(bucket_start(bucket, "day").date(), model, cost, n)
        for (bucket, model), (cost, n) in sorted(merged.items())
    ]


def _projection(
    daily: list[ModelDay],
    mtd: Window,
    now: dt.datetime,
    first: dt.datetime | None,
    money: Callable[[Decimal], str] = usd,
) -> tuple[Decimal | None, str]:
    """Month-end: month to date + the mean of the whole days before today (the
    last RATE_DAYS, fewer when the first call is more recent) x the days left."""
    today = _midnight(now).date()
    if first is None or first.astimezone(dt.UTC).date() >= today:
        return None, "not enough data: the rate needs one whole UTC day of calls before today"
    whole = min(RATE_DAYS, (today - first.astimezone(dt.UTC).date()).days)
    start = today - dt.timedelta(days=whole)
    rate = sum((d.cost for d in daily if start <= d.day < today), Decimal(0)) / whole
    month_start = _midnight(now).replace(day=1)
    next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
    left = Decimal((next_month - now) / _DAY)
    projected = (mtd.cost + rate * left).quantize(Decimal("0.0000000001"))
    if whole == RATE_DAYS:
        days = f"the mean of the last {whole} whole UTC days"
    else:
        days = f"the mean of the {_days(whole)} since the first call: a rough guess"
    return projected, f"month to date + {money(rate)}/day ({days}) x {left:.1f} days left"


def _days(n: int) -> str:
    return "one whole UTC day" if n == 1 else f"{n} whole UTC days"


def _first_call(conn: Connection) -> dt.datetime | None:
    """When the ledger's first call started (one indexed row)."""
    found = conn.execute(select(calls.c.started_at).order_by(calls.c.started_at).limit(1)).first()
    return None if found is None else _aware(found.started_at)


def _top_traces(conn: Connection, since: dt.datetime) -> list[TraceRow]:
    traces = ROLLUPS["rollup_traces"]
    query = (
        select(traces)
        .where(traces.c.first_at >= since)
        .order_by(traces.c.cost_total.desc(), traces.c.trace_id)
        .limit(TOP)
    )
    return [
        TraceRow(r.trace_id, r.calls, r.cost_total, _aware(r.first_at), _aware(r.last_at))
        for r in conn.execute(query)
    ]


def _top_calls(conn: Connection, since: dt.datetime) -> list[CallRow]:
    c = calls.c
    query = (
        select(c.id, c.started_at, c.provider, c.model_served, c.model_requested)
        .add_columns(c.feature, c.user_id, c.cost_total)
        .where(c.cost_total.is_not(None), c.started_at >= since)
        .order_by(c.cost_total.desc(), c.id)
        .limit(TOP)
    )
    return [
        CallRow(
            r.id,
            _aware(r.started_at),
            r.provider,
            r.model_served or r.model_requested,
            r.feature,
            r.user_id,
            r.cost_total,
        )
        for r in conn.execute(query)
    ]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _tops(store: Store, since: dt.datetime, until: dt.datetime) -> dict[str, list[ReportRow]]:
    tops = {}
    for name, by in (("models", "model"), ("users", "user"), ("features", "feature")):
        tops[f"top_{name}"] = spend_report(store, since, by, until)[:TOP]  # type: ignore[arg-type]
    return tops


def overview(
    store: Store, now: dt.datetime | None = None, money: Callable[[Decimal], str] = usd
) -> Overview:
    """The overview as of ``now`` (default: the current time, UTC); ``money``
    words the projection's daily rate (a USD amount)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    midnight = _midnight(now)
    tomorrow = midnight + _DAY
    since = tomorrow - DAYS * _DAY
    with store.engine.connect() as conn:
        today = _window(conn, "today", midnight, tomorrow)
        week = _window(conn, "last 7 days", tomorrow - 7 * _DAY, tomorrow)
        mtd = _window(conn, "month to date", midnight.replace(day=1), tomorrow)
        daily = _daily(conn, min(since, mtd.since), tomorrow)
        traces, top_calls = _top_traces(conn, since), _top_calls(conn, since)
        hidden, models = performance(conn, since, tomorrow)
        fingerprints = _top_fingerprints(conn, since, tomorrow)
        trace_stats = _trace_stats(conn, since, tomorrow)
        first = _first_call(conn)
    projected, note = _projection(daily, mtd, now, first, money)
    return Overview(
        now=now,
        empty=first is None,
        today=today,
        last_7d=week,
        month_to_date=mtd,
        projected_month_end=projected,
        projection_note=note,
        since=since,
        until=tomorrow,
        daily=[d for d in daily if d.day >= since.date()],
        top_fingerprints=fingerprints,
        top_traces=traces,
        trace_stats=trace_stats,
        top_calls=top_calls,
        hidden=hidden,
        models=models,
        **_tops(store, since, tomorrow),
    )


def _trace_stats(conn: Connection, since: dt.datetime, until: dt.datetime) -> TraceStats:
    """The traces that started in [since, until): distinct trace ids, their calls
    and cost (from the per-trace rollup)."""
    traces = ROLLUPS["rollup_traces"]
    query = select(
        func.count().label("traces"),
        func.coalesce(func.sum(traces.c.calls), 0).label("calls"),
        func.coalesce(func.sum(traces.c.cost_total), 0).label("cost"),
    ).where(traces.c.first_at >= since, traces.c.first_at < until)
    row = conn.execute(query).one()
    return TraceStats(traces=int(row.traces), calls=int(row.calls), cost=Decimal(row.cost))


def _top_fingerprints(
    conn: Connection, since: dt.datetime, until: dt.datetime, limit: int | None = TOP
) -> list[ReportRow]:
    source = table("dim", "day")
    ranges = [(_day_bucket(since), _day_bucket(until))]
    measures = ("calls", "input_tokens", "output_tokens", "cost_total", "unpriced", "errors")
    rows = table_sums(
        conn, source, ranges, [source.c.value], measures, [source.c.kind == "fingerprint"]
    )
    found = [
        ReportRow(
            r.value, r.calls, r.input_tokens, r.output_tokens, r.cost_total, r.unpriced, r.errors
        )
        for r in rows
        if r.value
    ]
    return sorted(found, key=lambda r: (-r.cost_total, -r.calls, r.key or ""))[:limit]
