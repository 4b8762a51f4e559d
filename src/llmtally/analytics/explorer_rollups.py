"""The explorer's totals and spend chart from the rollups, when the filter allows.

A filter on time, provider and model only (the explorer's default page) is
answered from the provider x model rollups: whole days and hours from the
rollup tables, the minutes at either end from ``calls`` with the same filter
(``llmtally.analytics.ranges``). Any other filter (user, tag, status, ...)
returns None and the caller reads ``calls``.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmtally.analytics.explorer import Bucket, SpendPoint, Totals
from llmtally.analytics.filters import model_condition
from llmtally.analytics.ranges import EPOCH, Plan, bucket_start, plan_range
from llmtally.analytics.rollup_query import grain_parts, started_in, table, table_sums

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.sql import ColumnElement

    from llmtally.analytics.filters import CallFilter
    from llmtally.ledger.store import Store

__all__ = ["rollup_series", "rollup_totals", "uses_rollups"]

_RAW_ONLY = ("user", "feature", "key", "tag", "trace", "status")
_TOTALS = tuple(f.name for f in dataclasses.fields(Totals))
_SERIES = ("calls", "cost_total", "errors")


def uses_rollups(where: CallFilter) -> bool:
    """Whether ``where`` constrains only time, provider and model."""
    return all(getattr(where, name) is None for name in _RAW_ONLY)


def _plan(where: CallFilter, days: bool) -> Plan:
    return plan_range(where.since or EPOCH, where.until, days=days)


def _conditions(source: Table, where: CallFilter) -> list[ColumnElement[bool]]:
    found = []
    if where.provider is not None:
        found.append(source.c.provider == where.provider)
    if where.model is not None:
        model = source.c.model
        found.append(model_condition(where.model, lambda name: model == name, source.c.provider))
    return found


def rollup_totals(store: Store, where: CallFilter) -> Totals | None:
    """The filter's totals from the rollups, or None when it needs ``calls``."""
    if not uses_rollups(where):
        return None
    from llmtally.analytics.explorer import raw_totals

    plan = _plan(where, days=True)
    sums: dict[str, Any] = dict.fromkeys(_TOTALS, 0)
    if plan.raw:
        edge = raw_totals(store, where, started_in(plan.raw))
        sums = {name: getattr(edge, name) for name in _TOTALS}
    with store.engine.connect() as conn:
        for grain, ranges in grain_parts(plan):
            source = table("model", grain)
            where_rows = _conditions(source, where)
            (row,) = table_sums(conn, source, ranges, [], _TOTALS, where_rows)
            for name in _TOTALS:
                sums[name] += row._mapping[name]
    # PostgreSQL sums BIGINT as NUMERIC: counts back to int
    counts = {name: int(value) for name, value in sums.items() if name != "cost_total"}
    return Totals(**counts, cost_total=Decimal(sums["cost_total"]))


def _label(bucket: int, grain: str, shown: Bucket) -> str:
    start = bucket_start(bucket, grain)
    return start.strftime("%Y-%m-%d %H:00" if shown == "hour" else "%Y-%m-%d")


def rollup_series(store: Store, where: CallFilter, bucket: Bucket) -> list[SpendPoint] | None:
    """Spend per hour or day from the rollups, or None when the filter needs ``calls``."""
    if not uses_rollups(where):
        return None
    from llmtally.analytics.explorer import raw_series

    plan = _plan(where, days=bucket == "day")
    merged: dict[str, list[Any]] = {}
    edges = raw_series(store, where, bucket, started_in(plan.raw)) if plan.raw else []
    for point in edges:
        merged[point.bucket] = [point.calls, point.cost_total, point.errors]
    with store.engine.connect() as conn:
        for grain, ranges in grain_parts(plan):
            source = table("model", grain)
            keys = [source.c.bucket]
            for row in table_sums(conn, source, ranges, keys, _SERIES, _conditions(source, where)):
                found = merged.setdefault(_label(row.bucket, grain, bucket), [0, Decimal(0), 0])
                found[0] += row.calls
                found[1] += row.cost_total
                found[2] += row.errors
    return [
        SpendPoint(label, int(n), Decimal(cost), int(errors))
        for label, (n, cost, errors) in sorted(merged.items())
        if n
    ]
