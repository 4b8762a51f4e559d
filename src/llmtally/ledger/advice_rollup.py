"""The advisor's rollups (``ledger/advice_tables.py``), kept in step with ``calls``.

``Store.insert_rows`` calls :func:`apply_advice` in the transaction that inserts
a batch of calls. The batch's successful calls are summed per row key in Python
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
fingerprint, no cost, no per-role counts, a provider without a known cache
(``ledger/advice_prefix.py``). The request facts, history steps and token
histograms are in ``ledger/advice_history.py``; the upserts in
``ledger/advice_upsert.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, inspect, select, tuple_

from llmtally.ledger.advice_history import TOKEN_FIELDS, history_steps, text_only, token_sums
from llmtally.ledger.advice_prefix import (
    CACHED_PROVIDERS,
    FINGERPRINT_FIELDS,
    PREFIX_FIELDS,
    fingerprint_sums,
    prefix_sums,
    utc,
)
from llmtally.ledger.advice_repeat import REPEAT_FIELDS, digest_of, repeat_sums
from llmtally.ledger.advice_tables import ADVICE_COUNTS, NO_FEATURE
from llmtally.ledger.advice_upsert import Fields, Key, Sums, add_into, write_sums
from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.ledger.schema import call_bodies, calls

__all__ = [
    "BATCHABLE_TAG",
    "CACHED_PROVIDERS",
    "NO_FEATURE",
    "apply_advice",
    "rebuild_advice",
    "row_key",
]

BATCHABLE_TAG = "batchable"
_ROLE_COLUMNS = tuple(
    f"input_{role}_tokens" for role in ("system", "tools", "history", "latest_user", "context")
)
_REBUILD_PAGE = 20_000
_ADVICE_NAMES = (
    *ADVICE_COUNTS,
    "cost_total",
    "prompt_tokens",
    "first_at",
    "last_at",
    "images",
    "audio_seconds",
    "effort_min",
    "effort_max",
)
_ADVICE_FIELDS = Fields(_ADVICE_NAMES)


def _batchable(tags: str | None) -> int:
    return int(bool(tags) and BATCHABLE_TAG in (json.loads(tags or "[]") or []))


def row_key(row: Mapping[str, Any]) -> Key:
    """(day bucket, feature, provider, model, tier, streamed, batchable, price window,
    cliff, single) of a ``calls`` row."""
    started = utc(row["started_at"])
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
        return [0] * (len(_ROLE_COLUMNS) + 1)
    return [*[int(row.get(column) or 0) for column in _ROLE_COLUMNS], 1]


def _facts(row: Mapping[str, Any], step: int) -> list[int]:
    """text_calls, length_stops, finish_unknown, tools_calls, tools_used,
    tools_unknown, tools_tokens, history_rises, history_drops."""
    finish = row.get("finish_reason")
    text = text_only(row)
    tools = int(row.get("input_tools_tokens") or 0)
    sent = tools > 0
    return [
        int(text),
        int(text and finish == "length"),
        int(text and finish is None),
        int(sent),
        int(sent and finish == "tool_calls"),
        int(sent and finish is None),
        tools if sent else 0,
        int(step > 0),
        int(step < 0),
    ]


def _advice_values(row: Mapping[str, Any], step: int) -> list[Any]:
    cost, started = row["cost_total"], utc(row["started_at"])
    effort = row.get("reasoning_effort")
    return [
        1,
        *[int(row.get(name) or 0) for name in USAGE_COUNTS],
        *_roles(row),
        int(cost is None),
        *_facts(row, step),
        Decimal(0) if cost is None else Decimal(cost),
        int(row["input_tokens"] or 0),
        started,
        started,
        row.get("images"),
        row.get("audio_seconds"),
        effort,
        effort,
    ]


def _bodies(conn: Connection, page: list[dict[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The stored request bodies of the calls of ``page`` recorded without a digest."""
    wanted = [row["id"] for row in page if not row.get("request_sha256")]
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(
            call_bodies.c.call_id, call_bodies.c.request_body, call_bodies.c.request_truncated
        ).where(call_bodies.c.call_id.in_(chunk))
        for row in conn.execute(query).mappings():
            found[row["call_id"]] = dict(row)
    return found


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
        apply_advice(conn, page, _bodies(conn, page))
        done, after = done + len(page), (page[-1]["started_at"], page[-1]["id"])


def apply_advice(
    conn: Connection,
    rows: Iterable[Mapping[str, Any]],
    bodies: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Add ``rows`` (newly inserted ``calls`` rows; ``bodies``: their stored bodies
    by call id) to the advisor's rollups, in the caller's transaction."""
    ok = [row for row in rows if 200 <= int(row["status"]) < 300]
    ok.sort(key=lambda row: (utc(row["started_at"]), row["id"]))
    keys = [row_key(row) for row in ok]
    found = bodies or {}
    digests = [digest_of(row, found.get(row["id"])) for row in ok]
    steps = history_steps(conn, ok)
    sums: Sums = {}
    for row, key, step in zip(ok, keys, steps, strict=True):
        add_into(sums, key, _advice_values(row, step), _ADVICE_FIELDS)
    write_sums(conn, "rollup_advice_day", sums, _ADVICE_FIELDS)
    write_sums(conn, "rollup_prefix_day", prefix_sums(conn, ok, keys), PREFIX_FIELDS)
    write_sums(conn, "rollup_tokens_day", token_sums(ok, keys), TOKEN_FIELDS)
    write_sums(conn, "rollup_fingerprint_day", fingerprint_sums(ok, keys), FINGERPRINT_FIELDS)
    write_sums(conn, "rollup_repeat_day", repeat_sums(conn, ok, keys, digests), REPEAT_FIELDS)
