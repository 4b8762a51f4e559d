"""Storing parsed buckets: one transaction, whole buckets, never a double.

A bucket is the unit: its rows are compared with what the ledger holds for the
same provider, account, kind and period. The same figures are "already there";
new figures from the same source replace the bucket (a day fetched again once
it is complete); different figures from another source, or a bucket that
overlaps stored ones of another width, are an error and nothing is stored.
The account each provider's reports are for is settled first (see
:func:`resolve_accounts`). OpenAI cost rows stored before the model was read
from their line item are compared with it filled in; a bucket imported again
then counts as already there and its rows are rewritten with the model (source
and import time kept).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, select, union

from llmtally.reconcile.openai_report import fill_cost_model
from llmtally.reconcile.rows import MAX_COUNT, Bucket, ReportError
from llmtally.reconcile.tables import (
    COST_GROUP_COLUMNS,
    USAGE_COUNT_COLUMNS,
    USAGE_GROUP_COLUMNS,
    provider_costs,
    provider_usage,
)

__all__ = ["DEFAULT_ACCOUNT", "Tally", "resolve_accounts", "store_buckets", "utc"]

DEFAULT_ACCOUNT = "default"  # a provider's first reports, when nothing names the account
_META = ("provider", "account", "kind", "bucket_start", "bucket_end", "group_key")
_STAMP = ("source", "imported_at")


@dataclass
class Tally:
    """What an import did for one provider, account and kind."""

    provider: str
    kind: str  # usage:<kind> | costs
    account: str
    buckets: int = 0
    new: int = 0
    already: int = 0
    replaced: int = 0
    skipped: int = 0  # rows of other services (Google's billing export)
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def add_period(self, start: dt.datetime, end: dt.datetime) -> None:
        self.start = start if self.start is None else min(self.start, start)
        self.end = end if self.end is None else max(self.end, end)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "account": self.account,
            "buckets": self.buckets,
            "rows_new": self.new,
            "rows_already_there": self.already,
            "rows_replaced": self.replaced,
            "rows_skipped": self.skipped,
            "period_start": None if self.start is None else self.start.isoformat(),
            "period_end": None if self.end is None else self.end.isoformat(),
        }


def utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as UTC (SQLite returns naive datetimes; all are UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _table(kind: str) -> Table:
    return provider_costs if kind == "costs" else provider_usage


def stored_accounts(conn: Connection, provider: str) -> list[str]:
    query = union(
        select(provider_usage.c.account).where(provider_usage.c.provider == provider),
        select(provider_costs.c.account).where(provider_costs.c.provider == provider),
    )
    return sorted(conn.execute(query).scalars())


def resolve_accounts(
    conn: Connection, buckets: Sequence[Bucket], account: str | None
) -> dict[str, str]:
    """Provider -> the account its reports in ``buckets`` are stored under.

    ``account`` (``--account``) wins, unless the report names another. Else the
    report's own (Google's billing account), refused when the ledger holds that
    provider's reports for another account; else the one account stored, or
    ``default`` for a provider's first reports."""
    chosen: dict[str, str] = {}
    for provider in sorted({b.provider for b in buckets}):
        named = sorted({b.account for b in buckets if b.provider == provider and b.account})
        if len(named) > 1:
            raise ReportError(
                f"the {provider} report is for several accounts ({', '.join(named)}): "
                "import one account at a time"
            )
        own = named[0] if named else None
        if account is not None:
            if own is not None and own != account:
                raise ReportError(f"the {provider} report is for account {own!r}, not {account!r}")
            chosen[provider] = account
            continue
        stored = stored_accounts(conn, provider)
        if own is not None:
            if stored and own not in stored:
                raise ReportError(
                    f"the ledger holds {provider} reports for account {', '.join(stored)}; this "
                    f"report is for another organization ({own}): pass --account {own} "
                    "to import it as a second account"
                )
            chosen[provider] = own
        elif len(stored) > 1:
            raise ReportError(
                f"the ledger holds {provider} reports for several accounts "
                f"({', '.join(stored)}): name one with --account"
            )
        else:
            chosen[provider] = stored[0] if stored else DEFAULT_ACCOUNT
    return chosen


def _figures(row: dict[str, Any], table: Table) -> tuple[Any, ...]:
    """Every column of a row but the key and the stamps, in table order."""
    return tuple(row.get(c.name) for c in table.columns if c.name not in (*_META, *_STAMP))


