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
from llmtally.budgets.rules import Budget, window_of
from llmtally.ledger.store import Store
from llmtally.web.http import HTTPError, Request, Response
from llmtally.web.render import Renderer, usd

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
    budgets: Sequence[Budget], states: dict[str, tuple[Decimal, Decimal]], now: dt.datetime
) -> list[BudgetLine]:
    """Each budget with its (spent, reserved) and the end of its window at ``now``."""
    return [BudgetLine(b, *states[b.id], renews=window_of(b.period, now)[1]) for b in budgets]


def figure(budget: Budget, amount: Decimal) -> Markup:
    """An amount of ``budget``'s metric: dollars (exact on hover) or a whole count."""
    if budget.metric == "usd":
        return usd(amount)
    return Markup("{:,.0f}").format(amount)


def limit(budget: Budget) -> Markup:
    """``$500.00/month``, ``60 req/minute``, ``2,000,000 tok/day`` (as ``budgets list``)."""
    return Markup("{}{}/{}").format(
        figure(budget, budget.amount), _UNIT[budget.metric], budget.period
    )


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
            raise HTTPError(400, f"unknown parameter {names}; this page takes none")
        now = self.now()
        budgets = BudgetBook(self.store).all()
        states = BudgetCounters(self.store, clock=lambda: now).state(budgets)
        return self.render.page(
            "budgets.html",
            page="budgets",
            lines=budget_lines(budgets, states, now),
            now=now,
            figure=figure,
            limit=limit,
            percent=percent,
            renews_in=renews_in,
        )
