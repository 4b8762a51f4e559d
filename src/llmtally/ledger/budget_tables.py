"""The tables behind budgets and rate limits (created by migration 0008).

- ``budgets``: what may be spent: a scope (``key``, ``team``, ``user``,
  ``feature``, ``tag``) and its subject, a metric (``usd``, ``requests``,
  ``tokens``), a period (``minute``, ``day``, ``week``, ``month``, ``total``)
  and the amount, in ``currency`` (migration 0017; NULL = USD, converted to
  USD for admission). A key's own budget (``keys create --budget-usd``) stays on
  its ``gateway_keys`` row and counts as budget ``key:<key id>``.
- ``budget_counters``: per budget and window (the window's start, epoch
  seconds UTC), what was spent (settled) and what is reserved by calls in
  flight. Admission adds to ``reserved`` only where ``spent + reserved +
  amount <= budget``, in one conditional UPDATE.
- ``budget_holders``: each gateway process that holds reservations, with its
  heartbeat (a lease) and where it runs. A holder whose process is gone from
  this machine, or (elsewhere) whose heartbeat is older than the lease, is
  swept, and what it held is released.
- ``budget_holds``: what each holder has reserved per budget and window.

Columns are never edited once released: a later change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, UniqueConstraint

from llmtally.ledger.schema import Fixed, budgets_v17_columns

__all__ = [
    "BUDGET_TABLES",
    "budget_counters",
    "budget_holders",
    "budget_holds",
    "budget_metadata",
    "budget_tables",
    "budgets",
]


def budget_tables(meta: MetaData) -> dict[str, Table]:
    """The four tables as migration 0008 created them. Never edit."""
    tables = [
        Table(
            "budgets",
            meta,
            Column("id", Text, primary_key=True),
            Column("scope", Text, nullable=False),
            Column("subject", Text, nullable=False),
            Column("metric", Text, nullable=False),
            Column("period", Text, nullable=False),
            Column("amount", Fixed, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False),
            UniqueConstraint("scope", "subject", "metric", "period", name="uq_budgets_rule"),
        ),
        Table(
            "budget_counters",
            meta,
            Column("budget_id", Text, primary_key=True),
            Column("window", BigInteger, primary_key=True),
            Column("spent", Fixed, nullable=False),
            Column("reserved", Fixed, nullable=False),
        ),
        Table(
            "budget_holders",
            meta,
            Column("id", Text, primary_key=True),
            Column("started_at", DateTime(timezone=True), nullable=False),
            Column("heartbeat_at", DateTime(timezone=True), nullable=False),
            # where it runs (llmtally.budgets.liveness): a dead local process is swept
            # at once, a live one never by its lease alone
            Column("machine", Text),
            Column("pid", BigInteger),
            Column("pid_started", BigInteger),
        ),
        Table(
            "budget_holds",
            meta,
            Column("holder_id", Text, primary_key=True),
            Column("budget_id", Text, primary_key=True),
            Column("window", BigInteger, primary_key=True),
            Column("amount", Fixed, nullable=False),
        ),
    ]
    return {table.name: table for table in tables}


def _budgets_now(table: Table) -> Table:
    """``budgets`` as it is now: as migration 0008 made it, with 0017's currency."""
    for column in budgets_v17_columns():
        table.append_column(column)  # type: ignore[arg-type]
    return table


budget_metadata = MetaData()
BUDGET_TABLES = budget_tables(budget_metadata)
budgets = _budgets_now(BUDGET_TABLES["budgets"])
budget_counters = BUDGET_TABLES["budget_counters"]
budget_holders = BUDGET_TABLES["budget_holders"]
budget_holds = BUDGET_TABLES["budget_holds"]
