"""Spend reports: calls, tokens and exact cost per group, summed in SQL.

Whole hours and days are summed from the rollup tables, the minutes at either
end of the range from the ``calls`` table (``llmtally.analytics.ranges``), so a
report over 30 days reads a few thousand rollup rows instead of every call.
Sums are exact on both databases (``Fixed`` sums as NUMERIC on PostgreSQL
and as integer 1e-10 units on SQLite). ``day`` and ``hour`` are UTC buckets
written ``2026-11-01`` and ``2026-11-01 09:00``; ``week`` is keyed by its Monday.
``tag`` groups by the stored JSON text in SQL and then splits it in Python (raw
edges) or reads per-tag rollups, because JSON functions differ
between SQLite and PostgreSQL: a call with two tags counts under each, so tag
rows may add up to more than ``spend_total``.

The range is ``since <= started_at < until``; ``cost_total`` sums the priced
calls only, and ``unpriced`` says how many had no cost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import Connection, case, func, select
from sqlalchemy.sql import ColumnElement

from llmtally.analytics.ranges import Plan, TimeRange, bucket_start, check_range, plan_range
from llmtally.analytics.rollup_query import (
    grain_parts,
    started_bucket,
    started_in,
    table,
    table_sums,
)
from llmtally.ledger.schema import calls

if TYPE_CHECKING:
    from sqlalchemy import Select

    from llmtally.ledger.store import Store

__all__ = ["GROUPS", "GroupBy", "ReportRow", "spend_report", "spend_report_raw", "spend_total"]

GroupBy = Literal[
    "model", "provider", "user", "feature", "key", "tag", "trace", "day", "week", "hour"
]
GROUPS: tuple[str, ...] = get_args(GroupBy)
ERROR_STATUS = 400
_DIM_KINDS = {"user": "user", "feature": "feature", "key": "key", "tag": "tag"}
_MEASURES = ("calls", "input_tokens", "output_tokens", "cost_total", "unpriced", "errors")


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group: ``key`` is None for calls without that attribute (no user, no tag)."""

    key: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cost_total: Decimal
    unpriced: int
    errors: int

    def __add__(self, other: ReportRow) -> ReportRow:
        return replace(
            self,
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_total=self.cost_total + other.cost_total,
            unpriced=self.unpriced + other.unpriced,
            errors=self.errors + other.errors,
        )


def _key(by: str, dialect: str) -> ColumnElement[Any]:
    columns: dict[str, ColumnElement[Any]] = {
        "model": func.coalesce(calls.c.model_served, calls.c.model_requested),
        "provider": calls.c.provider,
        "user": calls.c.user_id,
        "feature": calls.c.feature,
        "key": calls.c.key_id,
        "trace": calls.c.trace_id,
        "tag": calls.c.tags,
    }
    if by in ("day", "hour"):
        return started_bucket(dialect, by == "hour")
    return columns[by]


