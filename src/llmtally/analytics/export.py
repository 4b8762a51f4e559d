"""Export every column of every call in a time range, streamed in batches.

Rows come straight from the ``calls`` table in ``started_at, id`` order, read
with ``yield_per`` (a server-side cursor on PostgreSQL), so an export of a big
ledger never holds it in memory. Values are made text-safe: times are ISO 8601
in UTC, money is an exact decimal string, and in JSON lines the JSON columns
(``tags``, ``images``) are decoded; in CSV they stay JSON text.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import select

from llmtally.ledger.schema import calls
from llmtally.meter import decimal_text

if TYPE_CHECKING:
    from llmtally.ledger.store import Store

__all__ = ["BATCH_SIZE", "EXPORT_COLUMNS", "export_rows", "write_csv", "write_jsonl"]

BATCH_SIZE = 1000
EXPORT_COLUMNS: tuple[str, ...] = tuple(column.name for column in calls.columns)
JSON_COLUMNS = frozenset({"tags", "images"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return moment.astimezone(dt.UTC).isoformat()
    return value


def export_rows(
    store: Store,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[dict[str, Any]]:
    """Each call in ``[since, until)`` as {column: text-safe value}, oldest first."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. UTC), got {moment}")
    if since is not None and until is not None and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    query = select(calls).order_by(calls.c.started_at, calls.c.id)
    if since is not None:
        query = query.where(calls.c.started_at >= since.astimezone(dt.UTC))
    if until is not None:
        query = query.where(calls.c.started_at < until.astimezone(dt.UTC))
    with store.engine.connect() as conn:
        result = conn.execution_options(yield_per=batch_size).execute(query).mappings()
        for row in result:
            yield {name: _plain(row[name]) for name in EXPORT_COLUMNS}


def write_csv(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """CSV with a header of every column (NULL is an empty field); returns the row count."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_jsonl(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line (JSON columns decoded); returns the row count."""
    count = 0
    for row in rows:
        for name in JSON_COLUMNS:
            if row[name] is not None:
                row[name] = json.loads(row[name])
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
