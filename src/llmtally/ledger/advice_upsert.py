"""Adding sums to the advisor's rollups (``ledger/advice_tables.py``): in Python
for one batch, then one ``INSERT .. ON CONFLICT DO UPDATE`` per table, rows in key
order (concurrent writers on PostgreSQL lock them in the same order).

Most columns are sums; a few keep the largest or smallest value seen (the largest
prompt, the first and last call, a reasoning effort) or the first one (a single
media call's units).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.driver import Compiled, compile_insert, dialect_insert, driver_parameters

__all__ = ["Key", "Sums", "add_into", "replace_rows", "write_sums"]

Key = tuple[Any, ...]
Sums = dict[Key, list[Any]]

_LARGEST = {"prompt_tokens", "prefix_max", "system_max", "last_at", "effort_max"}
_SMALLEST = {"prefix_min", "system_min", "first_at", "effort_min"}
_FIRST = {"images", "audio_seconds"}
_REPLACE = {"history"}  # advice_trace_last: the newest call's (only moved rows are sent)
_NULLABLE = {"effort_min", "effort_max"}


def _pick(name: str, old: Any, new: Any) -> Any:
    if name in _NULLABLE and (old is None or new is None):
        return new if old is None else old
    if name in _LARGEST:
        return max(old, new)
    if name in _SMALLEST:
        return min(old, new)
    if name in _FIRST:
        return old
    if name in _REPLACE:
        return new
    return old + new


def add_into(sums: Sums, key: Key, values: list[Any], names: Sequence[str]) -> None:
    """Add one call's ``values`` (named ``names``) to ``sums[key]``."""
    found = sums.get(key)
    if found is None:
        sums[key] = values
        return
    for i, name in enumerate(names):
        found[i] = _pick(name, found[i], values[i])


def _upsert(dialect: str, table: Table) -> Insert:
    keys = [c.name for c in table.primary_key.columns]
    stmt = dialect_insert(dialect, table)
    largest, smallest = ("greatest", "least") if dialect == "postgresql" else ("max", "min")
    added: dict[str, Any] = {}
    for column in table.columns:
        name, new = column.name, stmt.excluded[column.name]
        if name in keys:
            continue
        if name in _NULLABLE:  # SQLite's min/max of a NULL is NULL: keep the other
            pick = largest if name in _LARGEST else smallest
            both = getattr(func, pick)(func.coalesce(column, new), func.coalesce(new, column))
            added[name] = both
        elif name in _LARGEST:
            added[name] = getattr(func, largest)(column, new)
        elif name in _SMALLEST:
            added[name] = getattr(func, smallest)(column, new)
        elif name in _FIRST:
            added[name] = func.coalesce(column, new)
        elif name in _REPLACE:
            added[name] = new
        else:
            added[name] = column + new
    result: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=added)
    return result


@functools.cache
def _compiled(dialect: Dialect, name: str) -> Compiled:
    table = ADVICE_TABLES[name]
    return compile_insert(dialect, table, _upsert(dialect.name, table))


def write_sums(conn: Connection, name: str, sums: Sums, names: Sequence[str]) -> None:
    """Add ``sums`` (values named ``names``, after the table's key columns) to table
    ``name``."""
    if not sums:
        return
    table = ADVICE_TABLES[name]
    keys = [c.name for c in table.primary_key.columns]
    updates = [
        {**dict(zip(keys, key, strict=True)), **dict(zip(names, values, strict=True))}
        for key, values in sorted(sums.items())
    ]
    plan = _compiled(conn.dialect, name)
    conn.exec_driver_sql(plan.sql, driver_parameters(plan, updates))


def replace_rows(conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
    """Upsert whole rows of a ``*_last`` table (its non-key columns replaced by the
    newest: ``last_at`` keeps the later one; the caller sends only moved rows)."""
    if rows:
        plan = _compiled(conn.dialect, name)
        conn.exec_driver_sql(plan.sql, driver_parameters(plan, rows))
