"""The advisor's rollups (ledger/advice_rollup.py), kept as calls are written.

Checked against an independent reading of the same calls: one SQL ``GROUP BY``
over ``calls`` with the advisor's cell key in SQL (``advisor.cells.cell_keys``),
on SQLite and PostgreSQL; the rollups built by the migration from calls already
stored equal the ones kept call by call; a call written after a later call of its
prompt prefix is counted as a write and as late.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, type_coerce

from llmtally.advisor.cells import KEY_NAMES, cell_keys, key_of
from llmtally.advisor.period import whole_days
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.migrations import MIGRATIONS, migrate
from llmtally.ledger.schema import Fixed, calls
from llmtally.ledger.token_bins import EDGES, bin_of
from llmtally.pricing import price_usage
from llmtally.usage import Call, ImageUnits, Usage
from test_ledger_support import db_url, pg_base_url  # noqa: F401

CATALOG = Catalog.load()
DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4")]


def _call(rng: random.Random, i: int) -> Call:
    provider, model = rng.choice(MODELS)
    at = DAY + dt.timedelta(seconds=rng.randrange(3 * 86400), microseconds=rng.randrange(10**6))
    usage = Usage(
        input_tokens=rng.randrange(1, 5000),
        output_tokens=rng.randrange(1, 900),
        service_tier=rng.choice(["standard", "standard", "batch"]),
    )
    if i % 37 == 0:  # a call with media: a cell of its own
        usage = Usage(input_tokens=10, images=(ImageUnits(1, "1024x1024"),))
    priced = price_usage(usage, CATALOG, provider, model, at)
    roles = rng.random() < 0.7
    return Call(
        id=f"c{i:04d}",
        started_at=at,
        provider=provider,
        model_requested=model,
        model_served=model,
        endpoint="/v1/chat/completions",
        status=rng.choice([200, 200, 200, 200, 429]),
        latency_ms=500.0,
        ttft_ms=rng.choice([None, 120.0]),
        usage=usage,
        cost=priced.cost,
        cost_error=priced.reason,
        feature=rng.choice(["chat", "search", None]),
        tags=rng.choice([(), ("batchable",), ("eu", "batchable"), ("eu",)]),
        prompt_fingerprint=rng.choice(["fp1", "fp2", None]) if roles else None,
        input_system_tokens=usage.input_tokens // 2 if roles else None,
        input_tools_tokens=0 if roles else None,
    )


def _ledger(n: int = 400) -> list[Call]:
    rng = random.Random(5)
    return [_call(rng, i) for i in range(n)]


def _rollup(url: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    table = ADVICE_TABLES["rollup_advice_day"]
    with open_store(url) as store, store.engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    return {
        key_of(row): {
            "calls": row["calls"],
            "input": row["input_tokens"],
            "output": row["output_tokens"],
            "cost": row["cost_total"],
            "prompt": row["prompt_tokens"],
        }
        for row in rows
    }


def _read_from_calls(url: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    with open_store(url) as store, store.engine.connect() as conn:
        keys = cell_keys(store)
        query = (
            select(
                *keys,
                func.count().label("calls"),
                func.sum(calls.c.input_tokens).label("input"),
                func.sum(calls.c.output_tokens).label("output"),
                type_coerce(func.coalesce(func.sum(calls.c.cost_total), 0), Fixed()).label("cost"),
                func.max(calls.c.input_tokens).label("prompt"),
            )
            .where(calls.c.status >= 200, calls.c.status < 300)
            .group_by(*KEY_NAMES)
        )
        rows = conn.execute(query).mappings().all()
    return {
        key_of(row): {name: row[name] for name in ("calls", "input", "output", "cost", "prompt")}
        for row in rows
    }


def test_the_rollup_equals_a_group_by_of_the_calls(db_url: str) -> None:  # noqa: F811
    calls_made = _ledger()
    with open_store(db_url) as store:
        for start in range(0, len(calls_made), 50):  # batches, in no time order
            store.insert_many(calls_made[start : start + 50])
        store.insert_many(calls_made[:50])  # a replayed batch adds nothing
    rollup, expected = _rollup(db_url), _read_from_calls(db_url)
    assert rollup == expected
    # the failed calls (429) are not in it; every successful one is, once
    ok = sum(1 for c in calls_made if c.status == 200)
    assert sum(v["calls"] for v in rollup.values()) == ok
    media = [key for key in rollup if key[-1]]
    assert sorted(key[-1] for key in media) == sorted(
        c.id for c in calls_made if c.usage.images and c.status == 200
    )
    assert {key[KEY_NAMES.index("cliff")] for key in rollup} >= {-1, 0}  # unpriced: -1


def test_the_migration_builds_the_rollup_from_stored_calls(db_url: str) -> None:  # noqa: F811
    calls_made = _ledger(200)
    with open_store(db_url) as store:
        store.insert_many(calls_made)
        incremental = _rollup(db_url)
        others = _other_rollups(db_url)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "DELETE FROM _llmtally_migrations WHERE name = 'm0015_advice_rollups'"
            )
            for table in ADVICE_TABLES.values():
                table.drop(conn)
        assert not _has_rollup(db_url)
        migrate(store.engine, MIGRATIONS)
    assert _rollup(db_url) == incremental
    assert _other_rollups(db_url) == others


def _other_rollups(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every advisor table but the day cells, sorted."""
    with open_store(url) as store, store.engine.connect() as conn:
        return {
            name: sorted(tuple(row) for row in conn.execute(select(table)).all())
            for name, table in ADVICE_TABLES.items()
            if name != "rollup_advice_day"
        }


