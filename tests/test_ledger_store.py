"""The ledger store on SQLite and PostgreSQL: migrations, exact round trips,
idempotent inserts, filters, bodies."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, inspect, select

from llmtally.ledger import CallBodies, Store, open_store
from llmtally.ledger.migrations import MIGRATIONS, applied_migrations, migrate
from llmtally.ledger.rollup_tables import rollup_metadata
from llmtally.ledger.schema import calls, metadata
from llmtally.usage import Call, Usage, new_ulid
from test_ledger_support import db_url, full_call, pg_base_url, simple_call, store  # noqa: F401


def test_migrations_are_applied_once_in_order(db_url: str) -> None:  # noqa: F811
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)
    with open_store(db_url) as first:
        with first.engine.connect() as conn:
            assert applied_migrations(conn) == names
        assert migrate(first.engine) == []  # idempotent: nothing left to apply
    with open_store(db_url) as again, again.engine.connect() as conn:
        assert applied_migrations(conn) == names


def test_a_new_migration_is_appended_and_applied_on_open(db_url: str) -> None:  # noqa: F811
    ran: list[str] = []
    extra = [*MIGRATIONS, ("m9999_test", lambda conn: ran.append("m9999_test"))]
    with open_store(db_url) as opened:
        assert migrate(opened.engine, extra) == ["m9999_test"]
        assert migrate(opened.engine, extra) == []
        with opened.engine.connect() as conn:
            assert applied_migrations(conn)[-1] == "m9999_test"
    assert ran == ["m9999_test"]


def test_the_migrated_database_matches_the_schema(store: Store) -> None:  # noqa: F811
    found = inspect(store.engine)
    for table in [*metadata.sorted_tables, *rollup_metadata.sorted_tables]:
        columns = {c["name"] for c in found.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    indexes = {i["name"] for i in found.get_indexes("calls")}
    assert {"ix_calls_started_at", "ix_calls_model", "ix_calls_user", "ix_calls_feature"} <= indexes
    assert "ix_calls_key" in indexes


def test_a_fully_populated_call_round_trips_exactly(store: Store) -> None:  # noqa: F811
    call = full_call()
    assert call.cost is not None
    store.insert_many([call])
    back = store.get(call.id)
    assert back is not None
    assert dataclasses.replace(back, cost=None) == dataclasses.replace(call, cost=None)
    assert back.cost is not None
    for name in (*call.cost.breakdown(), "total", "service_tier", "long_context_above"):
        assert getattr(back.cost, name) == getattr(call.cost, name), name
    assert back.cost.price.entry_id == call.cost.price.entry_id == "openai/gpt-4o@2024-10-02"
    assert back.cost.price.catalog_version == "2026-11-01"
    assert back.cost.price.source == call.cost.price.source
    assert back.started_at.tzinfo == dt.UTC
    assert back.cost.total == call.cost.total  # Decimal, exact
    assert isinstance(back.cost.total, Decimal)


def test_an_unpriced_call_keeps_null_cost_and_the_reason(store: Store) -> None:  # noqa: F811
    call = full_call(cost=None, cost_error="unknown model 'gpt-9'")
    store.insert_many([call])
    assert store.get(call.id) == call
    with store.engine.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.id == call.id)).mappings().one()
    assert row["cost_total"] is None and row["cost_input"] is None
    assert row["cost_error"] == "unknown model 'gpt-9'"


@pytest.mark.parametrize(
    "amount",
    ["0.0000000001", "123456789.0123456789", "0.0030850001", "922337203.6854775807", "0"],
)
def test_money_with_ten_places_round_trips_exactly(store: Store, amount: str) -> None:  # noqa: F811
    call = simple_call(usage=Usage(input_tokens=1, audio_seconds=Decimal(amount)))
    store.insert_many([call])
    back = store.get(call.id)
    assert back is not None and back.usage.audio_seconds == Decimal(amount)
    assert str(back.usage.audio_seconds) == str(Decimal(amount).quantize(Decimal("1e-10")))


def test_money_beyond_ten_places_is_rounded_half_even(store: Store) -> None:  # noqa: F811
    call = simple_call(usage=Usage(audio_seconds=Decimal("0.00000000015")))
    store.insert_many([call])
    back = store.get(call.id)
    assert back is not None and back.usage.audio_seconds == Decimal("0.0000000002")


def test_an_amount_beyond_the_ledger_range_is_refused_before_any_insert() -> None:
    from llmtally.ledger.rows import call_to_row

    with pytest.raises(ValueError, match="outside what the ledger stores"):
        call_to_row(simple_call(usage=Usage(audio_seconds=Decimal("922337203.6854775808"))))


def test_inserting_the_same_id_twice_stores_one_row(store: Store) -> None:  # noqa: F811
    call = simple_call()
    store.insert_many([call])
    store.insert_many([call, dataclasses.replace(call, status=500)])
    store.insert_many([call, call])
    assert store.count() == 1
    assert store.get(call.id) == call


def test_list_filters_and_orders_newest_first(store: Store) -> None:  # noqa: F811
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = [
        simple_call(0, user="alice", feature="search"),
        simple_call(60, user="bob", feature="chat", model_served="gpt-4o"),
        simple_call(120, user="alice", feature="chat", model_served=None),
        simple_call(180, user="carol", feature="search", model_requested="claude"),
    ]
    store.insert_many(rows)
    assert [c.id for c in store.list()] == [c.id for c in reversed(rows)]
    assert [c.id for c in store.list(user="alice")] == [rows[2].id, rows[0].id]
    assert [c.id for c in store.list(feature="chat")] == [rows[2].id, rows[1].id]
    assert [c.id for c in store.list(model="gpt-4o")] == [rows[1].id]
    mini = store.list(model="gpt-4o-mini")  # served, or requested when served is unknown
    assert [c.id for c in mini] == [rows[3].id, rows[2].id, rows[0].id]
    later = base + dt.timedelta(seconds=60)
    assert [c.id for c in store.list(since=later)] == [rows[3].id, rows[2].id, rows[1].id]
    in_paris = later.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert len(store.list(since=in_paris)) == 3
    assert len(store.list(limit=2)) == 2
    assert store.list(user="nobody") == []


def test_bodies_are_stored_apart_and_idempotently(store: Store) -> None:  # noqa: F811
    call = simple_call()
    bodies = CallBodies(call.id, '{"messages": []}', '{"choices": []}', False, True)
    store.insert_many([call], [bodies])
    store.insert_many([call], [bodies])
    assert store.get_bodies(call.id) == bodies
    assert store.get_bodies(new_ulid()) is None
    assert store.get(new_ulid()) is None


def test_open_store_defaults_to_a_wal_sqlite_file_in_the_data_home(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_DATABASE_URL", raising=False)
    with open_store() as opened:
        opened.insert_many([simple_call()])
        with opened.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert (tmp_path / "home" / "ledger.sqlite3").is_file()


def test_open_store_reads_the_database_url_from_the_environment(
    db_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", db_url)
    with open_store() as opened:
        assert opened.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")


def test_an_unsupported_url_is_refused() -> None:
    engine = create_engine("sqlite://")
    engine.dispose()
    with pytest.raises(ValueError, match="unsupported ledger database 'mysql'"):
        open_store("mysql://u@localhost/x")


def test_ulids_sort_in_creation_order_and_encode_the_time() -> None:
    ids = [new_ulid() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)
    from llmtally.usage import _UlidClock

    assert _UlidClock().next(1469918176385).startswith("01ARYZ6S41")


def test_a_call_needs_an_aware_time_and_not_both_cost_and_reason() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        simple_call(started_at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="both a cost and a cost_error"):
        full_call(cost_error="x")
    assert isinstance(full_call(), Call)
