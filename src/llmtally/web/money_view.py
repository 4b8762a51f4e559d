"""Which currency a page shows money in, and the Jinja filters that show it.

The ``currency`` setting (``LLMTALLY_CURRENCY``, default USD) is every page's
currency; ``?currency=CNY`` on a page overrides it for that page. The code is
checked against the known ones (hostile input: a clear 400, the value never
echoed past a few characters). Figures are converted by
:class:`llmtally.analytics.shown.Shown` (each day at its rate) and the rates
used are stated at the foot of the page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from llmtally.analytics.shown import Shown
from llmtally.currency import (
    CURRENCIES,
    Money,
    NoRateError,
    RatesFileError,
    RateTable,
    UnknownCurrencyError,
    format_money,
    open_rates,
)
from llmtally.currency.codes import NAMES
from llmtally.currency.display import exact_amount
from llmtally.money import DASH

__all__ = [
    "PARAM",
    "exact_at",
    "in_currency",
    "keeping_currency",
    "money",
    "money_at",
    "money_markup",
    "page_currency",
    "shown_for",
]

PARAM = "currency"
_MAX_CODE = 8


def page_currency(query: dict[str, str], setting: str | None) -> tuple[str, dict[str, str]]:
    """The page's currency (``?currency=``, else the setting, else USD) and the
    query without it; HTTPError 400 for a code that is not a known one."""
    from llmtally.config import display_currency
    from llmtally.web.http import HTTPError

    rest = {name: value for name, value in query.items() if name != PARAM}
    given = query.get(PARAM)
    known = ", ".join(CURRENCIES)
    if given is not None:
        code = given.strip().upper()
        if NAMES.get(code, code) not in CURRENCIES:
            shown = given[:_MAX_CODE] + ("..." if len(given) > _MAX_CODE else "")
            raise HTTPError(400, f"currency: unknown currency {shown!r} (known: {known})")
        return NAMES.get(code, code), rest
    try:
        return display_currency(setting), rest
    except UnknownCurrencyError as exc:
        raise HTTPError(500, f"the currency setting (LLMTALLY_CURRENCY): {exc}") from None


def shown_for(code: str) -> Shown:
    """A converter into ``code`` with the shipped and override rates (none for USD)."""
    from llmtally.web.http import HTTPError

    if code == "USD":
        return Shown(code, RateTable())
    try:
        return Shown(code, open_rates())
    except RatesFileError as exc:
        raise HTTPError(500, f"the exchange-rate file cannot be used: {exc}") from None


def no_rate(code: str, exc: NoRateError) -> Exception:
    from llmtally.web.http import HTTPError

    return HTTPError(
        400, f"Cannot show money in {code}: {exc}. Add a rate to the rates file (LLMTALLY_RATES)."
    )


def money_markup(amount: Decimal, code: str, symbol: str | None, text: str | None = None) -> Markup:
    """``text`` (by default the amount by :func:`format_money`) with every digit
    in its hover title, the code after them unless it is USD's own ``$``."""
    value = Money(amount, code)
    exact = exact_amount(value, symbol)
    title = exact if code == "USD" and symbol is None else f"{exact} {code}"
    shown = format_money(value, symbol) if text is None else text
    return Markup('<span class="money" title="{}">{}</span>').format(title, shown)


@pass_context
def money(ctx: Context, amount: Decimal | None) -> Markup:
    """An amount already in the page's currency (``currency_view``; USD when the
    page sets none), the exact digits in its hover title; a dash for none."""
    if amount is None:
        return Markup(DASH)
    shown: Any = ctx.get("currency_view")
    code = shown.code if isinstance(shown, Shown) else "USD"
    return money_markup(amount, code, ctx.get("money_symbol"))


def _day(moment: dt.datetime | dt.date) -> dt.date:
    return moment.astimezone(dt.UTC).date() if isinstance(moment, dt.datetime) else moment


@pass_context
def exact_at(ctx: Context, amount: Decimal | None, moment: dt.datetime | dt.date) -> str:
    """Every digit of a USD ledger amount (call pages), in the page's currency at
    ``moment``'s day: ``$0.0122324964`` as before, ``¥0.0880739741 CNY``."""
    if amount is None:
        return DASH
    shown: Any = ctx.get("currency_view")
    if not isinstance(shown, Shown) or shown.is_pivot:
        return exact_amount(Money(amount, "USD"))
    value = Money(shown.on(amount, _day(moment)), shown.code)
    return f"{exact_amount(value, ctx.get('money_symbol'))} {shown.code}"


@pass_context
def money_at(ctx: Context, amount: Decimal | None, moment: dt.datetime | dt.date) -> Markup:
    """A USD ledger amount of ``moment``'s day, converted at that day's rate."""
    if amount is None:
        return Markup(DASH)
    shown: Any = ctx.get("currency_view")
    if not isinstance(shown, Shown):
        return money_markup(amount, "USD", None)
    return money_markup(shown.on(amount, _day(moment)), shown.code, ctx.get("money_symbol"))


# The pages that take ``?currency=`` (overview, explorer, a call, a trace, budgets): a
# link to one of them from a page shown in another currency than USD keeps it.
_CURRENCY_PAGES = re.compile(r"^/(calls(/[^?]*)?|traces/[^?]+|budgets)?$")


def _kept(ctx: Context, path: str) -> str | None:
    shown: Any = ctx.get("currency_view")
    if isinstance(shown, Shown) and not shown.is_pivot and _CURRENCY_PAGES.match(path):
        return str(shown.code)
    return None


@pass_context
def in_currency(ctx: Context, href: str) -> str:
    """``href`` (a path, maybe with a query) with the page's currency added when
    the page shows money in another currency and ``href`` is a page that takes one."""
    path, _, query = href.partition("?")
    code = _kept(ctx, path)
    if code is None or f"{PARAM}=" in query:
        return href
    added = urlencode({PARAM: code})
    return f"{href}&{added}" if query else f"{path}?{added}"


def keeping_currency(link: Callable[..., str]) -> Callable[..., str]:
    """``link`` (path, params, **changes) for templates: the page's currency kept
    on links to pages that take one (``in_currency``)."""

    @pass_context
    def kept(
        ctx: Context, path: str, params: Mapping[str, str | None] | None = None, **changes: Any
    ) -> str:
        code = _kept(ctx, path)
        if code is not None and PARAM not in {**(params or {}), **changes}:
            changes[PARAM] = code
        return link(path, params, **changes)

    return kept
