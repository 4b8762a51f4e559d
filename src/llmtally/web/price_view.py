"""Catalog prices on the dashboard (the Models page), each in its price file's
currency, shown as ``llmtally prices`` shows them.

The text is the CLI's (:class:`llmtally.cli.prices_cmd._Signs`: llmtally.money's
rule for unit prices with the currency's sign, ``CN¥``/``JP¥`` only when both
are on the page), so a price reads the same in the terminal and in the browser;
the hover title has every digit the price file gives, with the code
(``¥0.8 CNY``; a USD price keeps the bare ``$2.5`` of the dashboard's other
money). Nothing is converted: a price is what the provider lists.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from llmtally.catalog.listing import PriceRow
from llmtally.cli.prices_cmd import _Signs as PriceSigns
from llmtally.currency.codes import currency
from llmtally.money import DASH
from llmtally.web.money_view import money_markup

__all__ = ["SIGNS", "PriceSigns", "price", "price_context"]

SIGNS = "price_signs"  # the template context's name for the page's PriceSigns


def price_context(rows: list[PriceRow]) -> dict[str, Any]:
    """What a page listing ``rows`` passes its template: the signs of the
    currencies shown, the heading naming them (``prices per 1M tokens (¥ CNY,
    $ USD), in force now``) and whether any row has a thinking-output price."""
    signs = PriceSigns(rows)
    heading = signs.title()
    return {
        SIGNS: signs,
        "price_heading": heading[:1].lower() + heading[1:],
        "price_codes": signs.codes,
        "thinking": any(r.output_thinking is not None for r in rows),
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
