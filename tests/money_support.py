"""How a person writes an amount of money, written out here independently of
``llmtally.money``: to the cent from a cent up (``$1,234.50``), three
significant digits below (``$0.00122``), ``$0`` for nothing. The tests compare
what the pages and tables show against this, and the exact amount (hover
titles, call pages, ``--json``) against the ledger."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["significant_digits", "written"]

_CENT = Decimal("0.01")


def written(amount: Decimal) -> str:
    if amount == 0:
        return "$0"
    sign, size = ("-" if amount < 0 else ""), abs(amount)
    if size < _CENT:
        decimals = f"{size:f}".split(".")[1]
        exponent = len(decimals) - len(decimals.lstrip("0")) + 1  # the first digit's place
        three = size.quantize(Decimal(f"1e-{exponent + 2}"), ROUND_HALF_UP)
        if three < _CENT:
            digits = f"{three:f}".rstrip("0")
            return f"{sign}${digits}"
    return f"{sign}${size.quantize(_CENT, ROUND_HALF_UP):,}"


def significant_digits(shown: str) -> int:
    """Significant digits of an amount as shown (``$0.0122`` has 3)."""
    digits = shown.lstrip("-$").replace(",", "").replace(".", "")
    return len(digits.lstrip("0"))
