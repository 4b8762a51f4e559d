"""Catalog prices on the dashboard (the Models page), each in its price file's
currency, shown as ``llmtally prices`` shows them.

The text is the CLI's (:class:`llmtally.catalog.price_text.PriceSigns`: llmtally.money's
rule for unit prices with the currency's sign, ``CN¥``/``JP¥`` only when both
are on the page), so a price reads the same in the terminal and in the browser;
the hover title has every digit the price file gives, with the code
(``¥0.8 CNY``; a USD price keeps the bare ``$2.5`` of the dashboard's other
money). Nothing is converted: a price is what the provider lists. Length tiers
(Qwen's input-length prices) are listed under the table as the CLI lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from llmtally.catalog.listing import PriceRow
from llmtally.catalog.price_text import (
    TIERS_SUBTITLE,
    TIERS_TITLE,
    PriceSigns,
    tier_rates,
    tier_when,
)
from llmtally.currency.codes import currency
from llmtally.money import DASH
from llmtally.web.money_view import money_markup

__all__ = ["SIGNS", "PriceSigns", "TierLine", "price", "price_context", "tier_lines"]

SIGNS = "price_signs"  # the template context's name for the page's PriceSigns


@dataclass(frozen=True, slots=True)
class TierLine:
    """One length tier of a row: when it applies (``prompt > 131,072``, with the
    output's bound where it has one) and the input, cached input, output and
    thinking-output rates the whole request is then billed at (the CLI's)."""

    row: PriceRow
    first: bool  # the row's first tier: the line that names the model
    when: str
    rates: list[Decimal | None]


def tier_lines(rows: list[PriceRow]) -> list[TierLine]:
    """The length tiers of the rows that have them, as ``llmtally prices`` lists them."""
    return [
        TierLine(r, i == 0, tier_when(c), tier_rates(r, c))
        for r in rows
        for i, c in enumerate(r.long_context)
    ]


def price_context(rows: list[PriceRow]) -> dict[str, Any]:
    """What a page listing ``rows`` passes its template: the signs of the
    currencies shown, the heading naming them (``prices per 1M tokens (¥ CNY,
    $ USD), in force now``), whether any row has a thinking-output price, and
    the length tiers (with whether any of them has one)."""
    signs = PriceSigns(rows)
    heading = signs.title()
    tiers = tier_lines(rows)
    return {
        SIGNS: signs,
        "price_heading": heading[:1].lower() + heading[1:],
        "price_codes": signs.codes,
        "thinking": any(r.output_thinking is not None for r in rows),
        "tiers": tiers,
        "tiers_title": TIERS_TITLE,
        "tiers_subtitle": TIERS_SUBTITLE,
        "tiers_thinking": any(t.rates[3] is not None for t in tiers),
    }


@pass_context
def price(ctx: Context, value: Decimal | None, code: str) -> Markup:
    """A unit price in ``code`` (``¥0.80``, ``$2.50``), its exact digits in the
    hover title; a dash for no price."""
    if value is None:
        return Markup(DASH)
    signs: Any = ctx.get(SIGNS)
    if not isinstance(signs, PriceSigns):
        raise TypeError(f"the page's context has no {SIGNS} (web.price_view.price_context)")
    sign = signs.symbols[code]
    own = None if sign == currency(code).symbol else sign  # CN¥ / JP¥ in the title too
    return money_markup(value, code, own, signs.rate(value, code, DASH))
