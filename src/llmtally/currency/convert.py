"""Converting Money with dated rates: the rate used travels with the result.

Rules (docs/decisions.md, "Currencies"):
- The rate is the latest one on or before the day asked, never a later one.
- A pair the table lacks goes through one other currency (the ECB quotes
  everything against EUR): USD->CNY = EUR->CNY / EUR->USD. Of the ways
  there are, the one whose older rate is newest wins; direct before cross on
  a tie.
- Arithmetic is Decimal in a fixed context: 28 significant digits,
  ROUND_HALF_EVEN. The published rates are multiplied exactly, divided once,
  and the converted amount is exactly ``amount * rate`` to 28 digits, so a
  figure can be checked from the rate recorded with it. Nothing is rounded to
  minor units here: that is display's job (ROUND_HALF_UP, as llmtally.money).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal

from llmtally.currency.amount import Money
from llmtally.currency.codes import currency
from llmtally.currency.rates import Rate, RateTable

__all__ = ["ARITHMETIC", "Converted", "NoRateError", "convert"]

ARITHMETIC = Context(prec=28, rounding=ROUND_HALF_EVEN)


class NoRateError(LookupError):
    """No rate for a pair on or before a day."""


@dataclass(frozen=True, slots=True)
class Converted:
    amount: Money  # in the target currency, not rounded
    rate: Decimal  # 1 unit of the original currency = rate units of the target
    rate_date: date  # the rate's day (the older one's, for a cross rate)
    source: str  # where the rate(s) came from, " + " between two
    original: Money


def convert(money: Money, to: str, on: date, rates: RateTable) -> Converted:
    """``money`` in ``to`` at the latest rate on or before ``on``."""
    currency(to)
    if money.currency == to:
        return Converted(money, Decimal(1), on, "same currency", money)
    legs = _best_legs(money.currency, to, on, rates)
    if legs is None:
        raise NoRateError(_no_rate_message(money.currency, to, on, rates))
    rate = _rate_along(money.currency, legs)
    amount = ARITHMETIC.multiply(money.amount, rate)
    sources = dict.fromkeys(leg.source for leg in legs)  # ordered, no repeats
    day = min(leg.day for leg in legs)
    return Converted(Money(amount, to), rate, day, " + ".join(sources), money)


def _ways(start: str, end: str, on: date, rates: RateTable) -> list[tuple[Rate, ...]]:
    """Every direct or one-stop way from ``start`` to ``end`` as of ``on``."""
    ways: list[tuple[Rate, ...]] = []
    direct = rates.latest(start, end, on)
    if direct is not None:
        ways.append((direct,))
    for pivot in sorted(rates.currencies() - {start, end}):
        one, two = rates.latest(start, pivot, on), rates.latest(pivot, end, on)
        if one is not None and two is not None:
            ways.append((one, two))
    return ways


def _best_legs(start: str, end: str, on: date, rates: RateTable) -> tuple[Rate, ...] | None:
    ways = _ways(start, end, on, rates)
    if not ways:
        return None
    # max keeps the first of equals: direct before cross, pivots in code order
    return max(ways, key=lambda legs: (min(leg.day for leg in legs), -len(legs)))


def _rate_along(start: str, legs: tuple[Rate, ...]) -> Decimal:
    """The product of the legs' rates as one exact fraction, divided once."""
    numerator, denominator, at = Decimal(1), Decimal(1), start
    for leg in legs:
        if leg.base == at:
            numerator, at = ARITHMETIC.multiply(numerator, leg.rate), leg.quote
        else:
            denominator, at = ARITHMETIC.multiply(denominator, leg.rate), leg.base
    return ARITHMETIC.divide(numerator, denominator)


def _no_rate_message(start: str, end: str, on: date, rates: RateTable) -> str:
    firsts = [rates.first_day(start, end)]
    for pivot in rates.currencies() - {start, end}:
        one, two = rates.first_day(start, pivot), rates.first_day(pivot, end)
        firsts.append(max(one, two) if one is not None and two is not None else None)
    known = [day for day in firsts if day is not None]
    after = f"; the first is on {min(known).isoformat()}" if known else "; the table has none"
    return (
        f"no {start}->{end} exchange rate on or before {on.isoformat()} "
        f"(directly or through one other currency){after}"
    )
