"""A history file -> the ledger: read, parse, price, insert in batches, summarise.

Idempotent and resumable: each call's id is ``stable_ulid(started_at, tool,
source id)`` and the ledger inserts by id doing nothing on a conflict, so a
second run (or a run after a crash mid-file) adds only what is missing.

The summary's costs are what the ledger holds for the rows read, in USD: a call
priced in another currency (CNY) counts as converted at the rate of its UTC day
(``llmtally.currency.pivot``); one the ledger keeps unpriced (no rate for its day,
a rates file that cannot be used) counts as unpriced, and so does a row stored
unpriced by an earlier run (importing again does not re-price it). When the
rates file left calls unpriced, the summary says why (``rates_error``) and how
many (``rates_unpriced``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from llmtally.catalog import Catalog
from llmtally.currency.pivot import pivot_table
from llmtally.currency.rates_file import RatesFileError
from llmtally.history.formats import parse_generic, parse_litellm
from llmtally.history.observability import parse_helicone, parse_langfuse
from llmtally.history.reading import Record, read_jsonl, read_rows
from llmtally.history.rows import ImportedCall, RowError, to_call
from llmtally.ledger import Store
from llmtally.ledger.schema import calls
from llmtally.meter import decimal_text
from llmtally.usage import Call

__all__ = [
    "BATCH_SIZE",
    "PARSERS",
    "ImportSummary",
    "Skipped",
    "import_history",
    "import_records",
]

BATCH_SIZE = 500
PARSERS: dict[str, Callable[[Mapping[str, Any]], ImportedCall]] = {
    "jsonl": parse_generic,
    "litellm": parse_litellm,
    "langfuse": parse_langfuse,
    "helicone": parse_helicone,
}
MAX_LISTED_SKIPS = 1000  # skipped rows named one by one; past that, only counted by reason


@dataclass(frozen=True, slots=True)
class Skipped:
    where: str  # "line 7"
    reason: str


@dataclass(slots=True)
class ImportSummary:
    """What one import did. Costs cover the rows read this run (new and already there)."""

    tool: str
    path: str
    imported: int = 0  # new rows in the ledger
    already: int = 0  # rows the ledger had (a re-import, a resumed run)
    skipped: list[Skipped] = field(default_factory=list)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    unpriced: int = 0  # imported with cost NULL and the reason (unknown model, no price/rate)
    unconverted: int = 0  # of those, priced in another currency but not converted to USD
    rates_error: str | None = None  # why the rates file cannot be used, when it left some
    rates_unpriced: int = 0  # of ``unconverted``, left so by ``rates_error``
    cost: Decimal = Decimal(0)  # llmtally's price of the priced rows, USD
    source_cost: Decimal = Decimal(0)  # the tool's own figure for those same rows
    source_cost_rows: int = 0  # priced rows for which the tool gave a cost
    compared_cost: Decimal = Decimal(0)  # llmtally's price of those same rows

    def skip(self, where: str, reason: str) -> None:
        self.skipped_by_reason[_reason_kind(reason)] += 1
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append(Skipped(where, reason))

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped_by_reason.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "file": self.path,
            "imported": self.imported,
            "already_there": self.already,
            "skipped": self.skipped_count,
            "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
            "skipped_rows": [{"where": s.where, "reason": s.reason} for s in self.skipped],
            "unpriced": self.unpriced,
            "unconverted": self.unconverted,
            "rates_error": self.rates_error,
            "rates_unpriced": self.rates_unpriced,
            "cost_usd": decimal_text(self.cost),
            "source_cost_usd": decimal_text(self.source_cost),
            "source_cost_rows": self.source_cost_rows,
            "compared_cost_usd": decimal_text(self.compared_cost),
            "difference_usd": decimal_text(self.cost_difference),
        }

    @property
    def cost_difference(self) -> Decimal:
        """llmtally's cost minus the tool's, over the priced rows the tool gave a cost for."""
        return self.compared_cost - self.source_cost


def _reason_kind(reason: str) -> str:
    """A reason without its row's values: ``tokens: ...`` -> ``tokens``."""
    head = reason.split(":", 1)[0]
    return head if len(head) <= 60 else head[:57] + "..."


