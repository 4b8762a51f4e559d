"""How often each prompt prefix would be read from a provider's cache, in SQL.

Calls that share a system prompt (``calls.prompt_fingerprint``) on one provider
and model send the same prefix (system + tools tokens). Replayed in time order
through a prompt cache whose entries live from their last use, a call reads the
prefix when the previous call of its group came at most one TTL before it, and
writes it otherwise; a call that already read from or wrote to a cache is left
as it is (it still counts as a use). That rule needs only each call's gap to the
previous one (``LAG`` over the group ordered by time), so the database computes
it for every call of a month and sums per cell (``llmtally.advisor.cells``) and
TTL: no call is read one by one.

Left out, as nothing exact can be said of them: calls without a fingerprint,
without a recorded cost, without per-role counts, on a provider with no known
prompt cache, and calls a response cache answers (they are not sent).

Gaps are compared in whole microseconds since the epoch, exact on both
databases (SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    select,
)

from llmtally.advisor.cells import cell_keys, key_of, period_filter
from llmtally.advisor.period import Period
from llmtally.ledger.schema import calls

__all__ = ["TTL_SECONDS", "PrefixCell", "prefix_cells"]

TTL_SECONDS = {"5m": 300, "1h": 3600}
CACHED_PROVIDERS = ("anthropic", "openai", "google")

_scratch = MetaData()
_answered = Table(
    "advisor_answered", _scratch, Column("id", Text, primary_key=True), prefixes=["TEMPORARY"]
)


@dataclass(frozen=True, slots=True)
class PrefixCell:
    """The calls of one fingerprint in one cell, and what a cache would do on them
    for each TTL: calls and prefix tokens read, calls and tokens written."""

    fingerprint: str
    cell: int
    calls: int
    unchanged: int  # already read from or wrote to a cache
    already_read: int
    prefix_min: int
    prefix_max: int
    reads: dict[str, int]
    read_tokens: dict[str, int]
    writes: dict[str, int]
    write_tokens: dict[str, int]


def _micros(conn: Connection) -> ColumnElement[Any]:
    started = calls.c.started_at
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", started) * 1_000_000, BigInteger)
    seconds = cast(func.strftime("%s", func.substr(started, 1, 19)), Integer)
    return seconds * 1_000_000 + cast(func.substr(started, 21, 6), Integer)


def _per_call(conn: Connection, period: Period, skip: bool) -> Any:
    prefix = func.coalesce(calls.c.input_system_tokens, 0) + func.coalesce(
        calls.c.input_tools_tokens, 0
    )
    model = func.coalesce(calls.c.model_served, calls.c.model_requested)
    used = (calls.c.cache_read_tokens > 0) | (calls.c.cache_write_tokens > 0)
    micros = _micros(conn)
    previous = func.lag(micros).over(
        partition_by=(calls.c.prompt_fingerprint, calls.c.provider, model),
        order_by=(calls.c.started_at, calls.c.id),
    )
    where = [
        *period_filter(period.since, period.until),
        calls.c.prompt_fingerprint.is_not(None),
        calls.c.cost_total.is_not(None),
        calls.c.input_system_tokens.is_not(None) | calls.c.input_tools_tokens.is_not(None),
        calls.c.provider.in_(CACHED_PROVIDERS),
    ]
    if skip:
        where.append(calls.c.id.not_in(select(_answered.c.id)))
    return (
        select(
            *cell_keys(period.store, period.bounds),
            calls.c.prompt_fingerprint.label("fingerprint"),
            prefix.label("prefix"),
            case((prefix < calls.c.input_tokens, prefix), else_=calls.c.input_tokens).label(
                "tokens"
            ),
            case((used, 1), else_=0).label("used"),
            case((calls.c.cache_read_tokens > 0, 1), else_=0).label("read_before"),
            (micros - previous).label("gap"),
        )
        .where(*where)
        .subquery()
    )


def _query(conn: Connection, period: Period, skip: bool) -> Any:
    rows = _per_call(conn, period, skip)
    names = [column.name for column in cell_keys(period.store, period.bounds)]
    keys = [rows.c[name] for name in names]
    sums: list[ColumnElement[Any]] = [
        func.count().label("calls"),
        func.sum(rows.c.used).label("unchanged"),
        func.sum(rows.c.read_before).label("already_read"),
        func.min(rows.c.prefix).label("prefix_min"),
        func.max(rows.c.prefix).label("prefix_max"),
    ]
    for ttl, seconds in TTL_SECONDS.items():
        read = and_(rows.c.used == 0, rows.c.gap.is_not(None), rows.c.gap <= seconds * 1_000_000)
        write = and_(rows.c.used == 0, ~read)
        sums += [
            func.sum(case((read, 1), else_=0)).label(f"reads_{ttl}"),
            func.sum(case((read, rows.c.tokens), else_=0)).label(f"read_tokens_{ttl}"),
            func.sum(case((write, 1), else_=0)).label(f"writes_{ttl}"),
            func.sum(case((write, rows.c.tokens), else_=0)).label(f"write_tokens_{ttl}"),
        ]
    return select(*keys, rows.c.fingerprint, *sums).group_by(*keys, rows.c.fingerprint)


def _prefix_cell(period: Period, row: Mapping[Any, Any]) -> PrefixCell:
    def per_ttl(name: str) -> dict[str, int]:
        return {ttl: int(row[f"{name}_{ttl}"]) for ttl in TTL_SECONDS}

    return PrefixCell(
        fingerprint=row["fingerprint"],
        cell=period.cell_id(key_of(row)),
        calls=int(row["calls"]),
        unchanged=int(row["unchanged"]),
        already_read=int(row["already_read"]),
        prefix_min=int(row["prefix_min"]),
        prefix_max=int(row["prefix_max"]),
        reads=per_ttl("reads"),
        read_tokens=per_ttl("read_tokens"),
        writes=per_ttl("writes"),
        write_tokens=per_ttl("write_tokens"),
    )


def prefix_cells(period: Period, answered: Iterable[str]) -> list[PrefixCell]:
    """Per (fingerprint, cell): what a prompt cache would read and write, leaving
    out the ``answered`` calls (a response cache answers them)."""
    skip = sorted(set(answered))
    with period.store.engine.connect() as conn:
        if skip:
            _answered.create(conn, checkfirst=True)
            conn.execute(_answered.delete())
            conn.execute(insert(_answered), [{"id": cid} for cid in skip])
        rows = conn.execute(_query(conn, period, bool(skip))).mappings().all()
        if skip:
            _answered.drop(conn)
        conn.rollback()
    return [_prefix_cell(period, row) for row in rows]
