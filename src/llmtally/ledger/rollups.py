"""Rollups kept in step with ``calls``: the sums each inserted batch adds.

``Store.insert_rows`` inserts calls with ``RETURNING id``, so a call stored
twice (a replayed spool) is summed once, then calls :func:`apply_rollups` in
the same transaction: the new rows are summed per rollup key in Python (hour
sums first, then each day as the sum of its hours) and added to the tables by
one ``INSERT .. ON CONFLICT DO UPDATE SET x = x + excluded.x`` per table, keys
sorted so that concurrent writers on PostgreSQL lock rows in the same order.

Definitions (the dashboard's): an error is HTTP status >= 400; retryable is
408, 409, 429 or >= 500; a call is unpriced when it has no cost. A call's
input-side cost (input + cache read + cache write) is shared between its
prompt roles in proportion to their tokens (``cost_role_*``); what the role
counts do not cover (message framing, estimate drift) is ``cost_role_other``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from operator import add
from typing import Any

from sqlalchemy import Connection, Table, func, inspect, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from llmtally.ledger.driver import Compiled, compile_insert, dialect_insert, driver_tuples
from llmtally.ledger.rollup_tables import (
    DIM_COUNTS,
    DIM_MONEY,
    GRAINS,
    MODEL_COUNTS,
    MODEL_FLOATS,
    MODEL_MONEY,
    ROLES,
    ROLLUPS,
    TRACE_COUNTS,
    TRACE_MONEY,
)
from llmtally.ledger.schema import calls

__all__ = [
    "LATENCY_BASE",
    "Rollup",
    "apply_rollups",
    "bin_of",
    "bin_value",
    "rebuild_rollups",
    "summarise",
]

ERROR_STATUS = 400
LATENCY_BASE = 1.15  # histogram bins grow 15% each: percentiles within ~7%
_LOG_BASE = math.log(LATENCY_BASE)
_ZERO = Decimal(0)
_QUANTUM = Decimal(1).scaleb(-10)
_MODEL_FIELDS = (*MODEL_COUNTS, *MODEL_MONEY, *MODEL_FLOATS)
_DIM_FIELDS = (*DIM_COUNTS, *DIM_MONEY)
_TRACE_FIELDS = (*TRACE_COUNTS, *TRACE_MONEY)
_DIM_COLUMNS = {"user": "user_id", "feature": "feature", "key": "key_id"}
_REBUILD_PAGE = 20_000
_ROLE_COLUMNS = tuple(f"input_{role}_tokens" for role in ROLES)
_CALL_MONEY = MODEL_MONEY[:9]  # the calls columns summed as they are (cost_*)

Key = tuple[Any, ...]
Roles = tuple[int, list[int], list[Decimal]]  # (has role counts, role tokens, role costs)


def bin_of(ms: float) -> int:
    """The histogram bin of a duration in milliseconds (bin 0: under 1 ms)."""
    return 0 if ms < 1 else int(math.log(ms) / _LOG_BASE) + 1


def bin_value(bin_no: int) -> float:
    """A bin's representative duration: the geometric middle of its bounds, ms."""
    return 0.5 if bin_no <= 0 else LATENCY_BASE ** (bin_no - 0.5)


def is_retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


