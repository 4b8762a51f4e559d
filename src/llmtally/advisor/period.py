"""The advised period: its calls summed in cells (``llmtally.advisor.cells``), and
the ledger, for the recommenders that look at some calls one by one (repeated
requests, prompt prefixes) with queries of their own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmtally.advisor.boundaries import Boundaries, catalog_boundaries
from llmtally.advisor.cells import Cell, load_cells
from llmtally.catalog import Catalog
from llmtally.ledger import Store

__all__ = ["MONTH_DAYS", "Period", "load_period"]

MONTH_DAYS = 30


@dataclass(frozen=True, slots=True)
class Period:
    """The successful calls started in [since, until), in cells."""

    since: dt.datetime
    until: dt.datetime
    cells: tuple[Cell, ...]
    store: Store
    bounds: Boundaries
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


def load_period(store: Store, catalog: Catalog, since: dt.datetime, until: dt.datetime) -> Period:
    """The period's calls with a 2xx status, in cells."""
    if since.tzinfo is None or until.tzinfo is None or until <= since:
        raise ValueError("the period needs timezone-aware since < until")
    bounds = catalog_boundaries(catalog)
    return Period(since, until, load_cells(store, bounds, since, until), store, bounds)