def _aggregates() -> list[ColumnElement[Any]]:
    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [
        func.count().label("calls"),
        func.coalesce(func.sum(calls.c.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(calls.c.output_tokens), 0).label("output_tokens"),
        func.sum(calls.c.cost_total).label("cost_total"),
        count_if(calls.c.cost_total.is_(None)).label("unpriced"),
        count_if(calls.c.status >= ERROR_STATUS).label("errors"),
    ]


def _in_range(query: Select[Any], ranges: Sequence[TimeRange]) -> Select[Any]:
    return query.where(
        started_in([(a.astimezone(dt.UTC), b and b.astimezone(dt.UTC)) for a, b in ranges])
    )


def _row(key: str | None, values: Any) -> ReportRow:
    return ReportRow(
        key=key,
        calls=int(values.calls),
        input_tokens=int(values.input_tokens),
        output_tokens=int(values.output_tokens),
        cost_total=Decimal(0) if values.cost_total is None else values.cost_total,
        unpriced=int(values.unpriced),
        errors=int(values.errors),
    )


def _split_tags(rows: list[ReportRow]) -> list[ReportRow]:
    """Rows keyed by a JSON list of tags -> one row per tag (None: no tag)."""
    merged: dict[str | None, ReportRow] = {}
    for row in rows:
        tags: list[str | None] = list(json.loads(row.key)) if row.key else []
        for tag in dict.fromkeys(tags or [None]):
            found = merged.get(tag)
            merged[tag] = replace(row, key=tag) if found is None else found + row
    return list(merged.values())


def _order(row: ReportRow) -> tuple[Decimal, int, bool, str]:
    return (-row.cost_total, -row.calls, row.key is None, row.key or "")


def _raw_report(conn: Connection, by: str, ranges: Sequence[TimeRange]) -> list[ReportRow]:
    """The report straight from ``calls`` over ``ranges``."""
    if not ranges:
        return []
    key = _key(by, conn.dialect.name).label("key")
    query = _in_range(select(key, *_aggregates()), ranges).group_by(key)
    rows = [_row(found.key, found) for found in conn.execute(query)]
    return _split_tags(rows) if by == "tag" else rows


def _rollup_report(conn: Connection, by: str, plan: Plan) -> list[ReportRow]:
    rows: list[ReportRow] = []
    for grain, ranges in grain_parts(plan):
        if by in _DIM_KINDS:
            source = table("dim", grain)
            keys: list[ColumnElement[Any]] = [source.c.value]
            where = [source.c.kind == _DIM_KINDS[by]]
        else:
            source = table("model", grain)
            keys = [source.c[by]] if by in ("model", "provider") else [source.c.bucket]
            where = []
        for found in table_sums(conn, source, ranges, keys, _MEASURES, where):
            rows.append(_row(_rollup_key(by, grain, found[0]), found))
    return rows


def _rollup_key(by: str, grain: str, value: Any) -> str | None:
    if by == "day":
        return bucket_start(value, grain).strftime("%Y-%m-%d")
    if by == "hour":
        return bucket_start(value, grain).strftime("%Y-%m-%d %H:00")
    if by in _DIM_KINDS:
        return value or None
    return str(value)


def _weeks(days: Sequence[ReportRow]) -> list[ReportRow]:
    """Day rows -> ISO week rows keyed by the week's Monday (``2026-11-02``)."""
    weeks = []
    for row in days:
        day = dt.date.fromisoformat(str(row.key))
        weeks.append(replace(row, key=(day - dt.timedelta(days=day.weekday())).isoformat()))
    return _merge(weeks)


def _merge(rows: Sequence[ReportRow]) -> list[ReportRow]:
    merged: dict[str | None, ReportRow] = {}
    for row in rows:
        found = merged.get(row.key)
        merged[row.key] = row if found is None else found + row
    return list(merged.values())


def spend_report(
    store: Store, since: dt.datetime, by: GroupBy, until: dt.datetime | None = None
) -> list[ReportRow]:
    """Spend per ``by`` group for calls in ``[since, until)``, the most costly first.

    Whole hours and days come from the rollup tables, the minutes at either end
    (and every ``trace`` group) from ``calls``."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUPS)}")
    check_range(since, until)
    with store.engine.connect() as conn:
        if by == "trace":
            rows = _raw_report(conn, by, [(since, until)])
        elif by == "week":
            rows = _weeks(spend_report(store, since, "day", until))
        else:
            plan = plan_range(since, until, days=by != "hour")
            rows = _merge([*_raw_report(conn, by, plan.raw), *_rollup_report(conn, by, plan)])
    return sorted(rows, key=_order)


def spend_report_raw(
    store: Store, since: dt.datetime, by: GroupBy, until: dt.datetime | None = None
) -> list[ReportRow]:
    """The same report computed from ``calls`` alone (no rollups): the
    baseline the rollups are checked and benchmarked against."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUPS)}")
    check_range(since, until)
    if by == "week":
        return sorted(_weeks(spend_report_raw(store, since, "day", until)), key=_order)
    with store.engine.connect() as conn:
        return sorted(_raw_report(conn, by, [(since, until)]), key=_order)


def spend_total(store: Store, since: dt.datetime, until: dt.datetime | None = None) -> ReportRow:
    """Every call in ``[since, until)`` as one row keyed ``"total"``."""
    check_range(since, until)
    plan = plan_range(since, until)
    total = ReportRow("total", 0, 0, 0, Decimal(0), 0, 0)
    with store.engine.connect() as conn:
        if plan.raw:
            total += _row("total", conn.execute(_in_range(select(*_aggregates()), plan.raw)).one())
        for grain, ranges in grain_parts(plan):
            for found in table_sums(conn, table("model", grain), ranges, [], _MEASURES):
                total += _row("total", found)
    return total
