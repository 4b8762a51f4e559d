"""Is a user's rate plausible? Checked against the shipped reference rates.

A row of the user's override file whose rate is more than :data:`FACTOR` times
(or less than 1 / :data:`FACTOR` of) the shipped rate for the same pair is
refused (docs/decisions.md, "A user's rate off by more than a factor 2"). The
usual cause is a row written the wrong way round (``base: CNY, quote: USD,
rate: 7.1``: 1 CNY = 7.1 USD, some 50 times the real rate), which would make
every CNY cost some 50 times too small; the message then asks "did you mean
base: USD, quote: CNY?".

The reference is the shipped table's rate on the row's day (the latest on or
before it, directly or through one other currency, as :func:`convert` finds
it); for a day before the table's first, its earliest rate for the pair. A pair
the shipped table cannot convert at all is not checked. None of the supported
currencies (USD, EUR, GBP, CNY, JPY) moved by a factor 2 against another over
the years the table covers (2014-2025), so a real rate is never refused.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from llmtally.currency.amount import Money
from llmtally.currency.convert import ARITHMETIC, Converted, NoRateError, convert
from llmtally.currency.rates import Rate, RateTable

__all__ = ["FACTOR", "implausible"]

FACTOR = Decimal(2)


def implausible(row: Rate, shipped: tuple[Rate, ...]) -> str | None:
    """Why ``row`` cannot be right (its rate off by more than :data:`FACTOR` from
    the shipped rate for its pair), or None when it is plausible or unchecked."""
    reference = _reference(row, _table(shipped))
    if reference is None or _near(row.rate, reference.rate):
        return None
    shown = f"{reference.rate:.6g}"
    problem = (
        f"1 {row.base} = {row.rate} {row.quote} is off by more than a factor of {FACTOR} "
        f"from the shipped rate, 1 {row.base} = {shown} {row.quote} "
        f"({reference.rate_date.isoformat()}, {reference.source})"
    )
    if _near(ARITHMETIC.divide(Decimal(1), row.rate), reference.rate):
        return f"{problem}; did you mean base: {row.quote}, quote: {row.base}?"
    return f"{problem}; a row says 1 base = rate quote"


def _near(rate: Decimal, reference: Decimal) -> bool:
    ratio = ARITHMETIC.divide(rate, reference)
    return 1 / FACTOR <= ratio <= FACTOR


@lru_cache(maxsize=1)
def _table(shipped: tuple[Rate, ...]) -> RateTable:
    return RateTable(shipped)


def _reference(row: Rate, table: RateTable) -> Converted | None:
    """The shipped rate for ``row``'s pair on its day, else on the table's first
    day that has one; None when the table has no way between the two."""
    one = Money(Decimal(1), row.base)
    days = [row.day, *sorted({rate.day for rate in table if rate.day > row.day})]
    for day in days:
        try:
            return convert(one, row.quote, day, table)
        except NoRateError:
            continue
    return None
