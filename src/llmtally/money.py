"""How money and raw measurements are shown to a person: the one home for it.

- :func:`usd`: an amount the way people read it. Cents from one cent up
  (``$12.35``, ``$1,234.50``), three significant digits below a cent
  (``$0.00122``, ``$0.00031``), ``$0`` for zero, a minus in front of a
  negative amount (``-$0.50``). Halves round away from zero.
- :func:`usd_rate`: a price per unit (per 1M tokens, per hour): at least to
  the cent and up to four significant digits (``$2.50``, ``$0.075``,
  ``$0.04667``, ``$4.398``), so that list prices read as published while a
  computed rate such as $/hour over throughput does not print 16 digits.
- :func:`usd_exact`: every digit the ledger holds (``$0.0122324964``), for
  hover titles, call pages and checks; ``--json`` and exports carry the bare
  digits (``llmtally.meter.decimal_text``), never the rounded text.
- :func:`duration_ms`: a duration in milliseconds (``6.6 ms``, ``123 ms``,
  ``1.23 s``), never the raw float.
- :data:`USD_TICKFORMAT`: the Plotly (d3) tick format of a USD axis: a ``$``
  prefix and three significant digits as plain decimals (no SI suffix such as
  ``5μ``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "DASH",
    "USD_TICKFORMAT",
    "duration_ms",
    "rounded",
    "usd",
    "usd_exact",
    "usd_rate",
    "usd_with_exact",
]

DASH = "—"
SUB_CENT_DIGITS = 3
RATE_DIGITS = 4
USD_TICKFORMAT = "$,.3~r"


def rounded(amount: Decimal, digits: int = 2) -> Decimal:
    """``amount`` as :func:`usd` shows it (or a currency of ``digits`` minor digits,
    :mod:`llmtally.currency.display`): to the minor unit from one unit up, else to
    SUB_CENT_DIGITS significant digits."""
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


def usd(amount: Decimal | None, none: str = DASH) -> str:
    """``amount`` for reading: cents from a cent up, 3 significant digits below
    (:func:`llmtally.currency.display.format_money` in USD: one home for the rule)."""
    if amount is None:
        return none
    from llmtally.currency.amount import Money
    from llmtally.currency.display import format_money

    return format_money(Money(amount, "USD"))


def usd_rate(rate: Decimal | None, none: str = DASH) -> str:
    """A unit price: cents at least, up to RATE_DIGITS significant digits
    (``$15.00``, ``$0.30``, ``$0.075``, ``$0.04667``, ``$1,234.57``)."""
    if rate is None:
        return none
    value = abs(rate)
    if value == 0:
        return "$0"
    places = min(value.adjusted() - RATE_DIGITS + 1, -2)
    shown = value.quantize(Decimal(1).scaleb(places), ROUND_HALF_UP)
    whole, _, decimals = f"{shown:,f}".partition(".")
    sign = "-" if rate < 0 else ""
    return f"{sign}${whole}.{decimals.rstrip('0').ljust(2, '0')}"


def usd_exact(amount: Decimal | None, none: str = DASH) -> str:
    """``amount`` with every digit it has (``$0.0122324964``, ``-$3``):
    :func:`llmtally.currency.display.exact_amount` in USD."""
    if amount is None:
        return none
    from llmtally.currency.amount import Money
    from llmtally.currency.display import exact_amount

    return exact_amount(Money(amount, "USD"))


def usd_with_exact(amount: Decimal | None, none: str = DASH) -> str:
    """``$0.01 (exactly $0.0122324964)``, or just ``$12.35`` when that is exact
    (chart hover text, where no title attribute can carry the digits)."""
    shown = usd(amount, none)
    if amount is None or rounded(amount) == amount:
        return shown
    return f"{shown} (exactly {usd_exact(amount)})"


def duration_ms(value: float | None, none: str = DASH) -> str:
    """A duration given in milliseconds: ``0.42 ms``, ``6.6 ms``, ``123 ms``, ``1.23 s``."""
    if value is None:
        return none
    size = abs(value)  # the limits are where rounding would print the next unit's digits
    if size >= 999.5:
        return f"{value / 1000:,.2f} s"
    if size >= 99.95:
        return f"{value:.0f} ms"
    if size >= 0.995:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"
