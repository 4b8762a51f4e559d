"""Sums read from the rollup tables over the bucket ranges of a ``Plan``.

One ``SELECT keys, SUM(measures) .. GROUP BY keys`` per table; the caller adds
the raw-edge part (``Plan.raw``) from ``calls`` and merges by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, false, func, or_, select
from sqlalchemy.sql import ColumnElement

from llmtally.analytics.ranges import BucketRange, Plan, TimeRange
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.ledger.schema import calls

__all__ = ["buckets_in", "grain_parts", "started_bucket", "started_in", "table", "table_sums"]


def table(family: str, grain: str) -> Table:
    """``rollup_<family>_<grain>``."""
    return ROLLUPS[f"rollup_{family}_{grain}"]


def buckets_in(source: Table, ranges: Sequence[BucketRange]) -> ColumnElement[bool]:
    """Rows of ``source`` whose bucket lies in any of ``ranges``."""
    bucket = source.c.bucket
    parts = [
        bucket >= low if high is None else and_(bucket >= low, bucket < high)
        for low, high in ranges
    ]
    return or_(false(), *parts)


def started_in(ranges: Sequence[TimeRange]) -> ColumnElement[bool]:
    """Calls that started in any of ``ranges``."""
    started = calls.c.started_at
    parts = [
        started >= low if high is None else and_(started >= low, started < high)
        for low, high in ranges
    ]
    return or_(false(), *parts)


def started_bucket(dialect: str, hour: bool) -> ColumnElement[Any]:
    """A call's UTC hour (``2026-11-01 09:00``) or day (``2026-11-01``) as text, in SQL."""
    started = calls.c.started_at
    if dialect == "postgresql":
        pattern = 'YYYY-MM-DD HH24":00"' if hour else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", started), pattern)
    # SQLite stores UTC as text, 'YYYY-MM-DD HH:MM:SS.ffffff'
    if hour:
        return func.substr(started, 1, 13).concat(":00")
    return func.substr(started, 1, 10)


def grain_parts(plan: Plan) -> list[tuple[str, list[BucketRange]]]:
    """(grain, bucket ranges) for each grain the plan reads, hours first."""
    return [(grain, ranges) for grain, ranges in (("hour", plan.hour), ("day", plan.day)) if ranges]


def table_sums(
    conn: Connection,
    source: Table,
    ranges: Sequence[BucketRange],
    keys: Sequence[ColumnElement[Any]],
    measures: Sequence[str],
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Row[Any]]:
    """``keys`` + the sum of each measure (labelled by name) over ``ranges``."""
    sums = [func.coalesce(func.sum(source.c[name]), 0).label(name) for name in measures]
    query = select(*keys, *sums).where(buckets_in(source, ranges), *where)
    if keys:
        query = query.group_by(*keys)
    return list(conn.execute(query))
