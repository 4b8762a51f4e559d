"""A cap per (feature, provider, model), for one query over every capped group
at once: the caps go to a temporary table for the length of one connection, and
each call reads its group's cap by primary key (a scalar subquery: NULL when its
group has none). ``trim`` caps history, ``cap_output`` caps output; both sum the
tokens above the cap per cell (``llmtally.advisor.cells``) in one statement
instead of one per group. ``ids_above``: the calls a cap would change, as
sample calls to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
)

from llmtally.advisor.cells import NO_FEATURE, period_filter
from llmtally.advisor.period import Period
from llmtally.advisor.sent_calls import sent_condition
from llmtally.ledger.schema import calls

__all__ = [
    "GroupKey",
    "group_caps",
    "group_columns",
    "group_values",
    "ids_above",
    "rows_with_caps",
]

GroupKey = tuple[str, str, str]  # feature, provider, model

_scratch = MetaData()
_caps = Table(
    "advisor_group_caps",
    _scratch,
    Column("g_feature", Text, primary_key=True),
    Column("g_provider", Text, primary_key=True),
    Column("g_model", Text, primary_key=True),
    Column("cap", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


def group_values() -> list[ColumnElement[Any]]:
    """(feature, provider, model) of a call, as ``cell_keys`` computes them."""
    return [
        func.coalesce(calls.c.feature, NO_FEATURE),
        calls.c.provider,
        func.coalesce(calls.c.model_served, calls.c.model_requested),
    ]


def group_columns() -> list[ColumnElement[Any]]:
    """``group_values`` labelled g_feature, g_provider, g_model."""
    names = ("g_feature", "g_provider", "g_model")
    return [value.label(name) for value, name in zip(group_values(), names, strict=True)]


@contextmanager
def group_caps(conn: Connection, caps: Mapping[GroupKey, int]) -> Iterator[ColumnElement[Any]]:
    """Within the block: a call's group cap (NULL: not capped), as a scalar subquery.
    The caller rolls ``conn`` back when done."""
    _caps.create(conn, checkfirst=True)
    conn.execute(_caps.delete())
    rows = [
        {"g_feature": f, "g_provider": p, "g_model": m, "cap": cap}
        for (f, p, m), cap in caps.items()
    ]
    if rows:
        conn.execute(insert(_caps), rows)
    columns = (_caps.c.g_feature, _caps.c.g_provider, _caps.c.g_model)
    same = and_(*(column == value for column, value in zip(columns, group_values(), strict=True)))
    try:
        yield select(_caps.c.cap).where(same).scalar_subquery()
    finally:
        _caps.drop(conn)


Query = Callable[[ColumnElement[bool] | None, ColumnElement[Any]], Any]


def rows_with_caps(
    period: Period, caps: Mapping[GroupKey, int], answered: Iterable[str], query: Query
) -> list[Mapping[Any, Any]]:
    """The rows of ``query(sent, cap)``: ``sent`` the still-sent condition (None:
    every call), ``cap`` the call's group cap."""
    if not caps:
        return []
    with period.store.engine.connect() as conn:
        with sent_condition(conn, answered) as sent, group_caps(conn, caps) as cap:
            rows: list[Mapping[Any, Any]] = list(conn.execute(query(sent, cap)).mappings())
        conn.rollback()
    return rows


def ids_above(
    period: Period, key: GroupKey, value: ColumnElement[Any], cap: int, limit: int
) -> tuple[str, ...]:
    """Up to ``limit`` ids of the period's calls of group ``key`` whose ``value`` is
    above ``cap``, the first in time: the calls a cap would change, to look at.
    The feature is matched as stored (``ix_calls_feature`` finds its calls in time
    order, so the query stops at the ``limit``-th, not after the whole group)."""
    feature, provider, model = key
    stored = calls.c.feature.is_(None) if feature == NO_FEATURE else calls.c.feature == feature
    same = [
        stored,
        *(
            part == wanted
            for part, wanted in zip(group_values()[1:], (provider, model), strict=True)
        ),
    ]
    query = (
        select(calls.c.id)
        .where(*period_filter(period.since, period.until), *same, value > cap)
        .order_by(calls.c.feature, calls.c.started_at)
        .limit(limit)
    )
    with period.store.engine.connect() as conn:
        return tuple(conn.execute(query).scalars())
