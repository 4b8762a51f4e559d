"""The currencies llmtally can show: ISO 4217 code, symbol and minor-unit digits.

One row per currency; adding one is adding a row (and rates for it). CNY and
JPY share the sign ``¥``: :func:`symbols_for` gives ``CN¥``/``JP¥`` (CLDR's
forms) when a view shows both, and the plain ``¥`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CURRENCIES", "NAMES", "Currency", "UnknownCurrencyError", "currency", "symbols_for"]


class UnknownCurrencyError(ValueError):
    """A currency code with no row in :data:`CURRENCIES`."""


@dataclass(frozen=True, slots=True)
class Currency:
    code: str  # ISO 4217
    symbol: str  # the sign people read, alone in a view
    distinct_symbol: str  # the sign when another shown currency has the same symbol
    digits: int  # minor-unit digits (ISO 4217 "minor unit")


CURRENCIES: dict[str, Currency] = {
    row.code: row
    for row in (
        Currency("USD", "$", "US$", 2),
        Currency("EUR", "€", "€", 2),
        Currency("GBP", "£", "£", 2),
        Currency("CNY", "¥", "CN¥", 2),
        Currency("JPY", "¥", "JP¥", 0),
    )
}


# Names people write for a currency beside its ISO 4217 code (RMB, renminbi: the yuan's
# everyday name in China; CNY is its code).
NAMES = {"RMB": "CNY"}


def currency(code: str) -> Currency:
    """The row of ``code`` (or a name in :data:`NAMES`); an unknown code is an
    error naming the known ones."""
    try:
        return CURRENCIES[NAMES.get(code, code)]
    except KeyError:
        known = ", ".join(CURRENCIES)
        raise UnknownCurrencyError(f"unknown currency {code!r} (known: {known})") from None


def symbols_for(codes: Iterable[str]) -> dict[str, str]:
    """The symbol each of ``codes`` shows with when they appear together: the
    plain symbol unless another of them has the same one (CNY and JPY: ¥)."""
    rows = [currency(code) for code in set(codes)]
    shared = {row.symbol for row in rows if sum(o.symbol == row.symbol for o in rows) > 1}
    return {row.code: row.distinct_symbol if row.symbol in shared else row.symbol for row in rows}
