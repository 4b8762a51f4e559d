"""The dashboard's Budgets page (``/budgets``): every budget and rate limit in
force, with what is spent and reserved in its current window, what is left,
how much is used and when the window renews.

The facts are those of ``llmtally budgets list`` (``BudgetBook.all`` and
``BudgetCounters.state``); this module only arranges them for the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from markupsafe import Markup

from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters
from llmtally.budgets.rules import Budget, shown_limit, shown_money, shown_rate, window_of
from llmtally.currency import Converted, Money, format_money, symbols_for
from llmtally.currency.display import exact_amount
from llmtally.ledger.store import Store
from llmtally.web.http import HTTPError, Request, Response
from llmtally.web.money_view import shown_for
from llmtally.web.render import Renderer

__all__ = [
    "WARN_AT",
    "BudgetLine",
    "BudgetPages",
    "budget_lines",
    "figure",
    "limit",
    "percent",
    "renews_in",
]

WARN_AT = Decimal("0.8")  # a budget this used is highlighted; at 1 (all of it) more so
_UNIT = {"usd": "", "requests": " req", "tokens": " tok"}
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget as the page shows it: its current window's figures."""

    budget: Budget
    spent: Decimal
    reserved: Decimal  # held by calls in flight
    renews: dt.datetime | None  # the window's end; None for a total budget
    rate: Converted | None = None  # 1 USD in the currency its money is shown in
    symbol: str | None = None  # CN¥/JP¥ when both are on the page

    @property
    def name(self) -> str:
        """``team search``, ``key ci``: the scope and its subject's name."""
        return f"{self.budget.scope} {self.budget.label or self.budget.subject}"

    @property
    def left(self) -> Decimal:
        """What may still be admitted in this window (never below zero)."""
        return max(self.budget.amount - self.spent - self.reserved, _ZERO)

    @property
    def used(self) -> Decimal:
        """(spent + reserved) / limit: 1 is the whole budget."""
        return (self.spent + self.reserved) / self.budget.amount

    @property
    def level(self) -> str:
        """``full`` from 100% used, ``warn`` from 80%, else ``ok``."""
        if self.used >= 1:
            return "full"
        return "warn" if self.used >= WARN_AT else "ok"


def budget_lines(
    budgets: Sequence[Budget],
    states: dict[str, tuple[Decimal, Decimal]],
    now: dt.datetime,
    rates: dict[str, Converted | None] | None = None,
) -> list[BudgetLine]:
    """Each budget with its (spent, reserved), the end of its window at ``now``
    and the rate its money is shown at (``llmtally.budgets.rules.shown_rate``)."""
    rates = rates or {}
    codes = {r.amount.currency for r in rates.values() if r is not None}
    codes |= (
        {"USD"} if any(b.metric == "usd" and rates.get(b.id) is None for b in budgets) else set()
    )
    symbols = symbols_for(codes)
    lines = []
    for b in budgets:
        rate = rates.get(b.id)
        code = "USD" if rate is None else rate.amount.currency
        renews = window_of(b.period, now)[1]
        lines.append(BudgetLine(b, *states[b.id], renews, rate, symbols.get(code)))
    return lines


def _money(value: Money, symbol: str | None) -> Markup:
    exact = exact_amount(value, symbol)
    title = (
        exact if value.currency == "USD" and symbol in (None, "$") else f"{exact} {value.currency}"
    )
    return Markup('<span class="money" title="{}">{}</span>').format(
        title, format_money(value, symbol)
    )


def figure(line: BudgetLine, amount: Decimal) -> Markup:
    """An amount of the budget's metric: money in its shown currency (exact on
    hover) or a whole count."""
    if line.budget.metric == "usd":
        return _money(shown_money(amount, line.rate), line.symbol)
    return Markup("{:,.0f}").format(amount)


def limit(line: BudgetLine) -> Markup:
    """``$500.00/month``, ``¥7,000.00/month``, ``60 req/minute``, ``2,000,000 tok/day``."""
    budget = line.budget
    if budget.metric == "usd":
        shown = _money(shown_limit(budget, line.rate), line.symbol)
    else:
        shown = figure(line, budget.amount)
    return Markup("{}{}/{}").format(shown, _UNIT[budget.metric], budget.period)


def percent(used: Decimal) -> str:
    """Whole percent, rounded down (``100%`` only once it is all used); ``<1%``
    for a little."""
    shown = int((used * 100).to_integral_value(rounding=ROUND_FLOOR))
    return "<1%" if used > 0 and shown == 0 else f"{shown:,}%"


def renews_in(end: dt.datetime | None, now: dt.datetime) -> str:
    """``in 45 s``, ``in 3 h 20 min``, ``in 22 d 12 h``; ``never`` for a total budget."""
    if end is None:
        return "never"
    seconds = max(int((end - now).total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"in {days} d {hours} h" if hours else f"in {days} d"
    if hours:
        return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
    return f"in {minutes} min" if minutes else f"in {seconds} s"


@dataclass(frozen=True, slots=True)
class BudgetPages:
    """``/budgets`` over one ledger."""

    store: Store
    render: Renderer
    now: Callable[[], dt.datetime]

    def route(self, request: Request) -> Response | None:
        """The page for ``/budgets``; None for any other path."""
        return self.page(request) if request.path == "/budgets" else None

    def page(self, request: Request) -> Response:
        if request.query:
            names = ", ".join(sorted(request.query))
            raise HTTPError(400, f"unknown parameter {names}; this page takes only currency")
        now = self.now()
        shown = shown_for(request.currency)
        book = BudgetBook(self.store, shown.rates if not shown.is_pivot else None)
        budgets = book.all(now)
        states = BudgetCounters(self.store, clock=lambda: now).state(budgets)
        rates = {b.id: shown_rate(b, shown.code, now, shown.rates) for b in budgets}
        for rate in rates.values():
            if rate is not None:  # stated at the foot of the page
                shown.used.setdefault((rate.rate, rate.rate_date, rate.source), rate)
        return self.render.page(
            "budgets.html",
            page="budgets",
            currency_view=shown,
            lines=budget_lines(budgets, states, now, rates),
            now=now,
            figure=figure,
            limit=limit,
            percent=percent,
            renews_in=renews_in,
        )
