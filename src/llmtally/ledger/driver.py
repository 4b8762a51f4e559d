"""Batch inserts handed to the database driver directly.

At the ledger writer's batch sizes SQLAlchemy's per-row parameter bookkeeping
costs more than the insert itself, and the writer shares the GIL with the
gateway's event loop. A statement is compiled once per dialect; each row's
values go through their column's own bind processor (``Fixed`` to 1e-10
units and datetimes to text on SQLite) and then straight to the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault

__all__ = ["Compiled", "compile_insert", "dialect_insert", "driver_parameters"]


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
    return Compiled(compiled.string, order, processors, defaults, bool(compiled.positional))


def _default(table: Table, key: str) -> Any:
    default = table.c[key].default
    return default.arg if isinstance(default, ScalarElementColumnDefault) else None


def _values(plan: Compiled, row: Mapping[str, Any]) -> list[Any]:
    found = []
    for key, process, default in zip(plan.names, plan.processors, plan.defaults, strict=True):
        value = row.get(key, default)
        found.append(value if process is None or value is None else process(value))
    return found


def driver_parameters(plan: Compiled, rows: list[dict[str, Any]]) -> list[Any]:
    """The driver's parameters for ``rows`` (dicts keyed by column name)."""
    if plan.positional:
        return [tuple(_values(plan, row)) for row in rows]
    return [dict(zip(plan.names, _values(plan, row), strict=True)) for row in rows]
