"""The dashboard's overview in the user's currency (:mod:`llmtally.analytics.shown`).

Every figure is the USD overview's, converted by the rule: a day's spend at
that day's rate, a window's spend as the sum of its converted days (read per
rate segment: rates change on few days). A call converts at its own day, a
trace at the day it started (its calls are seconds apart). The month-end
projection is month to date (converted) plus the daily run rate times the
days left at today's rate, the latest one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmtally.analytics.hidden import HiddenCosts, performance
from llmtally.analytics.overview import (
    TOP,
    Overview,
    TraceStats,
    Window,
    _top_fingerprints,
    _trace_stats,
    _window,
    overview,
)
from llmtally.analytics.report import GroupBy, ReportRow
from llmtally.analytics.report_shown import shown_report
from llmtally.analytics.shown import rate_text

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from llmtally.analytics.shown import Shown
    from llmtally.ledger.store import Store

__all__ = ["overview_in"]

_COUNTS = ("calls", "role_calls")  # HiddenCosts fields that are not money


def overview_in(store: Store, shown: Shown, now: dt.datetime | None = None) -> Overview:
    """``overview(store, now)`` with every amount in ``shown``'s currency."""
    if shown.is_pivot:
        return overview(store, now)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    found = overview(store, now, lambda usd: f"{shown.text(shown.on(usd, today))}")
    if found.empty:
        return found
    with store.engine.connect() as conn:
        windows = [_window_in(conn, w, shown) for w in (found.today, found.last_7d)]
        mtd = _window_in(conn, found.month_to_date, shown)
        hidden, model_costs = _performance_in(conn, found.since, found.until, shown)
        stats = _trace_stats_in(conn, found.since, found.until, shown)
        prints = _fingerprints_in(conn, found.since, found.until, shown)
    projected, note = _projection_in(found, mtd, shown)
    return replace(
        found,
        today=windows[0],
        last_7d=windows[1],
        month_to_date=mtd,
        projected_month_end=projected,
        projection_note=note,
        daily=[replace(d, cost=shown.on(d.cost, d.day)) for d in found.daily],
        top_fingerprints=prints,
        top_traces=[replace(t, cost=shown.at(t.cost, t.first_at)) for t in found.top_traces],
        trace_stats=stats,
        top_calls=[replace(c, cost=shown.at(c.cost, c.started_at)) for c in found.top_calls],
        hidden=hidden,
        top_models=_top(store, found, "model", shown),
        top_users=_top(store, found, "user", shown),
        top_features=_top(store, found, "feature", shown),
        models=[
            replace(m, cost=model_costs.get((m.provider, m.model), m.cost)) for m in found.models
        ],
    )


def _top(store: Store, found: Overview, by: GroupBy, shown: Shown) -> list[ReportRow]:
    rows = shown_report(store, found.since, by, found.until, shown)[:TOP]
    return [replace(r.row, cost_total=r.cost) for r in rows]


def _window_in(conn: Connection, window: Window, shown: Shown) -> Window:
    cost = shown.over(
        window.since, window.until, lambda a, b: _window(conn, window.label, a, b).cost
    )
    return replace(window, cost=cost)


def _projection_in(found: Overview, mtd: Window, shown: Shown) -> tuple[Decimal | None, str]:
    """Month to date (converted) + what the USD projection adds, at today's rate."""
    if found.projected_month_end is None:
        return None, found.projection_note
    today = shown.rate_on(found.now.date())
    more = found.projected_month_end - found.month_to_date.cost
    rate = f"{rate_text(today.rate)} {shown.code} per USD"
    note = f"{found.projection_note}, at today's rate ({rate}, {today.rate_date.isoformat()})"
    return mtd.cost + shown.on(more, found.now.date()), note


def _performance_in(
    conn: Connection, since: dt.datetime, until: dt.datetime, shown: Shown
) -> tuple[HiddenCosts, dict[tuple[str, str], Decimal]]:
    """The hidden costs and each model's cost, summed over the rate segments."""
    total: HiddenCosts | None = None
    costs: dict[tuple[str, str], Decimal] = {}
    for part in shown.segments(since, until):
        hidden, models = performance(conn, part.since, part.until)
        for m in models:
            key = (m.provider, m.model)
            costs[key] = costs.get(key, Decimal(0)) + shown.on(m.cost, part.rate_day)
        money: dict[str, Any] = {
            f.name: shown.on(getattr(hidden, f.name), part.rate_day)
            for f in fields(hidden)
            if f.name not in _COUNTS
        }
        hidden = replace(hidden, **money)
        if total is not None:
            added: dict[str, Any] = {
                f.name: getattr(total, f.name) + getattr(hidden, f.name) for f in fields(hidden)
            }
            hidden = replace(hidden, **added)
        total = hidden
    assert total is not None
    return total, costs


def _trace_stats_in(
    conn: Connection, since: dt.datetime, until: dt.datetime, shown: Shown
) -> TraceStats:
    traces, calls, cost = 0, 0, Decimal(0)
    for part in shown.segments(since, until):
        found = _trace_stats(conn, part.since, part.until)
        traces, calls = traces + found.traces, calls + found.calls
        cost += shown.on(found.cost, part.rate_day)
    return TraceStats(traces, calls, cost)


def _fingerprints_in(
    conn: Connection, since: dt.datetime, until: dt.datetime, shown: Shown
) -> list[ReportRow]:
    merged: dict[str | None, ReportRow] = {}
    for part in shown.segments(since, until):
        for row in _top_fingerprints(conn, part.since, part.until, limit=None):
            row = replace(row, cost_total=shown.on(row.cost_total, part.rate_day))
            before = merged.get(row.key)
            merged[row.key] = row if before is None else before + row
    found = sorted(merged.values(), key=lambda r: (-r.cost_total, -r.calls, r.key or ""))
    return found[:TOP]
