"""The call explorer's queries: totals, a page of calls, spend over time, a trace.

Everything is computed in SQL over the filtered ``calls`` (``CallFilter``), so
the work is bounded by the filter and never loads a whole table:

- ``totals``: one aggregate row; money sums exactly (``Fixed`` sums as NUMERIC
  on PostgreSQL and as integer 1e-10 units on SQLite, as in ``report``).
- ``call_page``: newest first, keyset-paginated on ``(started_at, id)`` with a
  LIMIT, so page 1000 costs what page 1 does (the ``started_at`` index).
- ``spend_series``: calls and cost per UTC hour or day.
- ``trace_tree``: a trace's calls as a tree by ``parent_id`` (a parent that is
  not a call of the trace makes its child a root).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, case, func, or_, select

from llmtally.analytics.filters import ERROR_STATUS, CallFilter, FilterError, check_text
from llmtally.analytics.rollup_query import started_bucket
from llmtally.ledger.rows import row_to_call
from llmtally.ledger.schema import calls

if TYPE_CHECKING:
    from sqlalchemy.sql import ColumnElement

    from llmtally.ledger.store import Store
    from llmtally.usage import Call

__all__ = [
    "PAGE_SIZE",
    "TRACE_LIMIT",
    "Bucket",
    "CallPage",
    "Cursor",
    "SpendPoint",
    "Totals",
    "Trace",
    "TraceRow",
    "call_page",
    "has_calls",
    "pick_bucket",
    "raw_series",
    "raw_totals",
    "spend_series",
    "totals",
    "trace_tree",
]

PAGE_SIZE = 50
TRACE_LIMIT = 2000
HOURLY_UP_TO = dt.timedelta(days=3)
Bucket = Literal["hour", "day"]


@dataclass(frozen=True, slots=True)
class Totals:
    """The filtered calls in sum; ``cost_total`` covers the ``calls - unpriced`` priced ones."""

    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    cost_total: Decimal
    unpriced: int
    errors: int


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0).label(name)


def totals(store: Store, where: CallFilter) -> Totals:
    """The filtered calls in sum: from the rollups when the filter is on time,
    provider and model only, else from ``calls``."""
    from llmtally.analytics.explorer_rollups import rollup_totals

    found = rollup_totals(store, where)
    return raw_totals(store, where) if found is None else found


def raw_totals(store: Store, where: CallFilter, also: ColumnElement[bool] | None = None) -> Totals:
    """The filtered calls (and ``also``) in sum, read from ``calls``."""
    query = select(
        func.count().label("calls"),
        _sum(calls.c.input_tokens, "input_tokens"),
        _sum(calls.c.output_tokens, "output_tokens"),
        _sum(calls.c.cache_read_tokens, "cache_read_tokens"),
        _sum(calls.c.reasoning_tokens, "reasoning_tokens"),
        func.sum(calls.c.cost_total).label("cost_total"),
        _count_if(calls.c.cost_total.is_(None)).label("unpriced"),
        _count_if(calls.c.status >= ERROR_STATUS).label("errors"),
    )
    query = where.apply(query, store.dialect)
    if also is not None:
        query = query.where(also)
    with store.engine.connect() as conn:
        row = conn.execute(query).one()
    return Totals(
        calls=int(row.calls),
        input_tokens=int(row.input_tokens),
        output_tokens=int(row.output_tokens),
        cache_read_tokens=int(row.cache_read_tokens),
        reasoning_tokens=int(row.reasoning_tokens),
        cost_total=Decimal(0) if row.cost_total is None else row.cost_total,
        unpriced=int(row.unpriced),
        errors=int(row.errors),
    )


def has_calls(store: Store) -> bool:
    """Whether the ledger holds any call at all (one indexed row, not a count)."""
    with store.engine.connect() as conn:
        return conn.execute(select(calls.c.id).limit(1)).first() is not None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of calls ends: the next page holds the calls before it."""

    started_at: dt.datetime
    id: str

    def text(self) -> str:
        return f"{self.started_at.astimezone(dt.UTC).isoformat()}~{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        moment, sep, call_id = text.partition("~")
        try:
            if not sep or not call_id:
                raise ValueError(text)
            started = dt.datetime.fromisoformat(moment)
            if started.tzinfo is None:
                raise ValueError(text)
            started = started.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            raise FilterError(
                f"before: {text!r} is not a page position (follow the 'Older' link)"
            ) from None
        return cls(started, check_text("before", call_id))


@dataclass(frozen=True, slots=True)
class CallPage:
    calls: list[Call]
    next: Cursor | None  # None on the last page


