"""Money for people, in any currency, by llmtally.money's rules.

- :func:`format_money`: minor units from one minor unit up (``¥1,234.57``,
  ``€0.01``, ``$12,345.68``, ``¥1,235`` for JPY with 0 digits), three
  significant digits below one (``$0.00122``, ``¥0.122``), ``¥0`` for zero,
  a minus in front (``-€0.50``). Halves round away from zero (ROUND_HALF_UP).
- :func:`money_exact`: every digit held, with the code (``¥1234.5678 CNY``),
  for hover titles; :func:`money_json` is the bare digits and the code for
  ``--json`` and exports.

These are llmtally.money's ``usd``/``usd_exact`` rules with the currency's
symbol and minor digits in place of ``$`` and cents; the USD functions there
should later delegate here (not done: other modules own that file).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from llmtally.currency.amount import Money
from llmtally.currency.codes import currency
from llmtally.meter import decimal_text
from llmtally.money import SUB_CENT_DIGITS

__all__ = ["format_money", "money_exact", "money_json", "rounded"]


def rounded(amount: Decimal, digits: int) -> Decimal:
    """``amount`` as :func:`format_money` shows it: to the minor unit (``digits``
    places) from one unit up, else to SUB_CENT_DIGITS significant digits."""
    unit = Decimal(1).scaleb(-digits)
    value = abs(amount)
    if value == 0:
        return Decimal(0)
    if value < unit:
        quantum = Decimal(1).scaleb(value.adjusted() - SUB_CENT_DIGITS + 1)
        value = value.quantize(quantum, ROUND_HALF_UP)
    if value >= unit:
        value = value.quantize(unit, ROUND_HALF_UP)
    return -value if amount < 0 else value


def format_money(money: Money, symbol: str | None = None) -> str:
    """``money`` for reading; ``symbol`` replaces the currency's own (use
    :func:`~llmtally.currency.codes.symbols_for` when CNY and JPY meet)."""
    row = currency(money.currency)
    sign_text = row.symbol if symbol is None else symbol
    value = rounded(money.amount, row.digits)
    if value == 0:
        return f"{sign_text}0"
    sign = "-" if value < 0 else ""
    if abs(value) >= Decimal(1).scaleb(-row.digits):
        return f"{sign}{sign_text}{abs(value):,}"
    return f"{sign}{sign_text}{decimal_text(abs(value))}"


def money_exact(money: Money, symbol: str | None = None) -> str:
    """Every digit ``money`` has, then its code: ``¥1234.5678 CNY``, ``-$3 USD``."""
    sign_text = currency(money.currency).symbol if symbol is None else symbol
    sign = "-" if money.amount < 0 else ""
    return f"{sign}{sign_text}{decimal_text(abs(money.amount))} {money.currency}"


def money_json(money: Money) -> dict[str, str]:
    """``{"amount": "1234.5678", "currency": "CNY"}``: exact digits, never a float."""
    return {"amount": decimal_text(money.amount), "currency": money.currency}
