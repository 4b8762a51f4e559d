"""Rollups on SQLite and PostgreSQL: kept in step with ``calls`` on every insert
(duplicates summed once), equal to a rebuild from scratch, and every report
read from them equal to the same report computed from ``calls`` alone.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import MetaData, Table, func, select, text

from llmtally.analytics import GROUPS, spend_report, spend_total
from llmtally.analytics.ranges import EPOCH, plan_range
from llmtally.analytics.report import spend_report_raw
from llmtally.ledger import Store
from llmtally.ledger.migrations import MIGRATIONS, migrate
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.ledger.rollups import bin_of, bin_value, rebuild_rollups
from llmtally.ledger.rows import call_to_row
from llmtally.ledger.schema import calls_v1_columns, calls_v4_columns
from llmtally.meter import Cost, cost
from llmtally.usage import Call, Usage, new_ulid
from test_ledger_support import db_url, pg_base_url, price, store  # noqa: F401

UTC = dt.UTC
START = dt.datetime(2026, 10, 30, 22, 17, tzinfo=UTC)
SPAN_S = 4 * 86400


def random_call(rng: random.Random, start: dt.datetime = START, span_s: int = SPAN_S) -> Call:
    usage = Usage(
        input_tokens=(n := rng.randint(0, 50_000)),
        cache_read_tokens=rng.choice([0, n // 2]),
        output_tokens=(out := rng.randint(0, 4_000)),
        reasoning_tokens=rng.choice([0, 0, out // 3]),
    )
    priced = rng.random() < 0.85
    roles = rng.random() < 0.7
    status = rng.choice([200] * 8 + [429, 500, 400])
    model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-x"])
    fields: dict[str, Any] = {
        "id": new_ulid(),
        "started_at": start + dt.timedelta(seconds=rng.uniform(0, span_s)),
        "provider": "anthropic" if model == "claude-x" else "openai",
        "model_requested": model,
        "model_served": rng.choice([None, model + "-1"]),
        "endpoint": "/v1/chat/completions",
        "status": status,
        "latency_ms": rng.lognormvariate(6, 1),
        "ttft_ms": rng.choice([None, rng.uniform(50, 900)]),
        "output_tokens_per_s": rng.choice([None, rng.uniform(10, 200)]),
        "usage": usage,
        "user": rng.choice([None, "alice", "bob", "carol"]),
        "feature": rng.choice([None, "chat", "search", "title"]),
        "key_id": rng.choice([None, "k1", "k2"]),
        "tags": tuple(rng.sample(["beta", "eu", "us"], rng.randint(0, 2))),
        "trace_id": rng.choice([None, *(f"t{i}" for i in range(12))]),
        "prompt_fingerprint": rng.choice([None, "aaaa", "bbbb"]),
    }
    if priced:
        fields["cost"] = cost(usage, price())
        fields["saved_cache"] = Decimal("0.001") * rng.randint(-2, 9)
    else:
        fields["cost_error"] = "no price in this test"
    if roles:
        parts = [rng.randint(0, n // 5 + 1) for _ in range(5)]
        fields.update(
            input_system_tokens=parts[0],
            input_tools_tokens=parts[1],
            input_history_tokens=parts[2],
            input_latest_user_tokens=parts[3],
            input_context_tokens=rng.choice([None, parts[4]]),  # None: recorded before 0007
        )
    return Call(**fields)


def snapshot(ledger: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with ledger.engine.connect() as conn:
        for name, table in ROLLUPS.items():
            keys = [c for c in table.primary_key.columns]
            rows = conn.execute(select(table).order_by(*keys))
            # float sums (latency) depend on the order of addition: compare to 1e-6
            out[name] = [tuple(_rounded(v) for v in row) for row in rows]
    return out


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


@pytest.fixture
def filled(store: Store) -> tuple[Store, list[Call]]:  # noqa: F811
    rng = random.Random(5)
    made = [random_call(rng) for _ in range(600)]
    for i in range(0, len(made), 97):
        batch = made[i : i + 97]
        store.insert_many([*batch, batch[0]])  # a duplicate inside the batch
    store.insert_many(made[:150])  # a replayed spool: stored once
    return store, made


def test_rollups_equal_a_rebuild_from_scratch(filled: tuple[Store, list[Call]]) -> None:
    ledger, _ = filled
    kept = snapshot(ledger)
    with ledger.engine.connect() as conn, conn.begin():
        assert rebuild_rollups(conn) == 600
    assert snapshot(ledger) == kept
    assert len(kept["rollup_model_hour"]) > 50 and len(kept["rollup_traces"]) == 12


def test_rollup_sums_equal_sql_over_calls(filled: tuple[Store, list[Call]]) -> None:
    ledger, made = filled
    money = {"sqlite": "cost_total / 1e10", "postgresql": "cost_total"}[ledger.dialect]
    with ledger.engine.connect() as conn:
        raw = conn.execute(text("SELECT count(*), sum(output_tokens) FROM calls")).one()
        cost_sql = conn.execute(text("SELECT sum(cost_total) FROM calls")).scalar_one()
        day = ROLLUPS["rollup_model_day"]
        rolled = conn.execute(
            select(func.sum(day.c.calls), func.sum(day.c.output_tokens), func.sum(day.c.cost_total))
        ).one()
    assert raw[0] == 600 == rolled[0] and raw[1] == rolled[1]
    expected = sum((c.cost.total for c in made if c.cost), Decimal(0))
    assert rolled[2] == expected
    assert Decimal(cost_sql) / (Decimal(10) ** 10 if money != "cost_total" else 1) == expected


def test_traces_rollup_per_trace(filled: tuple[Store, list[Call]]) -> None:
    ledger, made = filled
    traces = ROLLUPS["rollup_traces"]
    with ledger.engine.connect() as conn:
        rows = {r.trace_id: r for r in conn.execute(select(traces))}
    for trace_id, row in rows.items():
        mine = [c for c in made if c.trace_id == trace_id]
        assert row.calls == len(mine)
        assert row.cost_total == sum((c.cost.total for c in mine if c.cost), Decimal(0))
        first = row.first_at.replace(tzinfo=UTC) if row.first_at.tzinfo is None else row.first_at
        assert first == min(c.started_at for c in mine)


RANGES = [
    (START, None),
    (START + dt.timedelta(minutes=13), START + dt.timedelta(days=2, minutes=1)),
    (dt.datetime(2026, 10, 31, tzinfo=UTC), dt.datetime(2026, 11, 2, tzinfo=UTC)),
    (dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC), dt.datetime(2026, 11, 1, 6, 10, tzinfo=UTC)),
    (dt.datetime(2026, 11, 1, 5, tzinfo=UTC), dt.datetime(2026, 11, 3, 7, 0, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize("by", GROUPS)
def test_reports_from_rollups_equal_reports_from_calls(
    filled: tuple[Store, list[Call]], by: str
) -> None:
    ledger, _ = filled
    for since, until in RANGES:
        fast = spend_report(ledger, since, by, until)  # type: ignore[arg-type]
        slow = spend_report_raw(ledger, since, by, until)  # type: ignore[arg-type]
        assert fast == slow, (by, since, until)


def test_total_from_rollups_equals_the_calls_in_range(filled: tuple[Store, list[Call]]) -> None:
    ledger, made = filled
    for since, until in RANGES:
        inside = [c for c in made if since <= c.started_at and (not until or c.started_at < until)]
        total = spend_total(ledger, since, until)
        assert total.calls == len(inside)
        assert total.cost_total == sum((c.cost.total for c in inside if c.cost), Decimal(0))
        assert total.output_tokens == sum(c.usage.output_tokens for c in inside)


def test_the_migration_builds_rollups_for_calls_already_stored(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    from llmtally.ledger.store import _engine

    engine = _engine(url)
    migrate(engine, [m for m in MIGRATIONS if m[0] < "m0005"])
    rng = random.Random(9)
    made = [replace(random_call(rng), input_context_tokens=None) for _ in range(50)]
    old = Table("calls", MetaData(), *calls_v1_columns(), *calls_v4_columns())
    with engine.connect() as conn, conn.begin():
        rows = [call_to_row(c) for c in made]
        conn.execute(old.insert(), [{k: r[k] for k in old.c.keys()} for r in rows])
    assert migrate(engine) == [name for name, _ in MIGRATIONS if name >= "m0005"]
    ledger = Store(engine)
    total = spend_total(ledger, START)
    assert total.calls == 50
    assert total.cost_total == sum((c.cost.total for c in made if c.cost), Decimal(0))
    ledger.close()


moments = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 3, 1), timezones=st.just(UTC)
)


@given(moments, moments, st.booleans())
def test_a_plan_covers_the_range_once(a: dt.datetime, b: dt.datetime, open_end: bool) -> None:
    if a == b:
        return
    since, until = min(a, b), None if open_end else max(a, b)
    plan = plan_range(since, until)
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    parts = [(lo, hi) for lo, hi in plan.raw]
    parts += [(EPOCH + lo * hour, hi and EPOCH + hi * hour) for lo, hi in plan.hour]
    parts += [(EPOCH + lo * day, hi and EPOCH + hi * day) for lo, hi in plan.day]
    parts.sort(key=lambda p: p[0])
    assert parts[0][0] == since and parts[-1][1] == until
    for (_, end), (start, _) in zip(parts, parts[1:], strict=False):
        assert end == start  # contiguous, no overlap
    for lo, hi in parts:
        assert hi is None or lo < hi


def test_latency_bins_hold_their_values() -> None:
    for ms in (0.2, 1.0, 3.7, 99.0, 1234.5, 60_000.0):
        b = bin_of(ms)
        assert abs(bin_value(b) - ms) / ms <= 0.08 or ms < 1


def test_large_amounts_stay_exact_in_the_rollups(store: Store) -> None:  # noqa: F811
    big = Decimal("123456789.0123456789")  # beyond a float's 53 bits in 1e-10 units
    amounts = dict.fromkeys(
        ("input", "cache_read", "cache_write", "output", "reasoning", "audio", "images"),
        Decimal(0),
    )
    paid = Cost(**amounts, request=big, price=price())
    made = [replace(random_call(random.Random(i)), cost=paid, cost_error=None) for i in range(3)]
    store.insert_many(made)
    since = min(c.started_at for c in made)
    assert spend_total(store, since).cost_total == 3 * big
    with store.engine.connect() as conn:
        day = ROLLUPS["rollup_model_day"]
        assert conn.execute(select(func.sum(day.c.cost_request))).scalar_one() == 3 * big


def test_a_row_lacking_columns_takes_their_defaults(store: Store) -> None:  # noqa: F811
    from test_ledger_support import simple_call

    call = simple_call(0, usage=Usage(input_tokens=5, output_tokens=2, characters=0))
    row = call_to_row(call)
    del row["characters"], row["input_context_tokens"], row["saved_cache"]
    store.insert_rows([row])
    back = store.get(call.id)
    assert back is not None and back.usage.characters == 0
    assert back.input_context_tokens is None and back.saved_cache is None
    assert spend_total(store, call.started_at).calls == 1
