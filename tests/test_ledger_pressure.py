"""The writer when the database and the spool fail together, and its durable mode.

Faults are real. The database: SQLite locked by another connection (BEGIN
EXCLUSIVE), or PostgreSQL behind a TCP forwarder that is stopped. The spool:
its path lies under a regular file, so creating or opening it fails with an
OSError (the tests run as root, for whom a read-only mode stops nothing).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.usage import Call
from test_ledger_support import Forwarder, pg_base_url, pg_schema, simple_call  # noqa: F401
from test_ledger_writer import FAST, submit, wait_for


class Faults:
    """A SQLite ledger that can be locked and a spool path that can be blocked."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "ledger.sqlite3"
        self.blocker = tmp_path / "spool-folder"
        self.spool = self.blocker / "spool.jsonl"
        self.fallback = tmp_path / "fallback"
        self.fallback.mkdir()
        self._holder: sqlite3.Connection | None = None

    def lock_db(self) -> None:
        self._holder = sqlite3.connect(self.db, isolation_level=None)
        self._holder.execute("BEGIN EXCLUSIVE")

    def unlock_db(self) -> None:
        if self._holder is not None:
            self._holder.execute("COMMIT")
            self._holder.close()
            self._holder = None

    def block_spool(self) -> None:
        self.blocker.write_text("a file where the spool's folder should be\n")

    def unblock_spool(self) -> None:
        self.blocker.unlink(missing_ok=True)

    def writer(self, store: Store, **options: object) -> LedgerWriter:
        settings = {"db_timeout": 0.3, "fallback_dirs": [self.fallback], **FAST, **options}
        return LedgerWriter(store, self.spool, **settings)  # type: ignore[arg-type]


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[tuple[Faults, Store]]:
    f = Faults(tmp_path)
    with open_store(f"sqlite:///{f.db}") as store:
        try:
            yield f, store
        finally:
            f.unlock_db()


def test_both_down_holds_calls_up_to_the_bound_then_says_full(
    faults: tuple[Faults, Store], caplog: pytest.LogCaptureFixture
) -> None:
    f, store = faults
    f.lock_db()
    f.block_spool()
    writer = f.writer(store, max_held=30)
    try:
        calls = submit(writer, 29)
        wait_for(lambda: not writer.stats().spool_up)
        assert not writer.is_full()  # 29 wait: one below the bound
        calls += submit(writer, 1, start=29)
        assert writer.is_full()
        s = writer.stats()
        assert (s.queued, s.written, s.spooled, s.lost, s.full) == (30, 0, 0, 0, True)
        assert s.max_held == 30 and not s.database_up and not s.spool_up
        assert "spool" in (s.last_error or "")
        assert any("ledger full: 30 calls wait in memory" in r.message for r in caplog.records)
        f.unlock_db()  # the database returns; the spool stays broken
        wait_for(lambda: writer.stats().written == 30)
        assert not writer.is_full()
        assert any("accepting calls again" in r.message for r in caplog.records)
    finally:
        assert writer.close(5)
    assert store.ids() == sorted(c.id for c in calls)


def test_at_exit_with_both_down_the_held_calls_go_to_a_fallback_file_then_replay(
    faults: tuple[Faults, Store],
) -> None:
    f, store = faults
    f.lock_db()
    f.block_spool()
    writer = f.writer(store, batch_size=10)
    calls = submit(writer, 25)
    wait_for(lambda: not writer.stats().spool_up)
    assert writer.close(timeout=0.5)  # retry half a second, then the fallback file
    s = writer.stats()
    assert (s.fallback, s.lost, s.written, s.spooled) == (25, 0, 0, 0)
    files = list(f.fallback.iterdir())
    assert files and all(p.name.startswith("llmtally-spool-") for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)  # bodies hold prompts
    # recovery: both back; the next writer on the same spool moves the file in and replays
    f.unlock_db()
    f.unblock_spool()
    again = f.writer(store)
    wait_for(lambda: store.count() == 25)
    assert again.close()
    assert store.ids() == sorted(c.id for c in calls)
    assert list(f.fallback.iterdir()) == []
    assert not f.spool.exists()  # replayed and removed


