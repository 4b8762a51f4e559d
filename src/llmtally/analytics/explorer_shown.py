"""The explorer's sums in the user's currency (:mod:`llmtally.analytics.shown`):
the filtered calls' total read once per rate segment of the filter's range and
converted at that segment's rate; a chart bucket at its day's rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

from llmtally.analytics.explorer import SpendPoint, Totals, totals
from llmtally.analytics.ranges import EPOCH

if TYPE_CHECKING:
    from llmtally.analytics.filters import CallFilter
    from llmtally.analytics.shown import Shown
    from llmtally.ledger.store import Store

__all__ = ["series_in", "totals_in"]


def totals_in(store: Store, where: CallFilter, shown: Shown, now: dt.datetime) -> Totals:
    """``totals(store, where)`` with ``cost_total`` in ``shown``'s currency."""
    if shown.is_pivot:
        return totals(store, where)
    parts = shown.segments(where.since or EPOCH, where.until or now)
    result: Totals | None = None
    for index, part in enumerate(parts):
        open_end = where.until is None and index == len(parts) - 1
        found = totals(
            store, replace(where, since=part.since, until=None if open_end else part.until)
        )
        found = replace(found, cost_total=shown.on(found.cost_total, part.rate_day))
        result = found if result is None else _add(result, found)
    if result is None:  # a range that ends before it starts (in the future): no parts
        found = totals(store, where)
        return replace(found, cost_total=shown.at(found.cost_total, where.since or now))
    return result


def _add(one: Totals, two: Totals) -> Totals:
    return Totals(
        calls=one.calls + two.calls,
        input_tokens=one.input_tokens + two.input_tokens,
        output_tokens=one.output_tokens + two.output_tokens,
        cache_read_tokens=one.cache_read_tokens + two.cache_read_tokens,
        reasoning_tokens=one.reasoning_tokens + two.reasoning_tokens,
        cost_total=one.cost_total + two.cost_total,
        unpriced=one.unpriced + two.unpriced,
        errors=one.errors + two.errors,
    )


def series_in(points: list[SpendPoint], shown: Shown) -> list[SpendPoint]:
    """Each bucket's cost at its day's rate (``2026-11-01`` or ``2026-11-01 09:00``)."""
    return [
        replace(p, cost_total=shown.on(p.cost_total, dt.date.fromisoformat(p.bucket[:10])))
        for p in points
    ]
