"""The write-behind writer: batching, draining, and real database faults.

Faults are real: PostgreSQL is reached through a TCP forwarder on loopback
that is stopped (connections cut, new ones refused) and restarted; SQLite is
locked by another connection holding its write lock (the tests run as root,
for whom a read-only file mode does not stop writes).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from llmtally.ledger import CallBodies, LedgerWriter, Store, WriterStats, open_store
from llmtally.ledger.rows import call_to_row
from llmtally.ledger.spool import Spool
from llmtally.usage import Call
from test_ledger_support import (  # noqa: F401
    Forwarder,
    db_url,
    pg_base_url,
    pg_schema,
    simple_call,
    store,
)

FAST = {"flush_interval": 0.01, "retry_interval": 0.05}


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def submit(writer: LedgerWriter, n: int, start: int = 0) -> list[Call]:
    calls = [simple_call(start + i) for i in range(n)]
    for call in calls:
        writer.submit(call)
    return calls


class SpyStore(Store):
    def __init__(self, inner: Store) -> None:
        super().__init__(inner.engine)
        self.batches: list[int] = []

    def insert_rows(
        self, rows: Sequence[dict[str, Any]], bodies: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.batches.append(len(rows))
        super().insert_rows(rows, bodies)


def test_batches_by_size_and_by_time(store: Store, tmp_path: Path) -> None:  # noqa: F811
    spy = SpyStore(store)
    writer = LedgerWriter(spy, tmp_path / "spool.jsonl", batch_size=100, flush_interval=0.2)
    try:
        submit(writer, 1000)
        assert writer.flush(20)
        assert sum(spy.batches) == 1000 and max(spy.batches) == 100
        assert len(spy.batches) <= 12  # full batches, not one insert per call
        spy.batches.clear()
        submit(writer, 3, start=2000)
        wait_for(lambda: spy.batches == [3], 5)  # the time limit flushes a small batch
    finally:
        assert writer.close()
    assert store.count() == 1003
    assert writer.stats().written == 1003


def test_close_drains_everything(store: Store, tmp_path: Path) -> None:  # noqa: F811
    # one batch of 1,501 rows (about 1 s on PostgreSQL here): room for a busy machine
    writer = LedgerWriter(
        store, tmp_path / "spool.jsonl", batch_size=5000, flush_interval=5, db_timeout=20
    )
    submit(writer, 1500)
    last = simple_call(9999)
    writer.submit(last, CallBodies(last.id, "request", "response"))
    assert writer.close(20)
    stats = writer.stats()
    assert (stats.submitted, stats.queued, stats.written, stats.spooled) == (1501, 0, 1501, 0)
    assert store.count() == 1501
    assert store.get_bodies(last.id) == CallBodies(last.id, "request", "response")
    assert not (tmp_path / "spool.jsonl").exists()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(simple_call())


def test_bodies_travel_with_their_call(store: Store, tmp_path: Path) -> None:  # noqa: F811
    writer = LedgerWriter(store, tmp_path / "spool.jsonl", **FAST)
    call = simple_call()
    bodies = CallBodies(call.id, '{"model": "x"}', '{"id": "y"}', True, False)
    writer.submit(call, bodies)
    assert writer.close()
    assert store.get_bodies(call.id) == bodies


def test_submit_refuses_an_amount_the_ledger_cannot_hold(tmp_path: Path) -> None:
    from decimal import Decimal

    from llmtally.usage import Usage

    with open_store(f"sqlite:///{tmp_path / 'l.db'}") as opened:
        writer = LedgerWriter(opened, tmp_path / "spool.jsonl", **FAST)
        with pytest.raises(ValueError, match="outside what the ledger stores"):
            writer.submit(simple_call(usage=Usage(audio_seconds=Decimal("1e12"))))
        assert writer.close()


def _outage(
    writer: LedgerWriter, cut: Callable[[], None], restore: Callable[[], None]
) -> tuple[list[Call], WriterStats, WriterStats]:
    """200 calls while up, 300 while down, recovery, 100 more; returns the calls
    and the stats during the outage and after recovery."""
    calls = submit(writer, 200)
    assert writer.flush(20)
    assert writer.stats().written == 200
    cut()
    calls += submit(writer, 300, start=200)
    assert writer.flush(20)  # the request path was not held up: all went to the spool
    down = writer.stats()
    restore()
    wait_for(lambda: not writer.spool.pending())
    calls += submit(writer, 100, start=500)
    assert writer.close(20)
    return calls, down, writer.stats()


def _check_nothing_lost(ledger: Store, calls: list[Call], down: WriterStats) -> WriterStats:
    assert ledger.ids() == sorted(c.id for c in calls)  # every call, each once
    assert ledger.count() == 600
    assert down.spooled == 300 and down.written == 200 and not down.database_up
    assert down.last_error
    return down


def test_postgres_outage_spools_and_replays_without_loss(
    pg_base_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    with pg_schema(pg_base_url) as url, open_store(url) as direct:
        target = make_url(url)
        forwarder = Forwarder((target.host or "127.0.0.1", target.port or 5432))
        forwarder.start()
        via = target.set(port=forwarder.port).render_as_string(hide_password=False)
        try:
            with open_store(via) as proxied:
                writer = LedgerWriter(proxied, tmp_path / "spool.jsonl", batch_size=50, **FAST)
                calls, down, after = _outage(writer, forwarder.stop, forwarder.start)
        finally:
            forwarder.stop()
        _check_nothing_lost(direct, calls, down)
        assert after.replayed == 300 and after.written == 300 and after.spooled == 300
        assert "OperationalError" in (down.last_error or "")
        assert not (tmp_path / "spool.jsonl").exists()


def test_sqlite_lock_spools_and_replays_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        holder = sqlite3.connect(path, isolation_level=None)

        def lock() -> None:
            holder.execute("BEGIN EXCLUSIVE")

        try:
            writer = LedgerWriter(
                opened, tmp_path / "spool.jsonl", batch_size=50, db_timeout=0.3, **FAST
            )
            calls, down, after = _outage(writer, lock, lambda: holder.execute("COMMIT"))
        finally:
            holder.close()
        _check_nothing_lost(opened, calls, down)
        assert "did not answer within 0.3 s" in (down.last_error or "")
        # the insert that timed out still landed when the lock was released; its
        # spooled copy was replayed onto it without making a second row
        assert after.replayed == 300


def _spool_of(tmp_path: Path, n: int) -> tuple[Path, list[Call]]:
    path = tmp_path / "spool.jsonl"
    calls = [simple_call(i) for i in range(n)]
    Spool(path).append([(call_to_row(c), None) for c in calls])
    return path, calls


def test_startup_replays_a_spool_left_by_a_previous_process(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    path, calls = _spool_of(tmp_path, 250)
    writer = LedgerWriter(store, path, batch_size=100, **FAST)
    wait_for(lambda: not writer.spool.pending())
    assert writer.close()
    assert store.ids() == sorted(c.id for c in calls)
    assert writer.stats().replayed == 250


def test_a_crash_during_replay_and_a_second_replay_duplicate_nothing(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    path, calls = _spool_of(tmp_path, 250)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(path, copy)
    # a process died mid-replay: the file was renamed and its first 120 rows went in
    replaying = Spool(path).start_replay()
    assert replaying is not None and not path.exists()
    store.insert_rows([call_to_row(c) for c in calls[:120]])
    for _ in range(2):  # the next start replays it; then the same spool again
        writer = LedgerWriter(store, path, batch_size=100, **FAST)
        wait_for(lambda w=writer: not w.spool.pending())  # type: ignore[misc]
        assert writer.close()
        assert writer.stats().replayed == 250
        assert store.count() == 250
        shutil.copy(copy, path)
    assert store.ids() == sorted(c.id for c in calls)


def test_a_torn_spool_line_is_skipped_and_later_lines_survive(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    path, calls = _spool_of(tmp_path, 10)
    with open(path, "a") as handle:
        handle.write('{"call": {"id": "01TORN')  # the crash happened mid-write
    more = [simple_call(100 + i) for i in range(5)]
    spool = Spool(path)
    spool.append([(call_to_row(c), None) for c in more])
    writer = LedgerWriter(store, path, **FAST)
    wait_for(lambda: not writer.spool.pending())
    assert writer.close()
    assert store.ids() == sorted(c.id for c in calls + more)
    assert writer.spool.torn_lines == 1


def test_a_row_the_database_refuses_is_set_aside_not_blocking_the_rest(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    # PostgreSQL text cannot hold NUL; SQLite can. Either way no other call suffers.
    bad = simple_call(1000, error="upstream said \x00")
    writer = LedgerWriter(store, tmp_path / "spool.jsonl", batch_size=50, **FAST)
    calls = submit(writer, 20)
    writer.submit(bad)
    calls += submit(writer, 20, start=20)
    assert writer.close()
    stats = writer.stats()
    refused = 1 if store.dialect == "postgresql" else 0
    assert stats.rejected == refused and stats.written == 41 - refused
    assert stats.spooled == 0 and not writer.spool.pending()
    assert set(c.id for c in calls) <= set(store.ids())
    assert store.count() == 41 - refused
    rejects = list(writer.rejects.read(writer.rejects.path)) if refused else []
    assert [pair[0]["id"] for _, pair in rejects] == ([bad.id] if refused else [])
