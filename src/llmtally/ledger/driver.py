"""Batch inserts handed to the database driver directly.

At the ledger writer's batch sizes SQLAlchemy's per-row parameter bookkeeping
costs more than the insert itself, and the writer shares the GIL with the
gateway's event loop. A statement is compiled once per dialect; each row's
values go through their column's own bind processor (``Fixed`` to 1e-10
units and datetimes to text on SQLite) and then straight to the driver.

Per row the work is one ``itemgetter`` over the statement's columns (a row
that lacks some takes the column defaults, key by key) and the processors of
the columns that have one; rows the rollups build as tuples skip the dict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault

__all__ = [
    "Compiled",
    "compile_insert",
    "dialect_insert",
    "driver_parameters",
    "driver_tuples",
]

Processing = tuple[tuple[int, Callable[[Any], Any]], ...]


def dialect_insert(dialect: str, table: Table) -> Any:
    """The dialect's own ``INSERT`` construct (with ``on_conflict_do_*``) for ``table``."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


class Compiled(NamedTuple):
    """An insert compiled for one dialect: its SQL and, per parameter, the
    column's bind processor."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[Any, ...]  # for a key a row lacks: the column's scalar default, or None
    positional: bool
    take: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # a row's values in ``names`` order
    processing: Processing  # (position, processor) of the columns that have one


def compile_insert(dialect: Dialect, table: Table, statement: Insert) -> Compiled:
    """``statement`` (an insert into ``table`` of every column) compiled for ``dialect``."""
    names = tuple(c.name for c in table.columns)
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ()) if compiled.positional else names
    # dialect_impl: the type as this dialect stores it (Fixed is BIGINT units on SQLite)
    processors = tuple(
        table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in order
    )
    defaults = tuple(_default(table, key) for key in order)
    take = _getter(tuple(order))
    processing = tuple((i, p) for i, p in enumerate(processors) if p is not None)
    positional = bool(compiled.positional)
    return Compiled(compiled.string, order, processors, defaults, positional, take, processing)


def _getter(positions: tuple[Any, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter`` that returns a tuple even for one item."""
    if len(positions) == 1:
        single = itemgetter(positions[0])
        return lambda row: (single(row),)
    return itemgetter(*positions)


def _default(table: Table, key: str) -> Any:
    default = table.c[key].default
    return default.arg if isinstance(default, ScalarElementColumnDefault) else None


def _processed(processing: Processing, values: list[Any]) -> list[Any]:
    for i, process in processing:
        value = values[i]
        if value is not None:
            values[i] = process(value)
    return values


def _parameters(plan: Compiled, rows: Iterable[list[Any]]) -> list[Any]:
    """Each row's values (in ``plan.names`` order, processed) as the driver takes them."""
    if plan.positional:
        return [tuple(_processed(plan.processing, values)) for values in rows]
    names = plan.names
    return [dict(zip(names, _processed(plan.processing, values), strict=True)) for values in rows]


def _row_values(plan: Compiled, row: Mapping[str, Any]) -> list[Any]:
    try:
        return list(plan.take(row))
    except KeyError:  # a row without some columns: they take their default
        return [
            row.get(key, default) for key, default in zip(plan.names, plan.defaults, strict=True)
        ]


def driver_parameters(plan: Compiled, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The driver's parameters for ``rows`` (dicts keyed by column name)."""
    return _parameters(plan, (_row_values(plan, row) for row in rows))


@functools.cache
def _reorder(names: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """A getter of ``names``' values from a tuple in ``columns`` order; None when
    ``columns`` lacks one of ``names`` (or is ``names`` itself)."""
    if columns == names or not set(names) <= set(columns):
        return None
    return _getter(tuple(columns.index(name) for name in names))


def driver_tuples(
    plan: Compiled, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """The driver's parameters for ``rows``: tuples of the values of ``columns``
    (the same values ``driver_parameters`` takes as dicts, without the dicts)."""
    if columns == plan.names:
        return _parameters(plan, (list(row) for row in rows))
    getter = _reorder(plan.names, columns)
    if getter is None:  # columns left out take their defaults, by name
        return driver_parameters(plan, [dict(zip(columns, row, strict=True)) for row in rows])
    return _parameters(plan, (list(getter(row)) for row in rows))
