"""Named, ordered, append-only migrations, applied when the ledger is opened.

The model is simonw/llm's ``llm/migrations.py``: each migration is a function
registered in order under a name; the names applied are recorded in
``_llmtally_migrations``; opening a ledger applies the missing ones. Never
edit, rename or reorder a migration once released: append a new one.

One runner serves SQLite and PostgreSQL (see docs/decisions.md). Each
migration runs in its own transaction together with the row that records
it (both databases have transactional DDL), so a failed migration leaves no
trace. On PostgreSQL a transaction-scoped advisory lock serialises replicas
that open the ledger at the same moment; on SQLite ``BEGIN IMMEDIATE`` does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    select,
    text,
)
from sqlalchemy.sql.schema import SchemaItem

from llmtally.ledger.advice_rollup import rebuild_advice
from llmtally.ledger.advice_tables import advice_tables
from llmtally.ledger.applied_table import advice_applied_v14_columns
from llmtally.ledger.budget_tables import budget_tables
from llmtally.ledger.rollup_tables import CONTEXT_COLUMNS, rollup_tables
from llmtally.ledger.rollups import rebuild_rollups
from llmtally.ledger.schema import (
    MIGRATIONS_TABLE,
    alert_attempts_v10_columns,
    alert_deliveries_v10_columns,
    alert_rules_v10_columns,
    alerts_v10_columns,
    budgets_v17_columns,
    call_bodies_v1_columns,
    calls_v1_columns,
    calls_v4_columns,
    calls_v7_columns,
    calls_v9_columns,
    calls_v11_columns,
    calls_v13_columns,
    calls_v16_columns,
    gateway_keys_v1_columns,
    gateway_keys_v8_columns,
    lab_cells_v1_columns,
    lab_runs_v1_columns,
)
from llmtally.reconcile.tables import provider_costs_v12_columns, provider_usage_v12_columns

__all__ = ["MIGRATIONS", "Migration", "applied_migrations", "migrate"]

Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []
# Any fixed 64-bit number: the advisory lock that guards migrations on PostgreSQL.
_PG_LOCK_KEY = 0x6C6C6D74616C6C79

_meta = MetaData()
_applied = Table(
    MIGRATIONS_TABLE,
    _meta,
    Column("name", String(200), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration, under its function name."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m0001_calls(conn: Connection) -> None:
    Table("calls", MetaData(), *calls_v1_columns()).create(conn)


@migration
def m0002_call_bodies(conn: Connection) -> None:
    Table("call_bodies", MetaData(), *call_bodies_v1_columns()).create(conn)


@migration
def m0003_gateway_keys(conn: Connection) -> None:
    Table("gateway_keys", MetaData(), *gateway_keys_v1_columns()).create(conn)


@migration
def m0004_call_savings(conn: Connection) -> None:
    table = Table("calls", MetaData(), *calls_v1_columns(), *calls_v4_columns())
    _add_columns(conn, "calls", calls_v4_columns())
    for index in table.indexes:
        if index.name in ("ix_calls_trace", "ix_calls_cost"):
            index.create(conn)


@migration
def m0005_rollups(conn: Connection) -> None:
    # The calls already stored are summed by m0007, once the tables have all their columns.
    meta = MetaData()
    rollup_tables(meta, as_created=True)
    meta.create_all(conn)


@migration
def m0006_lab(conn: Connection) -> None:
    meta = MetaData()
    Table("lab_runs", meta, *lab_runs_v1_columns())
    Table("lab_cells", meta, *lab_cells_v1_columns())
    meta.create_all(conn)


@migration
def m0007_context_role(conn: Connection) -> None:
    """Retrieved context (what tools returned) as its own prompt role."""
    _add_columns(conn, "calls", calls_v7_columns())
    rollups = rollup_tables(MetaData())
    for grain in ("hour", "day"):
        table = rollups[f"rollup_model_{grain}"]
        columns = [table.c[name] for name in CONTEXT_COLUMNS]
        _add_columns(conn, table.name, columns, default="0")
    # Ledgers that summed their calls in an earlier m0005 keep those sums (their
    # calls have no context counts: the new columns' 0 is right); others sum now.
    day = rollups["rollup_model_day"]
    if conn.execute(select(day.c.bucket).limit(1)).first() is None:
        rebuild_rollups(conn)


@migration
def m0008_budgets(conn: Connection) -> None:
    """Budgets on any scope with reservations (reserve, then settle), and teams of keys."""
    meta = MetaData()
    budget_tables(meta)
    meta.create_all(conn)
    _add_columns(conn, "gateway_keys", gateway_keys_v8_columns())


@migration
def m0009_call_flags(conn: Connection) -> None:
    """What was unusual about a call (a client that left mid-stream, say)."""
    _add_columns(conn, "calls", calls_v9_columns())


@migration
def m0010_alerts(conn: Connection) -> None:
    """Alert rules added from the command line, alerts fired, their deliveries
    and every delivery attempt (llmtally.alerts)."""
    meta = MetaData()
    Table("alert_rules", meta, *alert_rules_v10_columns())
    Table("alerts", meta, *alerts_v10_columns())
    Table("alert_deliveries", meta, *alert_deliveries_v10_columns())
    Table("alert_attempts", meta, *alert_attempts_v10_columns())
    meta.create_all(conn)


@migration
def m0011_source_cost(conn: Connection) -> None:
    """The cost the producer itself reported (an OTel span's, an imported tool's),
    kept beside llmtally's own, and the partial index the comparison reads."""
    columns = calls_v11_columns()
    _add_columns(conn, "calls", columns)
    table = Table("calls", MetaData(), *calls_v1_columns(), *columns)
    for index in table.indexes:
        if index.name == "ix_calls_source_cost":
            index.create(conn)