class _Batch:
    def __init__(self, store: Store, summary: ImportSummary) -> None:
        self.store, self.summary = store, summary
        self.calls: dict[str, tuple[Call, ImportedCall]] = {}

    def add(self, call: Call, row: ImportedCall) -> None:
        if call.id in self.calls:  # the same source id twice in one batch
            self.summary.already += 1
            return
        self.calls[call.id] = (call, row)

    def flush(self) -> None:
        if not self.calls:
            return
        ids = list(self.calls)
        known = set(self._stored(ids))
        self.store.insert_many(c for c, _ in self.calls.values())
        self.summary.already += len(known)
        self.summary.imported += len(self.calls) - len(known)
        stored = self._stored(ids)  # what the ledger holds, new rows and old alike
        for call, _ in self.calls.values():
            if call.id in stored:
                self._account(call, stored[call.id])
        self.calls.clear()

    def _stored(self, ids: list[str]) -> dict[str, _Stored]:
        columns = (calls.c.id, calls.c.cost_total, calls.c.billed_currency, calls.c.cost_error)
        with self.store.engine.connect() as conn:
            found = conn.execute(select(*columns).where(calls.c.id.in_(ids)))
            return {
                row.id: _Stored(row.cost_total, row.billed_currency, row.cost_error)
                for row in found
            }

    def _account(self, call: Call, stored: _Stored) -> None:
        summary = self.summary
        if stored.cost is None:
            summary.unpriced += 1
            if stored.billed is not None:  # priced in its currency, not converted
                summary.unconverted += 1
                self._blame_rates(stored.error or "")
            return
        summary.cost += stored.cost
        if call.source_cost is not None:  # as the ledger keeps it (an absurd one is not)
            summary.source_cost += call.source_cost
            summary.compared_cost += stored.cost
            summary.source_cost_rows += 1

    def _blame_rates(self, error: str) -> None:
        """Count a call left unconverted by the rates file (its cost_error ends
        with the file's error, as ``pivot_row`` writes it)."""
        problem = self.summary.rates_error or _rates_problem()
        if problem is not None and error.endswith(problem):
            self.summary.rates_error = problem
            self.summary.rates_unpriced += 1


@dataclass(frozen=True, slots=True)
class _Stored:
    cost: Decimal | None  # cost_total, USD
    billed: str | None  # billed_currency: None, USD (nothing converted)
    error: str | None  # cost_error


def _rates_problem() -> str | None:
    """Why the rates file cannot be used now; None when it can."""
    try:
        pivot_table()
    except RatesFileError as exc:
        return str(exc)
    return None


def _records(tool: str, path: Path, stream: BinaryIO) -> Iterator[Record]:
    return read_jsonl(stream) if tool == "jsonl" else read_rows(path, stream)


def import_history(
    tool: str,
    path: Path,
    store: Store,
    catalog: Catalog,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``path`` in ``tool``'s shape into ``store``. A bad row is skipped with
    its place and reason; a file that cannot be read at all raises :class:`RowError`."""
    if tool not in PARSERS:
        raise RowError(f"unknown format {tool!r}: use one of {', '.join(PARSERS)}")
    with path.open("rb") as stream:
        return import_records(
            tool,
            _records(tool, path, stream),
            store,
            catalog,
            source=str(path),
            batch_size=batch_size,
            progress=progress,
        )


def import_records(
    tool: str,
    records: Iterable[Record],
    store: Store,
    catalog: Catalog,
    *,
    source: str,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``(where, record)`` pairs (a file's rows, a database's) in ``tool``'s shape."""
    parse = PARSERS.get(tool)
    if parse is None:
        raise RowError(f"unknown format {tool!r}: use one of {', '.join(PARSERS)}")
    summary = ImportSummary(tool=tool, path=source)
    batch = _Batch(store, summary)
    try:
        for seen, (where, record) in enumerate(records, start=1):
            try:
                if isinstance(record, RowError):
                    raise record
                row = parse(record)
                batch.add(to_call(row, catalog), row)
            except RowError as exc:
                summary.skip(where, str(exc))
            if len(batch.calls) >= batch_size:
                batch.flush()
            if progress is not None:
                progress(seen)
    except RowError:  # the source failed part-way: keep what was read
        batch.flush()
        raise
    batch.flush()
    return summary
