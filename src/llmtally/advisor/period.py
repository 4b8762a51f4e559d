"""The advised period: its calls summed in cells (``llmtally.advisor.cells``), and
the ledger, for the recommenders that look at some calls with queries of their own.

A period is whole UTC days, as the advisor's rollups are kept: ``since`` and
``until`` are taken back to the midnight (UTC) that starts their day, so "the
last 30 days" is the 30 whole days before today, and a period must hold one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmtally.advisor.cells import Cell, load_cells
from llmtally.ledger import Store

__all__ = ["MONTH_DAYS", "Period", "load_period", "midnight", "whole_days"]

MONTH_DAYS = 30


@dataclass(frozen=True, slots=True)
class Period:
    """The successful calls started in [since, until), in cells."""

    since: dt.datetime
    until: dt.datetime
    cells: tuple[Cell, ...]
    store: Store
    _by_key: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update((cell.key, cell.id) for cell in self.cells)

    @property
    def to_month(self) -> Decimal:
        """The factor that scales the period's amounts to 30 days."""
        seconds = Decimal(int((self.until - self.since).total_seconds()))
        return Decimal(MONTH_DAYS * 86400) / seconds

    @property
    def days(self) -> Decimal:
        return Decimal(int((self.until - self.since).total_seconds())) / 86400

    def cell_id(self, key: tuple[Any, ...]) -> int:
        """The id of the cell whose grouping values are ``key``."""
        return self._by_key[key]


def midnight(moment: dt.datetime) -> dt.datetime:
    """The UTC midnight that starts ``moment``'s day."""
    return dt.datetime.combine(moment.astimezone(dt.UTC).date(), dt.time(0), dt.UTC)


def whole_days(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[since, until) taken back to whole UTC days; ValueError if none is left."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("the period needs timezone-aware times")
    start, end = midnight(since), midnight(until)
    if end <= start:
        raise ValueError(
            f"the period must hold a whole UTC day: {start:%Y-%m-%d} 00:00 to "
            f"{end:%Y-%m-%d} 00:00 holds none (advice is kept per whole day)"
        )
    return start, end


def load_period(store: Store, since: dt.datetime, until: dt.datetime) -> Period:
    """The whole UTC days of [since, until): their calls with a 2xx status, in cells."""
    start, end = whole_days(since, until)
    return Period(start, end, load_cells(store, start, end), store)