def call_page(
    store: Store, where: CallFilter, before: Cursor | None = None, limit: int = PAGE_SIZE
) -> CallPage:
    """Up to ``limit`` filtered calls, newest first, strictly before ``before``."""
    query = select(calls).order_by(calls.c.started_at.desc(), calls.c.id.desc())
    query = where.apply(query, store.dialect)
    if before is not None:
        at = before.started_at.astimezone(dt.UTC)
        query = query.where(
            or_(calls.c.started_at < at, and_(calls.c.started_at == at, calls.c.id < before.id))
        )
    with store.engine.connect() as conn:
        found = [row_to_call(row) for row in conn.execute(query.limit(limit + 1)).mappings()]
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if more else None
    return CallPage(found, Cursor(last.started_at, last.id) if last else None)


@dataclass(frozen=True, slots=True)
class SpendPoint:
    """One UTC bucket: ``2026-11-01`` (day) or ``2026-11-01 09:00`` (hour)."""

    bucket: str
    calls: int
    cost_total: Decimal
    errors: int


def pick_bucket(where: CallFilter, now: dt.datetime) -> Bucket:
    """Hours for a range of up to three days, else days."""
    if where.since is None:
        return "day"
    return "hour" if (where.until or now) - where.since <= HOURLY_UP_TO else "day"


def spend_series(store: Store, where: CallFilter, bucket: Bucket) -> list[SpendPoint]:
    """Calls, exact cost and errors per bucket, oldest first; empty buckets are absent."""
    from llmtally.analytics.explorer_rollups import rollup_series

    found = rollup_series(store, where, bucket)
    return raw_series(store, where, bucket) if found is None else found


def raw_series(
    store: Store, where: CallFilter, bucket: Bucket, also: ColumnElement[bool] | None = None
) -> list[SpendPoint]:
    """``spend_series`` read from ``calls`` (and ``also``)."""
    key = started_bucket(store.dialect, bucket == "hour").label("bucket")
    query = select(
        key,
        func.count().label("calls"),
        func.sum(calls.c.cost_total).label("cost_total"),
        _count_if(calls.c.status >= ERROR_STATUS).label("errors"),
    )
    query = where.apply(query, store.dialect).group_by(key).order_by(key)
    if also is not None:
        query = query.where(also)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        SpendPoint(
            bucket=str(row.bucket),
            calls=int(row.calls),
            cost_total=Decimal(0) if row.cost_total is None else row.cost_total,
            errors=int(row.errors),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class TraceRow:
    """A call in a trace's tree, ``depth`` levels below a root."""

    call: Call
    depth: int
    parent_missing: bool  # it names a parent that is not a call of this trace


@dataclass(frozen=True, slots=True)
class Trace:
    trace_id: str
    rows: list[TraceRow]  # depth-first, each call after its parent, siblings oldest first
    totals: Totals
    truncated: bool  # more than TRACE_LIMIT calls: the tree shows the first ones


def trace_tree(store: Store, trace_id: str, limit: int = TRACE_LIMIT) -> Trace | None:
    """The calls of ``trace_id`` as a tree, or None when no call has that trace."""
    where = CallFilter(trace=check_text("trace", trace_id))
    query = where.apply(select(calls), store.dialect)
    query = query.order_by(calls.c.started_at, calls.c.id).limit(limit + 1)
    with store.engine.connect() as conn:
        found = [row_to_call(row) for row in conn.execute(query).mappings()]
    if not found:
        return None
    return Trace(trace_id, _tree(found[:limit]), totals(store, where), len(found) > limit)


def _tree(found: list[Call]) -> list[TraceRow]:
    """Depth-first rows; a call whose parent chain loops back is shown as a root."""
    ids = {call.id for call in found}
    children: dict[str, list[Call]] = defaultdict(list)
    roots = []
    for call in found:
        if call.parent_id is not None and call.parent_id in ids and call.parent_id != call.id:
            children[call.parent_id].append(call)
        else:
            roots.append(call)
    rows: list[TraceRow] = []
    seen: set[str] = set()

    def walk(start: Call) -> None:
        stack = [(start, 0)]
        while stack:
            node, depth = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            missing = node.parent_id is not None and node.parent_id not in ids
            rows.append(TraceRow(node, depth, missing))
            stack.extend((child, depth + 1) for child in reversed(children[node.id]))

    for call in roots + found:  # the roots; then any call only a loop of parents reaches
        if call.id not in seen:
            walk(call)
    return rows
