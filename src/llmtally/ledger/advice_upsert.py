"""Adding sums to the advisor's rollups (``ledger/advice_tables.py``): in Python
for one batch, then one ``INSERT .. ON CONFLICT DO UPDATE`` per table, rows in key
order (concurrent writers on PostgreSQL lock them in the same order).

Most columns are sums; a few keep the largest or smallest value seen (the largest
prompt, the first and last call, a reasoning effort) or the first one (a single
media call's units). ``Fields`` works out once per set of names which values are
sums (added a run at a time) and which are picked, so adding a call to a cell it
shares with earlier calls of the batch costs a few C-level passes, not a Python
call per value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from operator import add
from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.driver import (
    Compiled,
    compile_insert,
    dialect_insert,
    driver_parameters,
    driver_tuples,
)

__all__ = ["Fields", "Key", "Sums", "add_into", "replace_rows", "write_sums"]

Key = tuple[Any, ...]
Sums = dict[Key, list[Any]]

_LARGEST = {"prompt_tokens", "prefix_max", "system_max", "last_at", "effort_max"}
_SMALLEST = {"prefix_min", "system_min", "first_at", "effort_min"}
_FIRST = {"images", "audio_seconds"}
_REPLACE = {"history"}  # advice_trace_last: the newest call's (only moved rows are sent)
_NULLABLE = {"effort_min", "effort_max"}
_PICKED = _LARGEST | _SMALLEST | _FIRST | _REPLACE | _NULLABLE  # the rest are sums


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


def _picker(name: str) -> Callable[[Any, Any], Any]:
    """``_pick`` for ``name`` (a value that is not summed), as a builtin where one is."""
    if name in _NULLABLE:
        return functools.partial(_pick, name)
    if name in _LARGEST:
        return max
    if name in _SMALLEST:
        return min
    return functools.partial(_pick, name)


def _runs(positions: list[int]) -> tuple[tuple[int, int], ...]:
    """``positions`` (ascending) as (start, stop) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in positions:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return tuple(runs)


class Fields:
    """The names of a rollup row's values, and how two calls' values combine
    (``_pick`` per name: sums are added a run at a time, the others picked)."""

    __slots__ = ("_picks", "_runs", "names")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        summed = [i for i, name in enumerate(self.names) if name not in _PICKED]
        self._runs = _runs(summed)
        self._picks: tuple[tuple[int, Callable[[Any, Any], Any]], ...] = tuple(
            (i, _picker(name)) for i, name in enumerate(self.names) if i not in summed
        )

    def combine(self, found: list[Any], values: list[Any]) -> None:
        """``found`` becomes ``found`` combined with ``values``, name by name."""
        for start, stop in self._runs:
            found[start:stop] = map(add, found[start:stop], values[start:stop])
        for i, pick in self._picks:
            found[i] = pick(found[i], values[i])


def add_into(sums: Sums, key: Key, values: list[Any], fields: Fields) -> None:
    """Add one call's ``values`` (named ``fields.names``) to ``sums[key]``."""
    found = sums.get(key)
    if found is None:
        sums[key] = values
    else:
        fields.combine(found, values)


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


@functools.cache
def _key_names(name: str) -> tuple[str, ...]:
    return tuple(c.name for c in ADVICE_TABLES[name].primary_key.columns)


def write_sums(conn: Connection, name: str, sums: Sums, fields: Fields) -> None:
    """Add ``sums`` (values named ``fields.names``, after the table's key columns) to
    table ``name``."""
    if not sums:
        return
    keys = _key_names(name)
    width = len(keys) + len(fields.names)
    updates = [(*key, *values) for key, values in sorted(sums.items())]
    if any(len(row) != width for row in updates):
        raise ValueError(f"{name}: a row of sums does not match its key and value names")
    plan = _compiled(conn.dialect, name)
    conn.exec_driver_sql(plan.sql, driver_tuples(plan, (*keys, *fields.names), updates))


def replace_rows(conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
    """Upsert whole rows of a ``*_last`` table (its non-key columns replaced by the
    newest: ``last_at`` keeps the later one; the caller sends only moved rows)."""
    if rows:
        plan = _compiled(conn.dialect, name)
        conn.exec_driver_sql(plan.sql, driver_parameters(plan, rows))
