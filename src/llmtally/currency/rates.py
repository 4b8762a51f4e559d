"""Dated exchange rates and the lookup that picks one for a day.

A :class:`Rate` says ``1 base = rate quote`` on ``day``, with its source. A
:class:`RateTable` answers, for a pair and a day, with the latest rate on or
before that day, never a later one. Rows from a later layer (the user's
override file) replace earlier rows for the same day and pair, either way round.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = ["Rate", "RateTable"]


@dataclass(frozen=True, slots=True)
class Rate:
    day: date
    base: str
    quote: str
    rate: Decimal  # 1 base = rate quote, digits as published
    source: str  # where it was read: a URL, or the user's note

    @property
    def pair(self) -> frozenset[str]:
        return frozenset((self.base, self.quote))


class RateTable:
    """Rates by pair, each pair's rows sorted by day (one row per day and pair)."""

    def __init__(self, *layers: Iterable[Rate]) -> None:
        rows: dict[tuple[frozenset[str], date], Rate] = {}
        for layer in layers:  # a later layer wins for the same pair and day
            for row in layer:
                rows[(row.pair, row.day)] = row
        self._by_pair: dict[frozenset[str], list[Rate]] = {}
        for row in sorted(rows.values(), key=lambda r: r.day):
            self._by_pair.setdefault(row.pair, []).append(row)

    def __iter__(self) -> Iterator[Rate]:
        for rows in self._by_pair.values():
            yield from rows

    def currencies(self) -> set[str]:
        return {code for pair in self._by_pair for code in pair}

    def latest(self, one: str, other: str, on: date) -> Rate | None:
        """The row for the pair (either way round) with the latest day <= ``on``."""
        found = None
        for row in self._by_pair.get(frozenset((one, other)), ()):
            if row.day > on:
                break
            found = row
        return found

    def first_day(self, one: str, other: str) -> date | None:
        rows = self._by_pair.get(frozenset((one, other)))
        return rows[0].day if rows else None