class Rollup:
    """Sums of a set of ``calls`` rows, per rollup table and key.

    A call adds the same values to each of its dimensions (user, feature, key,
    prompt, tags, trace): they are summed once per hour and set of dimensions, and
    spread to each dimension when read (``dim``). Those values are integers and
    decimals, whose sums do not depend on their order."""

    def __init__(self) -> None:
        self.model: dict[Key, list[Any]] = {}
        self.dim_sets: dict[tuple[int, tuple[tuple[str, str], ...]], list[Any]] = {}
        self.latency: dict[Key, int] = {}
        self.traces: dict[str, list[Any]] = {}

    @property
    def dim(self) -> dict[Key, list[Any]]:
        """Sums per (hour, dimension kind, value)."""
        sums: dict[Key, list[Any]] = {}
        for (hour, dims), values in self.dim_sets.items():
            for kind, value in dims:
                _add_into(sums, (hour, kind, value), values)
        return sums

    def add(self, row: Mapping[str, Any]) -> None:
        started = _utc(row["started_at"])
        hour = int(started.timestamp()) // 3600
        model = row["model_served"] or row["model_requested"]
        base = (hour, row["provider"], model)
        roles = _role_costs(row)
        _add_into(self.model, base, _model_values(row, roles))
        dims = _dim_values(row, roles[2][0])
        _add_into(self.dim_sets, (hour, _dims(row)), dims)
        self._add_latency(base, row)
        if row["trace_id"]:  # a trace's values: the dimensions' but the system prompt's cost
            self._add_trace(row["trace_id"], started, dims[:-1])

    def _add_latency(self, base: Key, row: Mapping[str, Any]) -> None:
        for metric, column in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
            if row[column] is not None:
                key = (*base, metric, bin_of(row[column]))
                self.latency[key] = self.latency.get(key, 0) + 1

    def _add_trace(self, trace: str, started: dt.datetime, sums: list[Any]) -> None:
        values = [*sums, started, started]
        found = self.traces.get(trace)
        if found is None:
            self.traces[trace] = values
            return
        n = len(_TRACE_FIELDS)
        for i in range(n):
            found[i] += values[i]
        found[n], found[n + 1] = min(found[n], started), max(found[n + 1], started)

    def by_table(self) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        """Rows to add to each rollup table (hour and day), keys sorted: per table,
        the column names and the rows as tuples of those columns' values."""
        out: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
        parts = (
            ("model", self.model, ("provider", "model"), _MODEL_FIELDS),
            ("dim", self.dim, ("kind", "value"), _DIM_FIELDS),
        )
        for family, sums, names, fields in parts:
            columns, n = ("bucket", *names, *fields), len(fields)
            for grain, rows in _grains(sums).items():
                found = [(*key, *v[:n]) for key, v in sorted(rows.items())]
                out[f"rollup_{family}_{grain}"] = columns, found
        latency_columns = ("bucket", "provider", "model", "metric", "bin", "n")
        for grain, rows in _grains({k: [n] for k, n in self.latency.items()}).items():
            found = [(*key, v[0]) for key, v in sorted(rows.items())]
            out[f"rollup_latency_{grain}"] = latency_columns, found
        n = len(_TRACE_FIELDS)
        out["rollup_traces"] = (
            ("trace_id", *_TRACE_FIELDS, "first_at", "last_at"),
            [(trace, *v[:n], v[-2], v[-1]) for trace, v in sorted(self.traces.items())],
        )
        return out


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _add_into(sums: dict[Key, list[Any]], key: Key, values: list[Any]) -> None:
    found = sums.get(key)
    if found is None:
        sums[key] = list(values)
    else:
        found[:] = map(add, found, values)


