"""The overview, hidden costs, per-model latency, savings and prompt fingerprints.

Expected figures are computed here by hand or in plain SQL over ``calls``,
never read back from the rollups under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import statistics
from decimal import Decimal

from sqlalchemy import text

from llmtally.analytics.hidden import hidden_costs, model_stats, performance
from llmtally.analytics.overview import overview
from llmtally.catalog.price import Price, Tier
from llmtally.ledger import Store
from llmtally.meter import cost, savings
from llmtally.usage import Call, Usage
from test_ledger_support import db_url, pg_base_url, price, simple_call, store  # noqa: F401

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def priced(at: dt.datetime, tokens: int, **changes: object) -> Call:
    usage = Usage(input_tokens=tokens, output_tokens=tokens // 10)
    return simple_call(
        0, started_at=at, usage=usage, cost=cost(usage, price()), cost_error=None, **changes
    )


def sql_cost(ledger: Store, since: dt.datetime, until: dt.datetime) -> Decimal:
    """Sum of cost_total in [since, until), in plain SQL."""
    query = text("SELECT sum(cost_total) FROM calls WHERE started_at >= :a AND started_at < :b")
    bounds = {"a": since, "b": until}
    if ledger.dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS' text, 1e-10 units
        bounds = {k: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for k, v in bounds.items()}
    with ledger.engine.connect() as conn:
        found = conn.execute(query, bounds).scalar_one()
    if found is None:
        return Decimal(0)
    return Decimal(found) / 10**10 if ledger.dialect == "sqlite" else Decimal(found)


def test_overview_windows_projection_and_tops(store: Store) -> None:  # noqa: F811
    made = [
        priced(dt.datetime(2026, 11, 18, 1, tzinfo=UTC), 10_000, user="ann", feature="chat"),
        priced(dt.datetime(2026, 11, 18, 14, 59, tzinfo=UTC), 20_000, user="bob"),
        priced(dt.datetime(2026, 11, 15, 9, tzinfo=UTC), 70_000, user="bob", feature="chat"),
        priced(dt.datetime(2026, 11, 10, 9, tzinfo=UTC), 5_000, model_served="gpt-4o"),
        priced(dt.datetime(2026, 10, 25, 9, tzinfo=UTC), 40_000, user="cy"),
        priced(dt.datetime(2026, 10, 1, 9, tzinfo=UTC), 90_000, user="dee"),  # outside
    ]
    store.insert_many(made)
    view = overview(store, NOW)
    day = dt.timedelta(days=1)
    midnight, tomorrow = (
        dt.datetime(2026, 11, 18, tzinfo=UTC),
        dt.datetime(2026, 11, 19, tzinfo=UTC),
    )
    assert view.today.cost == sql_cost(store, midnight, tomorrow) > 0
    assert view.today.calls == 2
    assert view.last_7d.cost == sql_cost(store, tomorrow - 7 * day, tomorrow)
    mtd = sql_cost(store, dt.datetime(2026, 11, 1, tzinfo=UTC), tomorrow)
    assert view.month_to_date.cost == mtd
    # run rate: the 7 whole days before today (Nov 11-17) hold only the Nov 15 call
    rate = made[2].cost.total / 7  # type: ignore[union-attr]
    left = Decimal("12.375")  # Nov 18 15:00 -> Dec 1 00:00
    assert view.projected_month_end == (mtd + rate * left).quantize(Decimal("1e-10"))
    assert not view.empty
    assert [r.key for r in view.top_users] == ["bob", "cy", "ann", None]
    assert view.top_users[0].cost_total == sql_cost(store, midnight - 5 * day, tomorrow) - (
        made[0].cost.total  # type: ignore[union-attr]
    )
    assert {r.key for r in view.top_models} == {"gpt-4o-mini", "gpt-4o"}
    assert sum(d.cost for d in view.daily) == sql_cost(store, view.since, tomorrow)
    assert [c.id for c in view.top_calls][:2] == [made[2].id, made[4].id]


def test_an_empty_ledger_has_an_empty_overview(store: Store) -> None:  # noqa: F811
    view = overview(store, NOW)
    assert view.empty and view.month_to_date.calls == 0 and view.projected_month_end is None
    assert view.top_models == [] and view.models == [] and view.daily == []


def test_hidden_costs_share_input_cost_by_role(store: Store) -> None:  # noqa: F811
    usage = Usage(input_tokens=1000, output_tokens=300, reasoning_tokens=100)
    roles = {
        "input_system_tokens": 500,
        "input_tools_tokens": 100,
        "input_history_tokens": 200,
        "input_latest_user_tokens": 100,
        "input_context_tokens": 50,
    }
    at = dt.datetime(2026, 11, 18, 9, tzinfo=UTC)
    counted = simple_call(
        0, started_at=at, usage=usage, cost=cost(usage, price()), cost_error=None, **roles
    )
    plain = priced(at, 2000)  # no role counts: unattributed
    store.insert_many([counted, plain])
    with store.engine.connect() as conn:
        hidden = hidden_costs(conn, at - dt.timedelta(hours=3), None)
    # input 1000 x $2.5123/M = $0.0025123, shared 500:100:200:100:50 of 1000
    assert hidden.system == Decimal("0.00125615")
    assert hidden.tools == hidden.latest_user == Decimal("0.00025123")
    assert hidden.history == Decimal("0.00050246")
    assert hidden.context == Decimal("0.000125615")
    # the 50 tokens the roles do not cover: 0.0025123 - 0.002386685
    assert hidden.other == Decimal("0.000125615")
    assert hidden.unattributed == Decimal("0.0050246")  # 2000 x 2.5123/M
    assert hidden.role_calls == 1 and hidden.calls == 2
    # reasoning: 100 x 12.0009/M; output 200 x 10.0007/M + plain's 200 x 10.0007/M
    assert hidden.reasoning == Decimal("0.00120009")
    assert hidden.output_side == Decimal("0.00120009") + Decimal("0.00400028")


def test_latency_percentiles_per_model_are_within_a_bin(store: Store) -> None:  # noqa: F811
    rng = random.Random(3)
    at = dt.datetime(2026, 11, 18, 9, 13, tzinfo=UTC)
    made = [
        simple_call(
            i,
            started_at=at + dt.timedelta(minutes=i),
            latency_ms=rng.lognormvariate(6, 0.8),
            ttft_ms=rng.uniform(80, 400) if i % 2 else None,
            status=429 if i % 10 == 0 else 200,
        )
        for i in range(300)
    ]
    store.insert_many(made)
    with store.engine.connect() as conn:
        # starts and ends mid-hour: raw edges, hour and day rollups all take part
        since, until = at + dt.timedelta(minutes=7), at + dt.timedelta(hours=30)
        (stats,) = model_stats(conn, since, until)
        # the overview reads both at once: the same figures
        assert performance(conn, since, until) == (hidden_costs(conn, since, until), [stats])
    inside = made[7:]
    latencies = sorted(c.latency_ms for c in inside)
    for q, found in ((0.5, stats.latency_p50), (0.95, stats.latency_p95)):
        exact = latencies[max(0, int(q * len(latencies) + 0.999999) - 1)]
        assert found is not None and abs(found - exact) / exact < 0.08, (q, found, exact)
    ttft = statistics.median_low(c.ttft_ms for c in inside if c.ttft_ms is not None)
    assert stats.ttft_p50 is not None and abs(stats.ttft_p50 - ttft) / ttft < 0.08
    assert stats.calls == len(inside)
    assert stats.errors == stats.retryable == sum(1 for c in inside if c.status == 429)


def batch_price() -> Price:
    return dataclasses.replace(price(), tiers={"batch": Tier(discount=Decimal("0.5"), rates=None)})


def test_savings_from_cache_reads_net_of_write_premiums_and_batch() -> None:
    p = price()  # input 2.5123, cache read 1.2561, cache write 3.1111 per 1M
    reads = Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=10)
    assert (
        savings(reads, p, cost(reads, p)).cache
        == 400 * (Decimal("2.5123") - Decimal("1.2561")) / 10**6
    )
    writes = Usage(input_tokens=1000, cache_write_tokens=500, output_tokens=10)
    saved = savings(writes, p, cost(writes, p))
    assert saved.cache == -500 * (Decimal("3.1111") - Decimal("2.5123")) / 10**6 < 0
    assert saved.tier == 0
    batch = Usage(input_tokens=1000, output_tokens=1000, service_tier="batch")
    standard = cost(dataclasses.replace(batch, service_tier="standard"), batch_price()).total
    assert savings(batch, batch_price(), cost(batch, batch_price())).tier == standard / 2


def test_trace_stats_count_distinct_trace_ids(store: Store) -> None:  # noqa: F811
    at = dt.datetime(2026, 11, 18, 9, tzinfo=UTC)
    root = priced(at, 1_000, trace_id="a")
    made = [
        root,
        priced(at, 2_000, trace_id="a", parent_id=root.id),
        priced(at, 3_000, trace_id="a", parent_id=root.id, feature="title"),
        priced(at, 4_000, trace_id="b"),
        priced(at, 5_000),  # no trace
    ]
    store.insert_many(made)
    stats = overview(store, NOW).trace_stats
    traced = made[:4]
    assert (stats.traces, stats.calls) == (2, 4)
    assert stats.cost == sum((c.cost.total for c in traced if c.cost), Decimal(0))
    assert stats.calls_per_trace == 2.0
    assert stats.cost_per_trace == (stats.cost / 2).quantize(Decimal("1e-10"))


def test_traces_without_parent_ids_count_once_each(store: Store) -> None:  # noqa: F811
    # a client that sends only x-llmtally-trace-id: 21 traces of 1 to 5 calls
    at = dt.datetime(2026, 11, 18, 9, tzinfo=UTC)
    made = [
        priced(at + dt.timedelta(minutes=t, seconds=k), 1_000, trace_id=f"t{t:02}")
        for t in range(21)
        for k in range(1 + t % 5)
    ]
    made.append(priced(at, 1_000))  # no trace
    store.insert_many(made)
    stats = overview(store, NOW).trace_stats
    calls = sum(1 + t % 5 for t in range(21))  # 4 x (1+2+3+4+5) for t < 20, then 1
    assert calls == 61
    assert (stats.traces, stats.calls) == (21, 61)
    assert stats.calls_per_trace == 61 / 21


def test_traces_that_started_before_the_window_are_left_out(store: Store) -> None:  # noqa: F811
    old = dt.datetime(2026, 10, 1, 9, tzinfo=UTC)  # before the 30-day window
    store.insert_many(
        [
            priced(old, 1_000, trace_id="old"),
            priced(dt.datetime(2026, 11, 18, 9, tzinfo=UTC), 1_000, trace_id="old"),
            priced(dt.datetime(2026, 11, 18, 9, tzinfo=UTC), 1_000, trace_id="new"),
        ]
    )
    stats = overview(store, NOW).trace_stats
    assert (stats.traces, stats.calls) == (1, 1)


def test_a_few_hours_of_today_give_no_projection(store: Store) -> None:  # noqa: F811
    store.insert_many([priced(NOW - dt.timedelta(hours=h), 100_000) for h in (1, 2, 3)])
    view = overview(store, NOW)
    assert view.today.calls == 3 and view.month_to_date.cost > 0
    assert view.projected_month_end is None
    assert view.projection_note.startswith("not enough data")


def test_fewer_whole_days_than_a_week_give_their_mean_and_say_so(
    store: Store,  # noqa: F811
) -> None:
    # first call Nov 16 at 23:00: Nov 16 and 17 are the whole days before Nov 18
    made = [
        priced(dt.datetime(2026, 11, 16, 23, tzinfo=UTC), 40_000),
        priced(dt.datetime(2026, 11, 18, 14, tzinfo=UTC), 1_000_000),  # a heavy hour today
    ]
    store.insert_many(made)
    view = overview(store, NOW)
    mtd = made[0].cost.total + made[1].cost.total  # type: ignore[union-attr]
    rate = made[0].cost.total / 2  # type: ignore[union-attr]
    left = Decimal("12.375")  # Nov 18 15:00 -> Dec 1 00:00
    assert view.projected_month_end == (mtd + rate * left).quantize(Decimal("1e-10"))
    assert "mean of the 2 whole UTC days since the first call: a rough guess" in (
        view.projection_note
    )
    assert "12.4 days left" in view.projection_note


def test_a_week_of_history_says_so(store: Store) -> None:  # noqa: F811
    store.insert_many([priced(dt.datetime(2026, 11, 2, 9, tzinfo=UTC), 1_000)])
    note = overview(store, NOW).projection_note
    assert "$0/day (the mean of the last 7 whole UTC days)" in note
