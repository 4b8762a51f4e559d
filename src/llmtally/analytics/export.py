"""Export every column of every call in a time range, streamed in batches.

Rows come straight from the ``calls`` table in ``started_at, id`` order, read
with ``yield_per`` (a server-side cursor on PostgreSQL), so an export of a big
ledger never holds it in memory. Values are made text-safe: times are ISO 8601
in UTC, days YYYY-MM-DD, money is an exact decimal string, and in JSON lines
the JSON columns (``tags``, ``images``) are decoded; in CSV they stay JSON text.
Money is USD; a call billed in another currency also has ``billed_currency``,
``billed_total`` and the rate used (``fx_rate``, ``fx_date``, ``fx_source``).

Parquet keeps the types instead: times as UTC microsecond timestamps, days as
date32, counts as int64, money as exact ``decimal128(20, 10)``, the JSON columns
as JSON text.
It is written one row group at a time, so it streams as the text formats do.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Date, DateTime, Double, Integer, Text, select

from llmtally.ledger.schema import SCALE, Fixed, calls
from llmtally.meter import decimal_text

if TYPE_CHECKING:
    import pyarrow as pa

    from llmtally.ledger.store import Store

__all__ = [
    "BATCH_SIZE",
    "EXPORT_COLUMNS",
    "ROW_GROUP_SIZE",
    "export_rows",
    "parquet_schema",
    "write_csv",
    "write_jsonl",
    "write_parquet",
]

BATCH_SIZE = 1000
ROW_GROUP_SIZE = 50_000  # Parquet rows per row group: what is held in memory at once
EXPORT_COLUMNS: tuple[str, ...] = tuple(column.name for column in calls.columns)
JSON_COLUMNS = frozenset({"tags", "images"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return moment.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):  # fx_date: the exchange rate's day
        return value.isoformat()
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


def parquet_schema() -> pa.Schema:
    """The Arrow schema of an export: one typed field per ``calls`` column."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(column.name, _arrow_type(column.type), nullable=bool(column.nullable))
            for column in calls.columns
        ]
    )


def _arrow_type(kind: object) -> pa.DataType:
    import pyarrow as pa

    if isinstance(kind, Fixed):
        return pa.decimal128(20, SCALE)
    if isinstance(kind, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Integer):  # BigInteger too
        return pa.int64()
    if isinstance(kind, Double):
        return pa.float64()
    if isinstance(kind, Text):
        return pa.string()
    raise TypeError(f"no Parquet type for the ledger column type {kind!r}")


def _parse_as(kind: pa.DataType) -> Callable[[Any], Any] | None:
    """How a text-safe value of ``export_rows`` becomes its typed value again."""
    import pyarrow as pa

    if pa.types.is_decimal(kind):
        return Decimal  # exact: the text is the stored amount, digit for digit
    if pa.types.is_timestamp(kind):
        return dt.datetime.fromisoformat
    if pa.types.is_date32(kind):
        return dt.date.fromisoformat
    return None


def write_parquet(
    rows: Iterable[dict[str, Any]], path: str | Path, row_group_size: int = ROW_GROUP_SIZE
) -> int:
    """A Parquet file of ``export_rows`` (typed, see :func:`parquet_schema`),
    written ``row_group_size`` rows at a time; returns the row count.

    The file appears only once complete: it is written beside ``path`` and
    renamed, so a failed export never leaves a truncated file under that name.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    parsers = {f.name: parse for f in schema if (parse := _parse_as(f.type)) is not None}
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    count = 0
    iterator = iter(rows)
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            while batch := list(islice(iterator, row_group_size)):
                columns = {name: _column(batch, name, parsers.get(name)) for name in schema.names}
                writer.write_table(pa.Table.from_pydict(columns, schema=schema))
                count += len(batch)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def _column(
    batch: list[dict[str, Any]], name: str, parse: Callable[[Any], Any] | None
) -> list[Any]:
    if parse is None:
        return [row[name] for row in batch]
    return [None if row[name] is None else parse(row[name]) for row in batch]
