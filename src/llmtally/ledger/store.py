"""The ledger store: open SQLite or PostgreSQL, migrate, insert idempotently, read.

``open_store()`` with no URL opens ``<data_home>/ledger.sqlite3`` (WAL,
``synchronous=NORMAL``, a busy timeout), or ``LLMTALLY_DATABASE_URL``. Inserts
are ``INSERT .. ON CONFLICT (id) DO NOTHING`` on both databases, so writing a
call twice (a replayed spool, a retried batch) stores it once.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, event, func, or_, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from llmtally.config import database_url
from llmtally.ledger.advice_rollup import apply_advice
from llmtally.ledger.driver import Compiled, compile_insert, dialect_insert, driver_parameters
from llmtally.ledger.migrations import migrate
from llmtally.ledger.rollups import apply_rollups
from llmtally.ledger.rows import (
    CallBodies,
    bodies_to_row,
    call_to_row,
    row_to_bodies,
    row_to_call,
)
from llmtally.ledger.schema import call_bodies, calls
from llmtally.usage import Call

__all__ = ["DEFAULT_LIMIT", "Store", "open_store"]

DEFAULT_LIMIT = 100
_ID_CHUNK = 500  # ids per "already stored?" query (SQLite's variable limit is 32766)
SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 5
PG_POOL_SIZE = 16  # connections kept per process (as many again may open in a burst)
LOGGING_NAME = "llmtally"  # the engines log as sqlalchemy.engine.Engine.llmtally


class _NoRowDumps(logging.Filter):
    """SQLAlchemy logs each row it fetches at DEBUG; ledger rows hold prompts,
    bodies and error texts, so those records are dropped (statements stay, at INFO,
    their parameters hidden by ``hide_parameters``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _create_engine(url: str, **options: Any) -> Engine:
    """``create_engine`` that never puts a value in a log line or an error text."""
    engine = create_engine(url, hide_parameters=True, logging_name=LOGGING_NAME, **options)
    logger = logging.getLogger(f"sqlalchemy.engine.Engine.{LOGGING_NAME}")
    if not any(isinstance(f, _NoRowDumps) for f in logger.filters):
        logger.addFilter(_NoRowDumps())
    return engine


def _same(value: Any) -> Any:
    return value


def _bind_none_directly() -> None:
    """pysqlite binds a parameter that is not exactly int, float or str through its
    adapter protocol: for None, that looks up ``__adapt__`` on its protocol type,
    raising and clearing an AttributeError every time (~0.25 us; a ledger row binds
    ~30 NULLs and its rollup rows more). With an adapter registered for None the
    registry answers instead, and the None it returns binds as NULL, as before."""
    sqlite3.register_adapter(type(None), _same)


def _sqlite_engine(url: str) -> Engine:
    _bind_none_directly()
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = _create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN: DDL becomes transactional.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front, so the busy timeout applies.
        write = conn.get_execution_options().get("llmtally_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _engine(url: str) -> Engine:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        # Connections are kept, not opened per burst: the writer, the budget
        # threads, settling and the refresh use up to ~12 at once, and opening
        # connections under load is what timed out first (benchmarks/budgets.py).
        return _create_engine(
            url,
            pool_pre_ping=True,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_POOL_SIZE,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        )
    raise ValueError(f"unsupported ledger database {backend!r}: use sqlite or postgresql")


def _upsert_nothing(dialect: str, table: Any, key: str) -> Insert:
    stmt: Insert = dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=[key])
    return stmt


# A row may leave out columns: they take their default (0 for counts, else NULL).
_CALL_DEFAULTS = {
    c.name: c.default.arg if isinstance(c.default, ScalarElementColumnDefault) else None
    for c in calls.columns
}


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    return row if row.keys() >= _CALL_DEFAULTS.keys() else {**_CALL_DEFAULTS, **row}


@functools.cache
def _sqlite_calls_insert(dialect: Dialect) -> Compiled:
    return compile_insert(dialect, calls, _upsert_nothing("sqlite", calls, "id"))


def _first_of_each(rows: Sequence[dict[str, Any]], ids: set[str]) -> list[dict[str, Any]]:
    """The rows whose id is in ``ids``, each id once (the first row inserted)."""
    taken: list[dict[str, Any]] = []
    for row in rows:
        if row["id"] in ids:
            ids.discard(row["id"])
            taken.append(row)
    return taken


class Store:
    """One ledger database. Thread-safe: each operation takes its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(llmtally_write=True)

    def insert_rows(
        self, rows: Sequence[dict[str, Any]], bodies: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Insert ``calls`` rows (and body rows) in one transaction; known ids are
        skipped. The rollups gain the rows actually inserted, in the same transaction."""
        if not rows and not bodies:
            return
        with self._write() as conn, conn.begin():
            if rows:
                rows = [
                    row if row.keys() >= _CALL_DEFAULTS.keys() else _complete(row) for row in rows
                ]
                stored = _first_of_each(rows, self._insert_calls(conn, rows))
                apply_rollups(conn, stored)
                apply_advice(conn, stored, {body["call_id"]: body for body in bodies})
            if bodies:
                conn.execute(_upsert_nothing(self.dialect, call_bodies, "call_id"), list(bodies))

    def _insert_calls(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert ``rows`` (known ids skipped); the ids actually inserted."""
        if self.dialect != "sqlite":
            stmt = _upsert_nothing(self.dialect, calls, "id").returning(calls.c.id)
            return set(conn.execute(stmt, list(rows)).scalars())
        # SQLite: the write lock is held (BEGIN IMMEDIATE), so the ids not there
        # before the insert are the ones it added; the rows go to the driver as is.
        ids = list(dict.fromkeys(row["id"] for row in rows))
        known: set[str] = set()
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            known.update(conn.execute(select(calls.c.id).where(calls.c.id.in_(chunk))).scalars())
        plan = _sqlite_calls_insert(conn.dialect)
        conn.exec_driver_sql(plan.sql, driver_parameters(plan, list(rows)))
        return set(ids) - known

    def insert_many(self, items: Iterable[Call], bodies: Iterable[CallBodies] = ()) -> None:
        """Store calls (and their bodies); a call whose id is stored already is skipped."""
        self.insert_rows([call_to_row(call) for call in items], [bodies_to_row(b) for b in bodies])

    def get(self, call_id: str) -> Call | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.id == call_id)).mappings().first()
        return None if row is None else row_to_call(row)

    def get_bodies(self, call_id: str) -> CallBodies | None:
        query = select(call_bodies).where(call_bodies.c.call_id == call_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else row_to_bodies(row)

    def list(
        self,
        since: dt.datetime | None = None,
        model: str | None = None,
        user: str | None = None,
        feature: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> list[Call]:
        """Calls, newest first, filtered; ``model`` matches the model that answered
        (the one requested when that is unknown), as ``Call.model``."""
        query = select(calls).order_by(calls.c.started_at.desc(), calls.c.id.desc())
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be timezone-aware")
            query = query.where(calls.c.started_at >= since.astimezone(dt.UTC))
        if model is not None:
            query = query.where(
                or_(
                    calls.c.model_served == model,
                    and_(calls.c.model_served.is_(None), calls.c.model_requested == model),
                )
            )
        if user is not None:
            query = query.where(calls.c.user_id == user)
        if feature is not None:
            query = query.where(calls.c.feature == feature)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [row_to_call(row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(calls)).scalar_one())

    def ids(self) -> builtins.list[str]:
        """Every stored call id, in id order (for checks and exports)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(calls.c.id).order_by(calls.c.id)).scalars())


def open_store(url: str | None = None, *, migrate_now: bool = True) -> Store:
    """Open (and migrate) the ledger at ``url``, ``LLMTALLY_DATABASE_URL`` or the default
    SQLite file under the data folder."""
    engine = _engine(database_url(url))
    try:
        if migrate_now:
            migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