def _complete(row: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind == "costs":
        return {
            name: row.get(name)
            for name in (*COST_GROUP_COLUMNS, "amount", "credits", "usage_amount")
        }
    full = {name: row.get(name) for name in USAGE_GROUP_COLUMNS}
    full.update({name: row.get(name) or 0 for name in USAGE_COUNT_COLUMNS})
    return full


def _merge_incoming(buckets: Iterable[Bucket]) -> dict[tuple[dt.datetime, dt.datetime], Bucket]:
    """One bucket per period; the same period twice must carry the same rows."""
    merged: dict[tuple[dt.datetime, dt.datetime], Bucket] = {}
    for bucket in buckets:
        period = (bucket.start, bucket.end)
        known = merged.get(period)
        if known is None:
            merged[period] = bucket
        elif known.rows != bucket.rows:
            raise ReportError(
                f"{bucket.where}: the bucket {bucket.start.isoformat()} appears twice "
                f"({known.where}) with different figures"
            )
    periods = sorted(merged)
    for before, after in zip(periods, periods[1:], strict=False):
        if after[0] < before[1]:
            raise ReportError(
                f"{merged[after].where}: buckets of different widths overlap "
                f"({before[0].isoformat()} to {before[1].isoformat()} and "
                f"{after[0].isoformat()} to {after[1].isoformat()})"
            )
    return merged


def _existing(
    conn: Connection, table: Table, key: tuple[str, str, str], start: dt.datetime, end: dt.datetime
) -> dict[tuple[dt.datetime, dt.datetime], list[dict[str, Any]]]:
    provider, account, kind = key
    query = select(table).where(
        and_(
            table.c.provider == provider,
            table.c.account == account,
            table.c.kind == kind,
            table.c.bucket_start < end,
            table.c.bucket_end > start,
        )
    )
    found: dict[tuple[dt.datetime, dt.datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(query).mappings():
        found[(utc(row["bucket_start"]), utc(row["bucket_end"]))].append(dict(row))
    return found


def _check_widths(
    incoming: dict[tuple[dt.datetime, dt.datetime], Bucket],
    stored: Iterable[tuple[dt.datetime, dt.datetime]],
) -> None:
    starts = sorted(incoming)
    for period in stored:
        if period in incoming:
            continue
        index = bisect.bisect_left(starts, (period[1],))
        for candidate in starts[max(0, index - 1) : index + 1]:
            if candidate[0] < period[1] and period[0] < candidate[1]:
                bucket = incoming[candidate]
                raise ReportError(
                    f"{bucket.where}: the bucket {candidate[0].isoformat()} to "
                    f"{candidate[1].isoformat()} overlaps one stored from another report "
                    f"({period[0].isoformat()} to {period[1].isoformat()}): same period, "
                    "different bucket width"
                )


def store_buckets(
    conn: Connection, buckets: Sequence[Bucket], source: str, accounts: dict[str, str]
) -> list[Tally]:
    """Store ``buckets`` in the open transaction ``conn``; a ReportError leaves it
    to the caller to roll back."""
    groups: dict[tuple[str, str, str], list[Bucket]] = defaultdict(list)
    for bucket in buckets:
        groups[(bucket.provider, accounts[bucket.provider], bucket.kind)].append(bucket)
    now = dt.datetime.now(dt.UTC)
    tallies = []
    for key, members in groups.items():
        tally = Tally(key[0], "costs" if key[2] == "costs" else f"usage:{key[2]}", key[1])
        incoming = _merge_incoming(members)
        if incoming:
            _store_group(conn, key, incoming, source, now, tally)
        tallies.append(tally)
    return tallies


def _store_group(
    conn: Connection,
    key: tuple[str, str, str],
    incoming: dict[tuple[dt.datetime, dt.datetime], Bucket],
    source: str,
    now: dt.datetime,
    tally: Tally,
) -> None:
    table = _table(key[2])
    periods = sorted(incoming)
    stored = _existing(conn, table, key, periods[0][0], max(p[1] for p in periods))
    _check_widths(incoming, stored)
    inserts: list[dict[str, Any]] = []
    for period in periods:
        bucket = incoming[period]
        rows = {gk: _complete(row, key[2]) for gk, row in bucket.rows.items()}
        tally.buckets += 1
        tally.add_period(*period)
        raw = stored.get(period, [])
        old = _filled(key, raw)
        if old and _same(old, rows, table):
            tally.already += len(rows)
            if old != raw:  # rows stored before OpenAI cost lines' model was read
                _delete(conn, table, key, period)
                inserts.extend(old)
            continue
        if old:
            others = sorted({row["source"] for row in old} - {source})
            if others:
                raise ReportError(
                    f"{bucket.where}: the bucket {period[0].isoformat()} to "
                    f"{period[1].isoformat()} was imported from {', '.join(others)} with "
                    "different figures: nothing was stored"
                )
            _delete(conn, table, key, period)
            tally.replaced += len(rows)
        else:
            tally.new += len(rows)
        for group, row in rows.items():
            inserts.append(_insert_row(row, key, period, group, source, now, bucket.where))
    if inserts:
        conn.execute(table.insert(), inserts)


def _filled(key: tuple[str, str, str], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored OpenAI cost rows with the model their line item names filled in (as
    an import writes them now); other rows as stored."""
    if key[0] != "openai" or key[2] != "costs":
        return old
    return [fill_cost_model(row) for row in old]


def _same(old: list[dict[str, Any]], rows: dict[str, dict[str, Any]], table: Table) -> bool:
    before = {row["group_key"]: _figures(row, table) for row in old}
    return before == {group: _figures(row, table) for group, row in rows.items()}


def _delete(
    conn: Connection, table: Table, key: tuple[str, str, str], period: tuple[dt.datetime, ...]
) -> None:
    conn.execute(
        table.delete().where(
            and_(
                table.c.provider == key[0],
                table.c.account == key[1],
                table.c.kind == key[2],
                table.c.bucket_start == period[0],
                table.c.bucket_end == period[1],
            )
        )
    )


def _insert_row(
    row: dict[str, Any],
    key: tuple[str, str, str],
    period: tuple[dt.datetime, dt.datetime],
    group: str,
    source: str,
    now: dt.datetime,
    where: str,
) -> dict[str, Any]:
    for name in USAGE_COUNT_COLUMNS:
        if name in row and row[name] > MAX_COUNT:
            raise ReportError(f"{where}: {name} sums to more than the ledger holds")
    return {
        **row,
        "provider": key[0],
        "account": key[1],
        "kind": key[2],
        "bucket_start": period[0],
        "bucket_end": period[1],
        "group_key": group,
        "source": source,
        "imported_at": now,
    }