def _has_rollup(url: str) -> bool:
    with open_store(url, migrate_now=False) as store:
        return inspect(store.engine).has_table("rollup_advice_day")


def _prefix_call(call_id: str, minutes: int) -> Call:
    usage = Usage(input_tokens=2_100, output_tokens=100)
    at = DAY + dt.timedelta(hours=9, minutes=minutes)
    priced = price_usage(usage, CATALOG, "anthropic", "claude-sonnet-4", at)
    return Call(
        id=call_id,
        started_at=at,
        provider="anthropic",
        model_requested="claude-sonnet-4",
        model_served="claude-sonnet-4",
        endpoint="/v1/messages",
        status=200,
        latency_ms=100.0,
        usage=usage,
        cost=priced.cost,
        input_system_tokens=2_000,
        input_tools_tokens=0,
        prompt_fingerprint="fp",
    )


def test_a_call_written_after_a_later_one_is_a_late_write(db_url: str) -> None:  # noqa: F811
    table = ADVICE_TABLES["rollup_prefix_day"]
    with open_store(db_url) as store:
        # b (09:01) then c (09:02) in one batch: b has no earlier use (write), c reads
        # (1 min after b); a (09:00) comes in a later batch, after c: late, a write.
        store.insert_many([_prefix_call("c", 2), _prefix_call("b", 1)])
        store.insert_many([_prefix_call("a", 0)])
        # d (09:40): 38 min after c: a write with a 5 min TTL, a read with 1 h
        store.insert_many([_prefix_call("d", 40)])
        with store.engine.connect() as conn:
            (row,) = conn.execute(select(table)).mappings().all()
    assert (row["calls"], row["late"]) == (4, 1)
    assert (row["reads_5m"], row["writes_5m"]) == (1, 3)
    assert (row["reads_1h"], row["writes_1h"]) == (2, 2)
    # tokens: min(prefix 2,000, input 2,100) per call
    assert (row["read_tokens_1h"], row["write_tokens_1h"]) == (4_000, 4_000)
    assert (row["prefix_min"], row["prefix_max"]) == (2_000, 2_000)


def test_advice_is_kept_per_whole_utc_day() -> None:
    start, end = whole_days(DAY + dt.timedelta(hours=13), DAY + dt.timedelta(days=3, hours=2))
    assert (start, end) == (DAY, DAY + dt.timedelta(days=3))
    with pytest.raises(ValueError, match="must hold a whole UTC day"):
        whole_days(DAY + dt.timedelta(hours=1), DAY + dt.timedelta(hours=20))


def test_media_rows_keep_their_units(db_url: str) -> None:  # noqa: F811
    usage = Usage(input_tokens=10, images=(ImageUnits(2, "1024x1024", "hd"),))
    call = Call(
        id="img",
        started_at=DAY,
        provider="openai",
        model_requested="gpt-image-1",
        model_served="gpt-image-1",
        endpoint="/v1/images/generations",
        status=200,
        latency_ms=1.0,
        usage=usage,
        cost_error="no price in this test",
    )
    with open_store(db_url) as store:
        store.insert_many([call])
        with store.engine.connect() as conn:
            (row,) = conn.execute(select(ADVICE_TABLES["rollup_advice_day"])).mappings().all()
    assert row["single"] == "img"
    assert json.loads(row["images"]) == [{"n": 2, "size": "1024x1024", "quality": "hd"}]
    assert (row["unpriced"], row["cost_total"]) == (1, Decimal(0))


def _fact_call(call_id: str, minutes: int, **changes: Any) -> Call:
    fields: dict[str, Any] = {
        "id": call_id,
        "started_at": DAY + dt.timedelta(minutes=minutes),
        "provider": "openai",
        "model_requested": "gpt-4o",
        "model_served": "gpt-4o",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0,
        "usage": Usage(input_tokens=5_000, output_tokens=100),
        "cost_error": "not priced in this test",
        "feature": "agent",
        "trace_id": "t1",
        "input_system_tokens": 100,
        "input_tools_tokens": 0,
        "input_latest_user_tokens": 50,
    }
    fields.update(changes)
    return Call(**fields)


