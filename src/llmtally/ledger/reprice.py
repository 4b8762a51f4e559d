"""Re-pricing stored calls that have no price (``llmtally calls reprice``).

A call is stored unpriced (``cost_total`` NULL, the reason in ``cost_error``)
when its model had no price, or when it was billed in another currency and no
rate converted it (``llmtally.currency.pivot``; ``billed_*`` still say what was
billed). Once the user adds the price or the rate, :func:`reprice` prices each
such call again the way it was first priced: the stored row read back as a
``Call`` (:func:`~llmtally.ledger.rows.row_to_call`), priced by the capture
paths' one meter step at the price in force when it started
(:func:`llmtally.gateway.call_rows.repriced`: long-context cliffs, service tier,
a call that reported no usage left unpriced), and its row made again
(:func:`~llmtally.ledger.rows.call_to_row`, which converts a price in another
currency to USD and records the rate).

Only the cost, price, billed, fx, ``cost_error`` and ``saved_*`` columns are
written, and only on rows still unpriced (``WHERE cost_total IS NULL``): a
priced row is never touched, and a second run finds nothing to do.

Rollups are add-only on insert, so a row whose cost changed needs them summed
again: the rollup tables and the advisor's are emptied and rebuilt from every
stored call, in the same transaction as the updates. That transaction holds
the ledger's write lock throughout: SQLite's (``BEGIN IMMEDIATE``), and on
PostgreSQL ``LOCK TABLE calls IN SHARE ROW EXCLUSIVE MODE`` (reads go on;
inserts wait), so a call a gateway records meanwhile is inserted, and added to
the rollups, after the commit: it is neither lost from the rollups nor counted
twice. A SQLite writer that waits longer than its busy timeout spools the call
and replays it later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update

from llmtally.catalog import Catalog
from llmtally.currency.pivot import BILLED_COLUMNS, PIVOT
from llmtally.gateway.call_rows import _NO_USAGE as NO_USAGE  # a call that reported none
from llmtally.gateway.call_rows import repriced  # the capture paths' meter step
from llmtally.ledger.advice_rollup import rebuild_advice
from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.rollups import rebuild_rollups
from llmtally.ledger.rows import call_to_row, row_to_call
from llmtally.ledger.schema import COST_COLUMNS, calls
from llmtally.usage import Call

if TYPE_CHECKING:
    from llmtally.ledger.store import Store

__all__ = ["REPRICED_COLUMNS", "Billed", "Reason", "RepriceResult", "reprice"]

# What re-pricing writes: everything a price sets on a row, nothing else.
REPRICED_COLUMNS = (
    *COST_COLUMNS.values(),
    "price_id",
    "price_source",
    "price_window",
    "catalog_version",
    "long_context_above",
    *BILLED_COLUMNS,
    "cost_error",
    "saved_cache",
    "saved_tier",
)
PAGE = 1000
_ZERO = Decimal(0)


@dataclass(slots=True)
class Billed:
    """The calls re-priced in one billed currency: how many, what they billed
    (in that currency) and their USD cost."""

    calls: int = 0
    billed: Decimal = _ZERO
    cost_usd: Decimal = _ZERO


@dataclass(slots=True)
class Reason:
    """Calls left unpriced for one kind of reason, and the first such reason."""

    calls: int
    first: str


@dataclass(slots=True)
class RepriceResult:
    """What a run re-priced (or would, ``dry_run``), what it left unpriced and
    how many calls the rollup rebuild read (None: not rebuilt)."""

    dry_run: bool
    repriced: int = 0
    cost_usd: Decimal = _ZERO
    by_currency: dict[str, Billed] = field(default_factory=dict)
    unpriced: int = 0
    reasons: dict[str, Reason] = field(default_factory=dict)
    rollup_calls: int | None = None

    def add_priced(self, row: Mapping[str, Any]) -> None:
        currency = row["billed_currency"] or PIVOT
        found = self.by_currency.setdefault(currency, Billed())
        found.calls += 1
        found.billed += row["billed_total"] if row["billed_currency"] else row["cost_total"]
        found.cost_usd += row["cost_total"]
        self.repriced += 1
        self.cost_usd += row["cost_total"]

    def add_left(self, kind: str, reason: str) -> None:
        self.unpriced += 1
        found = self.reasons.setdefault(kind, Reason(0, reason))
        found.calls += 1


def _kind(call: Call, row: Mapping[str, Any]) -> str:
    """Why a re-made row is still unpriced, in a word: the exchange rate (a
    price was found, in another currency), no usage reported, or no price."""
    if row["billed_currency"] is not None:
        return "no exchange rate"
    if call.usage == NO_USAGE:
        return "no usage reported"
    return "no price"


def _unpriced_pages(
    conn: Connection, since: dt.datetime | None, until: dt.datetime | None
) -> Iterator[list[dict[str, Any]]]:
    """The unpriced rows that started in [since, until), a page at a time, in id order."""
    query = select(calls).where(calls.c.cost_total.is_(None))
    if since is not None:
        query = query.where(calls.c.started_at >= since.astimezone(dt.UTC))
    if until is not None:
        query = query.where(calls.c.started_at < until.astimezone(dt.UTC))
    after = ""
    while True:
        page = query.where(calls.c.id > after).order_by(calls.c.id).limit(PAGE)
        rows = [dict(row) for row in conn.execute(page).mappings()]
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def _priced_again(row: Mapping[str, Any], catalog: Catalog) -> tuple[Call, dict[str, Any]]:
    """The call ``row`` holds, and the row it would be if recorded now, with
    ``catalog`` and the current rates."""
    call = row_to_call(row)
    return call, call_to_row(repriced(call, catalog, call.key_id))


_UPDATE = (
    update(calls)
    .where(calls.c.id == bindparam("_id"), calls.c.cost_total.is_(None))
    .values({name: bindparam(f"_{name}") for name in REPRICED_COLUMNS})
)


def _run(
    conn: Connection,
    catalog: Catalog,
    since: dt.datetime | None,
    until: dt.datetime | None,
    result: RepriceResult,
) -> None:
    for page in _unpriced_pages(conn, since, until):
        changes = []
        for row in page:
            call, new = _priced_again(row, catalog)
            if new["cost_total"] is None:
                result.add_left(_kind(call, new), new["cost_error"] or "no reason recorded")
                continue
            result.add_priced(new)
            changes.append({"_id": row["id"]} | {f"_{k}": new[k] for k in REPRICED_COLUMNS})
        if changes and not result.dry_run:
            conn.execute(_UPDATE, changes)


def _rebuild(conn: Connection) -> int:
    """Every rollup summed again from the stored calls; the number of calls read."""
    read = rebuild_rollups(conn)
    for table in ADVICE_TABLES.values():
        conn.execute(table.delete())
    rebuild_advice(conn)
    return read


def reprice(
    store: Store,
    catalog: Catalog,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    dry_run: bool = False,
) -> RepriceResult:
    """Price again the unpriced calls that started in [since, until) (None: no
    bound), write the ones that now have a price and rebuild the rollups, all in
    one transaction (see the module's notes); ``dry_run`` writes nothing."""
    result = RepriceResult(dry_run=dry_run)
    if dry_run:
        with store.engine.connect() as conn:
            _run(conn, catalog, since, until, result)
        return result
    with store.engine.connect().execution_options(llmtally_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE calls IN SHARE ROW EXCLUSIVE MODE")
        _run(conn, catalog, since, until, result)
        if result.repriced:
            result.rollup_calls = _rebuild(conn)
    return result
