"""Money for people, in any currency, by llmtally.money's rules.

- :func:`format_money`: minor units from one minor unit up (``¥1,234.57``,
  ``€0.01``, ``$12,345.68``, ``¥1,235`` for JPY with 0 digits), three
  significant digits below one (``$0.00122``, ``¥0.122``), ``¥0`` for zero,
  a minus in front (``-€0.50``). Halves round away from zero (ROUND_HALF_UP).
- :func:`money_exact`: every digit held, with the code (``¥1234.5678 CNY``),
  for hover titles; :func:`money_json` is the bare digits and the code for
  ``--json`` and exports.

These are the one home of the display rules: llmtally.money's ``usd`` and
``usd_exact`` call :func:`format_money` and :func:`exact_amount` in USD (the
rounding itself is :func:`llmtally.money.rounded`).
"""

from __future__ import annotations

from decimal import Decimal

from llmtally.currency.amount import Money
from llmtally.currency.codes import currency
from llmtally.meter import decimal_text
from llmtally.money import rounded

__all__ = [
    "exact_amount",
    "format_money",
    "money_exact",
    "money_json",
    "money_with_exact",
    "rounded",
]


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


def exact_amount(money: Money, symbol: str | None = None) -> str:
    """Every digit ``money`` has, with its symbol: ``¥1234.5678``, ``-$3``."""
    sign_text = currency(money.currency).symbol if symbol is None else symbol
    sign = "-" if money.amount < 0 else ""
    return f"{sign}{sign_text}{decimal_text(abs(money.amount))}"


def money_exact(money: Money, symbol: str | None = None) -> str:
    """Every digit ``money`` has, then its code: ``¥1234.5678 CNY``, ``-$3 USD``."""
    return f"{exact_amount(money, symbol)} {money.currency}"


def money_with_exact(money: Money, symbol: str | None = None) -> str:
    """``¥0.01 (exactly ¥0.0122324964 CNY)``, or just ``¥12.35`` when that is exact
    (chart hover text, where no title attribute can carry the digits)."""
    shown = format_money(money, symbol)
    if rounded(money.amount, currency(money.currency).digits) == money.amount:
        return shown
    return f"{shown} (exactly {money_exact(money, symbol)})"


def money_json(money: Money) -> dict[str, str]:
    """``{"amount": "1234.5678", "currency": "CNY"}``: exact digits, never a float."""
    return {"amount": decimal_text(money.amount), "currency": money.currency}
