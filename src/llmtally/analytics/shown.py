"""Ledger money shown in the user's currency, at each day's rate.

The ledger's cost columns are in USD (its pivot currency). A figure is shown in
another currency by converting each UTC day's USD amount at that day's rate
(the latest rate on or before the day, :func:`llmtally.currency.convert`); a
period's figure is the sum of its converted days. Rates change only on days
the rate table has a row for, so a window is cut at those days into
:class:`Segment` s, each under one rate, and a sum over a segment converts at
that rate exactly as its days would one by one (docs/decisions.md, "Showing
money in the user's currency").

:class:`Shown` remembers every rate it used, so a view can state them beside
its figures (a table footer, ``rates`` in ``--json``, a line on a page).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from llmtally.currency.amount import Money
from llmtally.currency.codes import currency
from llmtally.currency.convert import ARITHMETIC, Converted, convert
from llmtally.currency.display import format_money, money_json
from llmtally.currency.rates import RateTable
from llmtally.meter import decimal_text

__all__ = ["PIVOT", "RATE_DIGITS", "Segment", "Shown", "rate_json", "rate_text"]

PIVOT = "USD"  # the ledger's cost columns
RATE_DIGITS = 6  # significant digits of a rate in text for reading (JSON has every digit)
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Segment:
    """``[since, until)``, every day of it under one rate (``rate_day``'s)."""

    since: dt.datetime
    until: dt.datetime
    rate_day: dt.date


class Shown:
    """USD ledger figures in ``code``, at dated rates from ``rates``."""

    def __init__(self, code: str, rates: RateTable) -> None:
        self.code = currency(code).code
        self.rates = rates
        self._by_day: dict[dt.date, Converted] = {}
        self.used: dict[tuple[Decimal, dt.date, str], Converted] = {}

    @property
    def is_pivot(self) -> bool:
        return self.code == PIVOT

    def rate_on(self, day: dt.date) -> Converted:
        """The rate in force on ``day`` (a :class:`~llmtally.currency.NoRateError`
        naming the pair and the day when there is none); remembered as used."""
        found = self._by_day.get(day)
        if found is None:
            found = convert(Money(Decimal(1), PIVOT), self.code, day, self.rates)
            self._by_day[day] = found
        if not self.is_pivot:
            self.used.setdefault((found.rate, found.rate_date, found.source), found)
        return found

    def on(self, usd: Decimal, day: dt.date) -> Decimal:
        """``usd`` spent on ``day``, in the shown currency (every digit kept)."""
        if self.is_pivot or usd == 0:
            return usd
        return ARITHMETIC.multiply(usd, self.rate_on(day).rate)

    def at(self, usd: Decimal, moment: dt.datetime) -> Decimal:
        return self.on(usd, moment.astimezone(dt.UTC).date())

    def segments(self, since: dt.datetime, until: dt.datetime) -> list[Segment]:
        """``[since, until)`` cut at every UTC midnight that starts a rate-table day."""
        since, until = since.astimezone(dt.UTC), until.astimezone(dt.UTC)
        if self.is_pivot:
            return [Segment(since, until, since.date())] if since < until else []
        cuts = sorted({row.day for row in self.rates if since.date() < row.day})
        bounds = [since]
        for day in cuts:
            moment = dt.datetime.combine(day, dt.time(), dt.UTC)
            if since < moment < until:
                bounds.append(moment)
        bounds.append(until)
        return [Segment(a, b, a.date()) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]

    def over(
        self,
        since: dt.datetime,
        until: dt.datetime,
        measure: Callable[[dt.datetime, dt.datetime], Decimal],
    ) -> Decimal:
        """The sum over ``[since, until)`` of ``measure`` (USD), each segment at its rate."""
        return sum(
            (self.on(measure(s.since, s.until), s.rate_day) for s in self.segments(since, until)),
            Decimal(0),
        )

    def money(self, amount: Decimal) -> Money:
        return Money(amount, self.code)

    def text(self, amount: Decimal | None, none: str = "—") -> str:
        return none if amount is None else format_money(self.money(amount))

    def json(self, amount: Decimal) -> dict[str, str]:
        return money_json(self.money(amount))

    def rates_json(self) -> list[dict[str, Any]]:
        """Every rate used so far: ``1 USD = rate <code>`` on ``date``, with its source."""
        return [rate_json(used) for used in self._ordered()]

    def notes(self) -> list[str]:
        """One line per rate used: ``¥ at 7.2 CNY per USD (2026-12-01, source)``,
        the rate to RATE_DIGITS significant digits (a cross rate has 28)."""
        return [note for note, _ in self.rate_lines()]

    def rate_lines(self) -> list[tuple[str, str]]:
        """:meth:`notes`, each with the rate's every digit (``exactly 0.95225830434..
        EUR per USD``), for a hover title."""
        return [
            (
                f"{currency(used.amount.currency).symbol} at {rate_text(used.rate)} "
                f"{used.amount.currency} per {PIVOT} ({used.rate_date.isoformat()}, "
                f"{used.source})",
                f"exactly {decimal_text(used.rate)} {used.amount.currency} per {PIVOT}",
            )
            for used in self._ordered()
        ]

    def _ordered(self) -> list[Converted]:
        return sorted(self.used.values(), key=lambda used: used.rate_date)


def rate_json(used: Converted) -> dict[str, str]:
    """One rate as JSON: ``1 USD = rate <to>`` on ``date``, with its source."""
    return {
        "from": PIVOT,
        "to": used.amount.currency,
        "rate": decimal_text(used.rate),
        "date": used.rate_date.isoformat(),
        "source": used.source,
    }


def rate_text(rate: Decimal) -> str:
    """A rate for reading: RATE_DIGITS significant digits, half-even, trailing zeros
    dropped, never an exponent (``0.952258``, ``7.1726``, ``150``, ``16234.6``)."""
    if rate == 0:
        return "0"
    places = min(rate.adjusted() - RATE_DIGITS + 1, 0)
    shown = rate.quantize(Decimal(1).scaleb(places), ROUND_HALF_EVEN)
    return f"{shown.normalize():f}"
