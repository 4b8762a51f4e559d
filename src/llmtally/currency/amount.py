"""Money: a Decimal amount and the currency it is in.

Adding or subtracting two amounts in different currencies is an error: a total
never mixes currencies; convert first (:func:`llmtally.currency.convert`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from llmtally.currency.codes import currency

__all__ = ["CurrencyMismatchError", "Money", "total"]


class CurrencyMismatchError(ValueError):
    """Two currencies met where one was needed (a sum, a difference)."""


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str  # an ISO 4217 code with a row in CURRENCIES

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money needs a Decimal amount, not {type(self.amount).__name__}")
        currency(self.currency)

    def _same(self, other: Money, verb: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                f"cannot {verb} {self.amount} {self.currency} and {other.amount} "
                f"{other.currency}: convert one of them first"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other, "add")
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other, "subtract")
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)


def total(items: Iterable[Money], in_currency: str) -> Money:
    """The sum of ``items``, all in ``in_currency`` (zero when there are none)."""
    result = Money(Decimal(0), in_currency)
    for item in items:
        result = result + item
    return result
