"""Spend reports: calls, tokens and exact cost per group, summed in SQL.

Every group is one ``GROUP BY`` over the ``calls`` table (SQLAlchemy Core), so
the sums are exact on both databases (``Fixed`` sums as NUMERIC on PostgreSQL
and as integer 1e-10 units on SQLite). ``day`` and ``hour`` are UTC buckets
written ``2026-11-01`` and ``2026-11-01 09:00``. ``tag`` groups by the stored
JSON text in SQL and then splits it in Python, because JSON functions differ
between SQLite and PostgreSQL: a call with two tags counts under each, so tag
rows may add up to more than ``spend_total``.

The range is ``since <= started_at < until``; ``cost_total`` sums the priced
calls only, and ``unpriced`` says how many had no cost.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import case, func, select
from sqlalchemy.sql import ColumnElement

from llmtally.ledger.schema import calls

if TYPE_CHECKING:
    from sqlalchemy import Select

    from llmtally.ledger.store import Store

__all__ = ["GROUPS", "GroupBy", "ReportRow", "spend_report", "spend_total"]

GroupBy = Literal["model", "provider", "user", "feature", "key", "tag", "trace", "day", "hour"]
GROUPS: tuple[str, ...] = get_args(GroupBy)
ERROR_STATUS = 400


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


def _bucket(dialect: str, hour: bool) -> ColumnElement[Any]:
    started = calls.c.started_at
    if dialect == "postgresql":
        pattern = 'YYYY-MM-DD HH24":00"' if hour else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", started), pattern)
    # SQLite stores UTC as text, 'YYYY-MM-DD HH:MM:SS.ffffff'
    if hour:
        return func.substr(started, 1, 13).concat(":00")
    return func.substr(started, 1, 10)


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
        return _bucket(dialect, by == "hour")
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


def _check_range(since: dt.datetime, until: dt.datetime | None) -> None:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. UTC), got {moment}")
    if until is not None and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")


def _in_range(query: Select[Any], since: dt.datetime, until: dt.datetime | None) -> Select[Any]:
    query = query.where(calls.c.started_at >= since.astimezone(dt.UTC))
    if until is not None:
        query = query.where(calls.c.started_at < until.astimezone(dt.UTC))
    return query


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


def spend_report(
    store: Store, since: dt.datetime, by: GroupBy, until: dt.datetime | None = None
) -> list[ReportRow]:
    """Spend per ``by`` group for calls in ``[since, until)``, the most costly first."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUPS)}")
    _check_range(since, until)
    key = _key(by, store.dialect).label("key")
    query = _in_range(select(key, *_aggregates()), since, until).group_by(key)
    with store.engine.connect() as conn:
        rows = [_row(found.key, found) for found in conn.execute(query)]
    if by == "tag":
        rows = _split_tags(rows)
    return sorted(rows, key=_order)


def spend_total(store: Store, since: dt.datetime, until: dt.datetime | None = None) -> ReportRow:
    """Every call in ``[since, until)`` as one row keyed ``"total"``."""
    _check_range(since, until)
    query = _in_range(select(*_aggregates()), since, until)
    with store.engine.connect() as conn:
        found = conn.execute(query).one()
    return _row("total", found)