def test_another_spool_does_not_take_this_spools_fallback_file(
    faults: tuple[Faults, Store], tmp_path: Path
) -> None:
    f, store = faults
    f.lock_db()
    f.block_spool()
    writer = f.writer(store)
    submit(writer, 3)
    assert writer.close(timeout=0.2)
    f.unlock_db()
    other = LedgerWriter(store, tmp_path / "other-spool.jsonl", fallback_dirs=[f.fallback], **FAST)
    assert other.close()
    assert store.count() == 0 and len(list(f.fallback.iterdir())) == 1


def test_when_every_fallback_folder_refuses_the_calls_are_counted_lost(
    faults: tuple[Faults, Store], caplog: pytest.LogCaptureFixture
) -> None:
    f, store = faults
    f.lock_db()
    f.block_spool()
    writer = f.writer(store, fallback_dirs=[f.blocker / "fallback"])  # under the file too
    submit(writer, 7)
    assert writer.close(timeout=0.2)
    s = writer.stats()
    assert (s.lost, s.fallback) == (7, 0)
    assert any("lost 7 calls" in r.message for r in caplog.records if r.levelno >= logging.ERROR)


def test_postgres_down_and_spool_broken_lose_nothing_once_postgres_returns(
    pg_base_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    f = Faults(tmp_path)
    f.block_spool()
    with pg_schema(pg_base_url) as url, open_store(url) as direct:
        target = make_url(url)
        forwarder = Forwarder((target.host or "127.0.0.1", target.port or 5432))
        forwarder.start()
        via = target.set(port=forwarder.port).render_as_string(hide_password=False)
        try:
            with open_store(via) as proxied:
                writer = f.writer(proxied, max_held=50, batch_size=20)
                forwarder.stop()
                calls = submit(writer, 60)
                wait_for(writer.is_full)
                assert writer.stats().written == 0
                forwarder.start()
                wait_for(lambda: writer.stats().written == 60)
                assert writer.close(5)
        finally:
            forwarder.stop()
        assert direct.ids() == sorted(c.id for c in calls)


# -- the durable mode ----------------------------------------------------------------


def journal_ids(writer: LedgerWriter) -> set[str]:
    """Ids in the journal (a replay may rename it between the two reads: a set)."""
    found: set[str] = set()
    for path in (writer.journal.path, writer.journal.replaying):
        with contextlib.suppress(FileNotFoundError):
            found |= {pair[0]["id"] for _, pair in writer.journal.read(path)}
    return found


def test_durable_ack_resolves_once_the_call_is_in_the_journal(
    faults: tuple[Faults, Store],
) -> None:
    f, store = faults
    f.lock_db()  # nothing can reach the database: the journal alone makes it durable
    writer = f.writer(store, durable=True)
    try:
        call = submit(writer, 1)[0]
        writer.ack(call.id).result(timeout=10)
        assert journal_ids(writer) == {call.id}
        assert writer.stats().journaled == 1 and store.count() == 0
        # a second process on the same spool (this one "crashed") replays the journal
        f.unlock_db()
        wait_for(lambda: store.count() == 1)
    finally:
        assert writer.close()
    assert store.ids() == [call.id]
    assert not writer.journal.pending()


def test_durable_without_a_journal_acks_once_the_database_has_the_call(
    faults: tuple[Faults, Store],
) -> None:
    f, store = faults
    f.block_spool()  # the journal lives beside the spool: it cannot be written either
    f.lock_db()
    writer = f.writer(store, durable=True)
    try:
        call = submit(writer, 1)[0]
        ack = writer.ack(call.id)
        with pytest.raises(TimeoutError):
            ack.result(timeout=1.0)  # neither the journal nor the database has it
        f.unlock_db()
        ack.result(timeout=10)
        assert store.ids() == [call.id]
        s = writer.stats()
        assert (s.journaled, s.written) == (0, 1)
    finally:
        assert writer.close()


def test_an_ack_for_a_call_the_writer_does_not_hold_is_already_resolved(
    faults: tuple[Faults, Store],
) -> None:
    f, store = faults
    for durable in (False, True):
        writer = f.writer(store, durable=durable)
        calls: list[Call] = submit(writer, 3)
        for call in calls:
            writer.ack(call.id).result(timeout=10)
        assert writer.ack("01NOTACALL").done()
        assert writer.close()
    assert store.count() == 6
