"""The calls that repeat a request, one by one: the only calls the duplicates
recommender reads individually (a month of 10M calls is read in cells).

A request is identified by the SHA-256 of its body: the ``request_sha256`` the
ledger records per call where it has that column, else the SHA-256 of the stored
request body (``call_bodies``; a truncated body is not whole and is never
compared). Only digests seen more than once in the period come back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, func, select

from llmtally.advisor.cells import period_filter
from llmtally.advisor.period import Period
from llmtally.advisor.usage_sum import COUNTS
from llmtally.ledger.advice_rollup import row_key
from llmtally.ledger.schema import call_bodies, calls
from llmtally.usage import Usage

__all__ = ["Repeat", "repeated_calls"]


# the columns ``advice_rollup.row_key`` reads, to find a call's cell
_KEYED = (
    "started_at",
    "feature",
    "provider",
    "model_served",
    "model_requested",
    "service_tier",
    "ttft_ms",
    "tags",
    "price_window",
    "long_context_above",
    "cost_total",
    "id",
    "images",
    "audio_seconds",
)


@dataclass(frozen=True, slots=True)
class Repeat:
    """One call whose request was sent more than once in the period."""

    call_id: str
    started_at: dt.datetime
    digest: str
    cell: int
    usage: Usage  # its counts (tier and media left out: the cell's)
    temperature_zero: bool


def _temperature_zero(text: str | None) -> bool:
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("temperature") == 0


def _rows(period: Period, digest: Any, where: list[Any]) -> Select[Any]:
    return (
        select(
            digest.label("digest"),
            *(calls.c[name] for name in _KEYED),
            *(calls.c[name] for name in COUNTS if name not in _KEYED),
            call_bodies.c.request_body,
        )
        .outerjoin(call_bodies, call_bodies.c.call_id == calls.c.id)
        .where(*period_filter(period.since, period.until), *where)
    )


def _by_column(conn: Connection, period: Period) -> list[Mapping[Any, Any]]:
    column = calls.c.request_sha256
    # digests sent twice in the period, read from ix_calls_request_sha256 alone
    # (digest, started_at): the status is checked on the calls themselves
    seen = (
        select(column)
        .where(
            column.is_not(None),
            calls.c.started_at >= period.since.astimezone(dt.UTC),
            calls.c.started_at < period.until.astimezone(dt.UTC),
        )
        .group_by(column)
        .having(func.count() > 1)
    )
    return list(conn.execute(_rows(period, column, [column.in_(seen)])).mappings().all())


def _by_body(conn: Connection, period: Period) -> list[dict[str, Any]]:
    where = [call_bodies.c.request_body.is_not(None), call_bodies.c.request_truncated.is_(False)]
    if "request_sha256" in calls.c:
        where.append(calls.c.request_sha256.is_(None))
    found = []
    for row in conn.execute(_rows(period, call_bodies.c.request_body, where)).mappings():
        digest = hashlib.sha256(row["request_body"].encode()).hexdigest()
        found.append({**row, "digest": digest})
    twice = {d for d, n in Counter(row["digest"] for row in found).items() if n > 1}
    return [row for row in found if row["digest"] in twice]


def _repeat(period: Period, row: Mapping[Any, Any]) -> Repeat:
    started = row["started_at"]
    counts: dict[str, Any] = {name: int(row[name]) for name in COUNTS}
    return Repeat(
        call_id=row["id"],
        started_at=started.replace(tzinfo=dt.UTC) if started.tzinfo is None else started,
        digest=row["digest"],
        cell=period.cell_id(row_key(row)),
        usage=Usage(**counts),
        temperature_zero=_temperature_zero(row["request_body"]),
    )


def repeated_calls(period: Period) -> list[Repeat]:
    """The period's calls whose request digest occurs more than once, by time."""
    with period.store.engine.connect() as conn:
        rows = _by_column(conn, period) if "request_sha256" in calls.c else []
        rows += _by_body(conn, period)
    found = [_repeat(period, row) for row in rows]
    found.sort(key=lambda r: (r.started_at, r.call_id))
    return found
