"""The advisor's rollups (``ledger/advice_tables.py``), kept in step with ``calls``.

``apply_rollups`` calls :func:`apply_advice` in the transaction that inserts a
batch of calls. The batch's successful calls are summed per row key in Python
and added with one ``INSERT .. ON CONFLICT DO UPDATE`` per table (sums added,
the largest prompt and the first and last call kept), keys sorted so that
concurrent writers on PostgreSQL lock rows in the same order.

The prompt-cache replay needs each call's gap to the previous use of its prefix.
The calls of a batch are taken in time order; the last call seen per
(fingerprint, provider, model) is read from, and written back to,
``advice_prefix_last``. A call that arrives after a later call of its group was
written (a long call finishing after a short one that started later) cannot be
placed: it is counted as a write and as ``late``, so the advisor's cache saving
is then a lower bound, and says so. Calls a prompt cache is left out of: no
fingerprint, no cost, no per-role counts, a provider without a known cache.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, func, inspect, select, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from llmtally.ledger.advice_tables import (
    ADVICE_COUNTS,
    ADVICE_TABLES,
    PREFIX_COUNTS,
    TTLS,
    USAGE_COUNTS,
)
from llmtally.ledger.driver import Compiled, compile_insert, dialect_insert, driver_parameters
from llmtally.ledger.schema import calls

__all__ = [
    "BATCHABLE_TAG",
    "CACHED_PROVIDERS",
    "NO_FEATURE",
    "apply_advice",
    "rebuild_advice",
    "row_key",
]

NO_FEATURE = "(none)"
BATCHABLE_TAG = "batchable"
CACHED_PROVIDERS = ("anthropic", "openai", "google")
_ROLES = ("system", "tools", "history", "latest_user", "context")
_LAST = ADVICE_TABLES["advice_prefix_last"]
_KEEP_LARGEST = {"prompt_tokens", "prefix_max", "last_at"}
_KEEP_SMALLEST = {"prefix_min", "first_at"}
_KEEP_FIRST = {"images", "audio_seconds"}
_REBUILD_PAGE = 20_000

Key = tuple[Any, ...]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _batchable(tags: str | None) -> int:
    return int(bool(tags) and BATCHABLE_TAG in (json.loads(tags or "[]") or []))


def row_key(row: Mapping[str, Any]) -> Key:
    """(day bucket, feature, provider, model, tier, streamed, batchable, price window,
    cliff, single) of a ``calls`` row."""
    started = _utc(row["started_at"])
    media = row.get("images") is not None or row.get("audio_seconds") is not None
    priced = row["cost_total"] is not None
    return (
        int(started.timestamp()) // 86400,
        row["feature"] or NO_FEATURE,
        row["provider"],
        row["model_served"] or row["model_requested"],
        row["service_tier"],
        int(row["ttft_ms"] is not None),
        _batchable(row["tags"]),
        row.get("price_window") or "",
        (row.get("long_context_above") or 0) if priced else -1,
        row["id"] if media else "",
    )


def _roles(row: Mapping[str, Any]) -> list[int]:
    if row.get("input_system_tokens") is None:
        return [0] * (len(_ROLES) + 1)
    return [*(int(row.get(f"input_{role}_tokens") or 0) for role in _ROLES), 1]


def _advice_values(row: Mapping[str, Any], started: dt.datetime) -> list[Any]:
    cost = row["cost_total"]
    return [
        1,
        *(int(row.get(name) or 0) for name in USAGE_COUNTS),
        *_roles(row),
        int(cost is None),
        Decimal(0) if cost is None else Decimal(cost),
        int(row["input_tokens"] or 0),
        started,
        started,
        row.get("images"),
        row.get("audio_seconds"),
    ]


def _eligible(row: Mapping[str, Any]) -> bool:
    return (
        row.get("prompt_fingerprint") is not None
        and row["cost_total"] is not None
        and (
            row.get("input_system_tokens") is not None or row.get("input_tools_tokens") is not None
        )
        and row["provider"] in CACHED_PROVIDERS
    )


def _group(row: Mapping[str, Any]) -> Key:
    return (
        row["prompt_fingerprint"],
        row["provider"],
        row["model_served"] or row["model_requested"],
    )


def _prefix_values(row: Mapping[str, Any], gap: dt.timedelta | None, late: bool) -> list[Any]:
    prefix = int(row.get("input_system_tokens") or 0) + int(row.get("input_tools_tokens") or 0)
    tokens = min(prefix, int(row["input_tokens"] or 0))
    used = bool(row["cache_read_tokens"]) or bool(row["cache_write_tokens"])
    values: list[Any] = [1, int(used), int(bool(row["cache_read_tokens"])), int(late)]
    for seconds in TTLS.values():
        read = not used and gap is not None and gap <= dt.timedelta(seconds=seconds)
        write = not used and not read
        values += [int(read), tokens if read else 0, int(write), tokens if write else 0]
    return [*values, prefix, prefix]


def _add(sums: dict[Key, list[Any]], key: Key, values: list[Any], names: tuple[str, ...]) -> None:
    found = sums.get(key)
    if found is None:
        sums[key] = values
        return
    for i, name in enumerate(names):
        if name in _KEEP_LARGEST:
            found[i] = max(found[i], values[i])
        elif name in _KEEP_SMALLEST:
            found[i] = min(found[i], values[i])
        elif name not in _KEEP_FIRST:
            found[i] += values[i]


_ADVICE_NAMES = (
    *ADVICE_COUNTS,
    "cost_total",
    "prompt_tokens",
    "first_at",
    "last_at",
    "images",
    "audio_seconds",
)
_PREFIX_NAMES = (*PREFIX_COUNTS, "prefix_min", "prefix_max")


def _last_seen(conn: Connection, groups: set[Key]) -> dict[Key, dt.datetime]:
    found: dict[Key, dt.datetime] = {}
    wanted = sorted(groups)
    columns = tuple_(_LAST.c.fingerprint, _LAST.c.provider, _LAST.c.model)
    for start in range(0, len(wanted), 500):
        query = select(_LAST).where(columns.in_(wanted[start : start + 500]))
        for row in conn.execute(query).mappings():
            found[(row["fingerprint"], row["provider"], row["model"])] = _utc(row["last_at"])
    return found


def _prefix(
    conn: Connection, rows: list[Mapping[str, Any]], keys: list[Key]
) -> dict[Key, list[Any]]:
    """The prefix rollup's sums of ``rows`` (in time order); ``advice_prefix_last``
    moved on."""
    todo = [(row, key) for row, key in zip(rows, keys, strict=True) if _eligible(row)]
    if not todo:
        return {}
    last = _last_seen(conn, {_group(row) for row, _ in todo})
    before = dict(last)
    sums: dict[Key, list[Any]] = {}
    for row, key in todo:
        group, started = _group(row), _utc(row["started_at"])
        previous = last.get(group)
        late = previous is not None and started < previous
        gap = None if previous is None or late else started - previous
        _add(sums, (key[0], group[0], *key[1:]), _prefix_values(row, gap, late), _PREFIX_NAMES)
        if not late:
            last[group] = started
    moved = [
        {"fingerprint": g[0], "provider": g[1], "model": g[2], "last_at": at}
        for g, at in sorted(last.items())
        if before.get(g) != at
    ]
    if moved:
        plan = _compiled(conn.dialect, "advice_prefix_last")
        conn.exec_driver_sql(plan.sql, driver_parameters(plan, moved))
    return sums


def _upsert(dialect: str, table: Table) -> Insert:
    keys = [c.name for c in table.primary_key.columns]
    stmt = dialect_insert(dialect, table)
    largest, smallest = ("greatest", "least") if dialect == "postgresql" else ("max", "min")
    added: dict[str, Any] = {}
    for column in table.columns:
        name, new = column.name, stmt.excluded[column.name]
        if name in keys:
            continue
        if name in _KEEP_LARGEST:
            added[name] = getattr(func, largest)(column, new)
        elif name in _KEEP_SMALLEST:
            added[name] = getattr(func, smallest)(column, new)
        elif name in _KEEP_FIRST:
            added[name] = func.coalesce(column, new)
        else:
            added[name] = column + new
    result: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=added)
    return result


@functools.cache
def _compiled(dialect: Dialect, name: str) -> Compiled:
    table = ADVICE_TABLES[name]
    return compile_insert(dialect, table, _upsert(dialect.name, table))


def _write(conn: Connection, name: str, sums: dict[Key, list[Any]], names: tuple[str, ...]) -> None:
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


def rebuild_advice(conn: Connection) -> int:
    """Sum every stored call into the (empty) advisor rollups, oldest first; the
    number of calls read. Used by the migration that creates them."""
    present = {column["name"] for column in inspect(conn).get_columns("calls")}
    columns = [column for column in calls.columns if column.name in present]
    order = (calls.c.started_at, calls.c.id)
    done, after = 0, None
    while True:
        query = select(*columns).order_by(*order).limit(_REBUILD_PAGE)
        if after is not None:
            query = query.where(tuple_(*order) > tuple_(*after))
        page = [dict(row) for row in conn.execute(query).mappings()]
        if not page:
            return done
        apply_advice(conn, page)
        done, after = done + len(page), (page[-1]["started_at"], page[-1]["id"])


def apply_advice(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add ``rows`` (newly inserted ``calls`` rows) to the advisor's rollups, in the
    caller's transaction."""
    ok = [row for row in rows if 200 <= int(row["status"]) < 300]
    ok.sort(key=lambda row: (_utc(row["started_at"]), row["id"]))
    keys = [row_key(row) for row in ok]
    sums: dict[Key, list[Any]] = {}
    for row, key in zip(ok, keys, strict=True):
        _add(sums, key, _advice_values(row, _utc(row["started_at"])), _ADVICE_NAMES)
    _write(conn, "rollup_advice_day", sums, _ADVICE_NAMES)
    _write(conn, "rollup_prefix_day", _prefix(conn, ok, keys), _PREFIX_NAMES)