@migration
def m0012_provider_reports(conn: Connection) -> None:
    """The providers' own usage and cost reports (llmtally.reconcile), one row
    per provider bucket and group."""
    meta = MetaData()
    Table("provider_usage", meta, *provider_usage_v12_columns())
    Table("provider_costs", meta, *provider_costs_v12_columns())
    meta.create_all(conn)


@migration
def m0013_request_facts(conn: Connection) -> None:
    """Facts of each call's request and response (its body's SHA-256, why the
    output stopped, the output cap and reasoning asked for), so the advisor need
    not read stored bodies. Calls recorded before have NULL: not known."""
    _add_columns(conn, "calls", calls_v13_columns())


@migration
def m0014_advice_applied(conn: Connection) -> None:
    """The changes a person marks as applied (``llmtally advise applied``), whose
    realised saving the advisor measures (llmtally.advisor.realised)."""
    meta = MetaData()
    Table("advice_applied", meta, *advice_applied_v14_columns())
    meta.create_all(conn)


@migration
def m0015_advice_rollups(conn: Connection) -> None:
    """The advisor's rollups (``ledger/advice_tables.py``), filled from the calls
    already stored, in time order (the prompt-cache gaps and response-cache windows
    follow it)."""
    meta = MetaData()
    advice_tables(meta)
    meta.create_all(conn)
    rebuild_advice(conn)


@migration
def m0016_billed_currency(conn: Connection) -> None:
    """What a call priced in another currency than USD was billed, and the rate
    that turned it into the USD of ``cost_*``. Calls recorded before were all
    priced in USD: NULL, nothing converted."""
    _add_columns(conn, "calls", calls_v16_columns())


@migration
def m0017_budget_currency(conn: Connection) -> None:
    """The currency a dollar budget was given in, as a column (NULL: USD). A
    budget given in yuan was stored, before this, with metric ``usd:CNY``
    (unreleased): it becomes metric ``usd``, currency ``CNY``. One budget per
    scope, subject, metric, period *and currency*, as ``usd:CNY`` made it, so
    the unique rule takes the currency in: SQLite cannot drop a table's inline
    constraint, so there the table is rebuilt, rows as they are."""
    if conn.dialect.name == "sqlite":
        _rebuild_budgets_without_rule(conn)
    else:
        _add_columns(conn, "budgets", budgets_v17_columns())
        conn.execute(text("ALTER TABLE budgets DROP CONSTRAINT uq_budgets_rule"))
    conn.execute(
        text(
            "UPDATE budgets SET currency = substr(metric, 5), metric = 'usd'"
            " WHERE metric LIKE 'usd:%'"
        )
    )
    conn.execute(
        text(
            "CREATE UNIQUE INDEX uq_budgets_rule_currency ON budgets"
            " (scope, subject, metric, period, (COALESCE(currency, 'USD')))"
        )
    )


def _rebuild_budgets_without_rule(conn: Connection) -> None:
    """SQLite: ``budgets`` as 0008 made it, less its unique rule, plus 0017's columns."""
    conn.execute(text("ALTER TABLE budgets RENAME TO budgets_before_m0017"))
    table = budget_tables(MetaData())["budgets"]
    table.constraints = {c for c in table.constraints if c.name != "uq_budgets_rule"}
    for item in budgets_v17_columns():
        table.append_column(item)  # type: ignore[arg-type]
    table.create(conn)
    names = ", ".join(c.name for c in table.columns if c.name != "currency")
    conn.execute(text(f"INSERT INTO budgets ({names}) SELECT {names} FROM budgets_before_m0017"))
    conn.execute(text("DROP TABLE budgets_before_m0017"))


def _add_columns(
    conn: Connection, table: str, items: Sequence[SchemaItem], default: str | None = None
) -> None:
    for item in items:
        if isinstance(item, Column):
            kind = item.type.compile(dialect=conn.dialect)
            rest = f" NOT NULL DEFAULT {default}" if default is not None else ""
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {item.name} {kind}{rest}"))


def applied_migrations(conn: Connection) -> list[str]:
    """Names of the migrations applied to this database, oldest first."""
    _applied.create(conn, checkfirst=True)
    rows = conn.execute(select(_applied.c.name, _applied.c.applied_at)).all()
    return [name for name, _ in sorted(rows, key=lambda row: (row[1], row[0]))]


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def migrate(engine: Engine, migrations: list[tuple[str, Migration]] | None = None) -> list[str]:
    """Apply the migrations this database lacks, in order; return their names."""
    todo = MIGRATIONS if migrations is None else migrations
    with engine.connect().execution_options(llmtally_write=True) as conn, conn.begin():
        _lock(conn)
        _applied.create(conn, checkfirst=True)
    done: list[str] = []
    for name, fn in todo:
        with engine.connect().execution_options(llmtally_write=True) as conn, conn.begin():
            _lock(conn)
            if conn.execute(select(_applied.c.name).where(_applied.c.name == name)).first():
                continue
            fn(conn)
            now = dt.datetime.now(dt.UTC)
            conn.execute(_applied.insert().values(name=name, applied_at=now))
            done.append(name)
    return done
