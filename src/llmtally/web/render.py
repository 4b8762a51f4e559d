"""Jinja2 templates (shipped in the package) and the filters that format numbers.

Autoescaping is on and undefined names fail loudly, so a template typo is an
error in the tests rather than an empty cell in production. Money is shown the
way people read it (``llmtally.money.usd``: ``$12.35``, ``$0.00122``) with every
digit the ledger holds in the element's hover title; ``rate`` shows a unit
price the same way (``llmtally.money.usd_rate``); ``usd_exact`` shows all the
digits (call pages); ``price`` shows a catalog price in its own currency
(``llmtally.web.price_view``). A page given ``currency_view`` (``llmtally.web.money_view``)
shows its money in that currency: the ``usd`` filter formats amounts already
converted, ``money_at`` converts a USD amount at its day's rate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from llmtally.money import DASH, duration_ms, usd_exact, usd_rate
from llmtally.money import usd as usd_text
from llmtally.usage import model_label
from llmtally.web.http import Response
from llmtally.web.money_view import exact_at, in_currency, keeping_currency, money, money_at
from llmtally.web.price_view import price
from llmtally.web.static import StaticFiles

__all__ = ["Renderer", "link", "ms", "number", "rate", "usd", "when"]

NONE = DASH


def usd(amount: Decimal | None) -> Markup:
    """``<span class="money" title="$0.0122324964">$0.01</span>``; a dash for no amount."""
    if amount is None:
        return Markup(NONE)
    return Markup('<span class="money" title="{}">{}</span>').format(
        usd_exact(amount), usd_text(amount)
    )


def rate(value: Decimal | None) -> Markup:
    """A unit price (``llmtally.money.usd_rate``: ``$0.04667``) with every
    digit in its hover title; a dash for no price."""
    if value is None:
        return Markup(NONE)
    return Markup('<span class="money" title="{}">{}</span>').format(
        usd_exact(value), usd_rate(value)
    )


def number(value: int | float | Decimal | None) -> str:
    if value is None:
        return NONE
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}"


def ms(value: float | None) -> str:
    return duration_ms(value)


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return NONE
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def link(path: str, params: Mapping[str, str | None] | None = None, **changes: str | None) -> str:
    """``path`` with the non-empty ``params`` (updated by ``changes``) as its query."""
    merged = {**(params or {}), **changes}
    query = urlencode({k: v for k, v in merged.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


class Renderer:
    """Renders the package's templates into HTML responses."""

    def __init__(self, static: StaticFiles) -> None:
        self.env = Environment(
            loader=PackageLoader("llmtally.web", "templates"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            usd=money,
            money_at=money_at,
            exact_at=exact_at,
            in_currency=in_currency,
            usd_exact=usd_exact,
            rate=rate,
            price=price,
            number=number,
            ms=ms,
            when=when,
        )
        self.env.globals.update(
            static=static.url, link=keeping_currency(link), model_label=model_label
        )

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        html = self.env.get_template(template).render(**context)
        return Response(status, html.encode())
