"""The spend report in the user's currency (:mod:`llmtally.analytics.shown`).

The report is run once per rate segment of the range (a few queries: rates
change on few days), each segment's USD costs converted at its rate, and the
rows merged by group: a group's cost is the sum of its converted segments, so
of its converted days. Each row keeps its USD cost beside the converted one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from llmtally.analytics.report import GroupBy, ReportRow, spend_report, spend_total
from llmtally.currency import NoRateError

if TYPE_CHECKING:
    from llmtally.analytics.shown import Segment, Shown
    from llmtally.ledger.store import Store

__all__ = ["ShownRow", "shown_report", "shown_total"]


@dataclass(frozen=True, slots=True)
class ShownRow:
    row: ReportRow  # cost_total in USD, as the ledger holds it
    cost: Decimal  # the same cost in the shown currency

    def __add__(self, other: ShownRow) -> ShownRow:
        return ShownRow(self.row + other.row, self.cost + other.cost)


def _parts(
    since: dt.datetime, until: dt.datetime | None, shown: Shown
) -> list[tuple[Segment, dt.datetime | None]]:
    """The rate segments of the range, each with its end (None: open, as ``until``)."""
    parts = shown.segments(since, until or dt.datetime.now(dt.UTC))
    ends: list[dt.datetime | None] = [part.until for part in parts]
    if until is None and ends:
        ends[-1] = None  # the last one stays open, as the report without a currency
    return list(zip(parts, ends, strict=True))


def shown_report(
    store: Store, since: dt.datetime, by: GroupBy, until: dt.datetime | None, shown: Shown
) -> list[ShownRow]:
    """``spend_report`` with each group's cost in ``shown``'s currency, most costly first."""
    merged: dict[str | None, ShownRow] = {}
    for part, end in _parts(since, until, shown):
        rows = spend_report(store, part.since, by, end)
        if any(row.cost_total for row in rows):
            _check_rate(store, part, end, shown)
        for row in rows:
            found = ShownRow(row, shown.on(row.cost_total, part.rate_day))
            before = merged.get(row.key)
            merged[row.key] = found if before is None else before + found
    return sorted(
        merged.values(),
        key=lambda r: (-r.cost, -r.row.calls, r.row.key is None, r.row.key or ""),
    )


def _check_rate(store: Store, part: Segment, end: dt.datetime | None, shown: Shown) -> None:
    """A segment with spend and no rate: the error names its first day with spend
    (every day of a segment has the same rate, or none)."""
    try:
        shown.rate_on(part.rate_day)
    except NoRateError:
        days = [r for r in spend_report(store, part.since, "day", end) if r.cost_total]
        shown.rate_on(min(dt.date.fromisoformat(str(r.key)) for r in days))
        raise


def shown_total(
    store: Store, since: dt.datetime, until: dt.datetime | None, shown: Shown
) -> ShownRow:
    """``spend_total`` with its cost in ``shown``'s currency."""
    total = ShownRow(ReportRow("total", 0, 0, 0, Decimal(0), 0, 0), Decimal(0))
    for part, end in _parts(since, until, shown):
        row = spend_total(store, part.since, end)
        if row.cost_total:
            _check_rate(store, part, end, shown)
        total = total + ShownRow(row, shown.on(row.cost_total, part.rate_day))
    return total