def _grains(hourly: dict[Key, list[Any]]) -> dict[str, dict[Key, list[Any]]]:
    daily: dict[Key, list[Any]] = {}
    per_day = GRAINS["day"] // GRAINS["hour"]
    for key, values in hourly.items():
        _add_into(daily, (key[0] // per_day, *key[1:]), values)
    return {"hour": hourly, "day": daily}


def _money(row: Mapping[str, Any], column: str) -> Decimal:
    value = row[column]
    if value is None:
        return _ZERO
    return value if type(value) is Decimal else Decimal(value)


def _role_costs(row: Mapping[str, Any]) -> Roles:
    """(1 if the call has role counts, role tokens, role costs + other)."""
    tokens = [row.get(column) for column in _ROLE_COLUMNS]
    if any(t is None for t in tokens[:4]):  # context came later: None counts as 0
        return 0, [0] * len(ROLES), [_ZERO] * (len(ROLES) + 1)
    counts = [int(t or 0) for t in tokens]
    prompt = _money(row, "cost_input") + _money(row, "cost_cache_read")
    prompt += _money(row, "cost_cache_write")
    whole = max(int(row["input_tokens"] or 0), sum(counts))
    if whole == 0 or prompt == 0:
        return 1, counts, [_ZERO] * (len(ROLES) + 1)
    shares = [(prompt * n / whole).quantize(_QUANTUM, ROUND_HALF_EVEN) for n in counts]
    return 1, counts, [*shares, prompt - sum(shares)]


def _model_values(row: Mapping[str, Any], roles: Roles) -> list[Any]:
    status = int(row["status"])
    priced = row["cost_total"] is not None
    role_calls, role_tokens, role_costs = roles
    ttft, tps = row["ttft_ms"], row["output_tokens_per_s"]
    return [
        1,
        int(status >= ERROR_STATUS),
        int(is_retryable(status)),
        int(not priced),
        row["input_tokens"] or 0,
        row["cache_read_tokens"] or 0,
        row["cache_write_tokens"] or 0,
        row["output_tokens"] or 0,
        row["reasoning_tokens"] or 0,
        role_calls,
        *role_tokens,
        1,
        int(ttft is not None),
        int(tps is not None),
        *[_money(row, column) for column in _CALL_MONEY],
        *role_costs,
        _money(row, "saved_cache"),
        _money(row, "saved_tier"),
        float(row["latency_ms"]),
        0.0 if ttft is None else float(ttft),
        0.0 if tps is None else float(tps),
    ]


def _dim_values(row: Mapping[str, Any], system_cost: Decimal) -> list[Any]:
    return [
        1,
        int(int(row["status"]) >= ERROR_STATUS),
        int(row["cost_total"] is None),
        row["input_tokens"] or 0,
        row["output_tokens"] or 0,
        _money(row, "cost_total"),
        system_cost,
    ]


def _dims(row: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found = [(kind, row[column] or "") for kind, column in _DIM_COLUMNS.items()]
    found.append(("fingerprint", row.get("prompt_fingerprint") or ""))
    tags = json.loads(row["tags"]) if row["tags"] else []
    found += [("tag", str(tag)) for tag in dict.fromkeys(tags or [""])]
    if row["trace_id"]:  # for calls and cost per trace: traced calls over root calls
        found.append(("traced", ""))
        if not row["parent_id"]:
            found.append(("trace-root", ""))
    return tuple(found)


def summarise(rows: Iterable[Mapping[str, Any]]) -> Rollup:
    """The rollup sums of ``rows`` (``calls`` rows as dicts)."""
    rollup = Rollup()
    for row in rows:
        rollup.add(row)
    return rollup


def _upsert(dialect: str, table: Table) -> Insert:
    keys = [c.name for c in table.primary_key.columns]
    stmt = dialect_insert(dialect, table)
    least, greatest = ("least", "greatest") if dialect == "postgresql" else ("min", "max")
    added: dict[str, Any] = {}
    for column in table.columns:
        if column.name in keys:
            continue
        if column.name == "first_at":
            added[column.name] = getattr(func, least)(column, stmt.excluded.first_at)
        elif column.name == "last_at":
            added[column.name] = getattr(func, greatest)(column, stmt.excluded.last_at)
        else:
            added[column.name] = column + stmt.excluded[column.name]
    result: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=added)
    return result


@functools.cache
def _compiled(dialect: Dialect, name: str) -> Compiled:
    return compile_insert(dialect, ROLLUPS[name], _upsert(dialect.name, ROLLUPS[name]))


def apply_rollups(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add ``rows`` (newly inserted ``calls`` rows) to the rollup tables, in
    the caller's transaction."""
    for name, (columns, updates) in summarise(rows).by_table().items():
        if updates:
            plan = _compiled(conn.dialect, name)
            conn.exec_driver_sql(plan.sql, driver_tuples(plan, columns, updates))


def rebuild_rollups(conn: Connection) -> int:
    """Empty the rollup tables and sum every stored call into them again; the
    number of calls summed. Used by the migration that creates them."""
    for table in ROLLUPS.values():
        conn.execute(table.delete())
    # the columns this database has: a migration runs before later ones add theirs
    present = {column["name"] for column in inspect(conn).get_columns("calls")}
    columns = [column for column in calls.columns if column.name in present]
    done, after = 0, ""
    while True:
        query = select(*columns).where(calls.c.id > after).order_by(calls.c.id)
        page = [dict(row) for row in conn.execute(query.limit(_REBUILD_PAGE)).mappings()]
        if not page:
            return done
        apply_rollups(conn, page)
        done, after = done + len(page), page[-1]["id"]