def test_request_facts_history_steps_and_histograms(db_url: str) -> None:  # noqa: F811
    made = [
        # trace t1: history 1,000 -> 2,000 -> 3,000 -> 500 (two rises, one drop)
        _fact_call("a", 0, input_history_tokens=1_000, finish_reason="tool_calls",
                   input_tools_tokens=700, reasoning_effort="low"),
        _fact_call("b", 1, input_history_tokens=2_000, finish_reason="stop",
                   input_tools_tokens=700, reasoning_effort="high"),
        _fact_call("c", 2, input_history_tokens=3_000, finish_reason="length",
                   usage=Usage(input_tokens=5_000, output_tokens=1_437, reasoning_tokens=300)),
        _fact_call("d", 3, input_history_tokens=500, finish_reason=None),
    ]  # fmt: skip
    with open_store(db_url) as store:
        store.insert_many(made[:2])
        store.insert_many(made[2:])  # the trace goes on in a later batch
        with store.engine.connect() as conn:
            (cell,) = conn.execute(select(ADVICE_TABLES["rollup_advice_day"])).mappings().all()
            bins = conn.execute(select(ADVICE_TABLES["rollup_tokens_day"])).mappings().all()
    assert (cell["text_calls"], cell["length_stops"], cell["finish_unknown"]) == (4, 1, 1)
    # a and b sent 700 tools tokens each; a ended in a tool call
    assert (cell["tools_calls"], cell["tools_used"], cell["tools_unknown"]) == (2, 1, 0)
    assert cell["tools_tokens"] == 1_400
    assert (cell["history_rises"], cell["history_drops"]) == (2, 1)
    assert (cell["effort_min"], cell["effort_max"]) == ("high", "low")  # text order
    histogram = {(b["metric"], b["bin"]): (b["calls"], b["tokens"]) for b in bins}
    # outputs 100, 100, 1,437, 100: bins (80, 100] and (1,250, 1,500]
    assert histogram[("output", bin_of(100))] == (3, 300)
    assert histogram[("output", bin_of(1_437))] == (1, 1_437)
    assert EDGES[bin_of(1_437)] == 1_500 and EDGES[bin_of(100)] == 100
    # history 500, 1,000, 2,000, 3,000: each on an edge, each its own bin
    assert [histogram[("history", bin_of(h))] for h in (500, 1_000, 2_000, 3_000)] == [
        (1, 500),
        (1, 1_000),
        (1, 2_000),
        (1, 3_000),
    ]
    assert histogram[("reasoning", bin_of(300))] == (1, 300)
    assert histogram[("reasoning", 0)] == (3, 0)


def test_repeated_requests_in_one_hour_windows(db_url: str) -> None:  # noqa: F811
    same = {"request_sha256": "ab" * 32}
    made = [
        _fact_call("a", 0, **same),  # opens the window (a cache miss)
        _fact_call("b", 10, **same),  # answered: 10 min after the opening
        _fact_call("c", 70, **same),  # 70 min: the window has ended; opens the next (late)
        _fact_call("d", 129, **same),  # answered: 59 min after c
        _fact_call("e", 5, request_sha256="cd" * 32),  # another request, once
    ]
    with open_store(db_url) as store:
        store.insert_many(made[:3])
        store.insert_many(made[3:])
        with store.engine.connect() as conn:
            (row,) = conn.execute(select(ADVICE_TABLES["rollup_repeat_day"])).mappings().all()
    # b and d: 2 calls x (5,000 in, 100 out)
    assert (row["repeats"], row["late"]) == (2, 1)
    assert (row["input_tokens"], row["output_tokens"], row["requests"]) == (10_000, 200, 2)


def test_a_traces_background_call_is_not_its_conversation(db_url: str) -> None:  # noqa: F811
    made = [
        _fact_call("a", 0, input_history_tokens=4_000),
        # a title call on another model in the same trace: a conversation of its own
        _fact_call("t", 1, input_history_tokens=0, model_requested="gpt-4o-mini",
                   model_served="gpt-4o-mini"),
        _fact_call("b", 2, input_history_tokens=5_000),  # rises from a, not from t
    ]  # fmt: skip
    with open_store(db_url) as store:
        store.insert_many(made)
        with store.engine.connect() as conn:
            rows = conn.execute(select(ADVICE_TABLES["rollup_advice_day"])).mappings().all()
    by_model = {row["model"]: (row["history_rises"], row["history_drops"]) for row in rows}
    assert by_model == {"gpt-4o": (1, 0), "gpt-4o-mini": (0, 0)}
