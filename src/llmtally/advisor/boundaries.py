"""Where a price can change within a day or within a group of calls, so that the
advisor's groups of calls (``llmtally.advisor.cells``) never straddle one.

Calls are priced in groups (summed tokens at one price, see ``meter.cost``), which
is exact when every call of a group would be billed at the same rates. Two things
in the catalog make the rates of one model differ between calls of the same day:

- time-of-day windows (e.g. DeepSeek's former off-peak discount): a group never
  spans a window's start or end (``times``);
- long-context cliffs (a prompt above N tokens re-prices the whole request): a
  group never holds prompts on both sides of any cliff (``cliffs``).

Both are collected over the whole catalog (every model's, every tier's), not
only the models a period used, so that a call re-priced on another model (right-
sizing) is still on one side of that model's cliffs. Price changes take effect
on dates, so grouping by UTC day covers them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from llmtally.catalog import Catalog
from llmtally.catalog.price import Price

__all__ = ["Boundaries", "catalog_boundaries"]


@dataclass(frozen=True, slots=True)
class Boundaries:
    """The times of day (UTC) and prompt sizes at which a price can change."""

    times: tuple[dt.time, ...] = ()
    cliffs: tuple[int, ...] = ()


def _of_price(price: Price, times: set[dt.time], cliffs: set[int]) -> None:
    for window in price.windows:
        times.update((window.start, window.end))
    cliffs.update(c.above for c in price.long_context)
    for tier in price.tiers.values():
        cliffs.update(c.above for c in tier.long_context)


def catalog_boundaries(catalog: Catalog) -> Boundaries:
    """Every window edge and cliff of every price in ``catalog``, sorted."""
    times: set[dt.time] = set()
    cliffs: set[int] = set()
    for ref in catalog.refs():
        for price in catalog.history(ref):
            _of_price(price, times, cliffs)
    times.discard(dt.time(0, 0))  # midnight already starts a day
    return Boundaries(tuple(sorted(times)), tuple(sorted(cliffs)))
