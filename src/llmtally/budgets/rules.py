"""What a budget is, which calls it covers, and its windows.

A budget limits one metric (dollars, requests or tokens) over a period for
the calls of one scope: a gateway key, a team (a group of keys), a user, a
feature or a tag. Several budgets can cover one call; all must hold. A rate
limit is a budget over one-minute windows (``requests`` or ``tokens``).
Windows are UTC: the calendar minute, day, ISO week (from Monday) or month;
``total`` is one window for all time.

A dollar budget may be given in another currency (``currency: CNY``, the
limit in yuan). Admission stays in USD, the ledger's currency: the limit is
converted at the rate in force on the window's first day (for ``total``, the
budget's creation day), rounded down to the ledger's 10 decimal places so the
USD limit is never more than the given one (:func:`limit_in_usd`), and shown
back in the budget's currency at that same rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Context, Decimal
from typing import Literal, get_args

from llmtally.currency.amount import Money
from llmtally.currency.convert import ARITHMETIC, Converted, convert
from llmtally.currency.rates import RateTable
from llmtally.ledger.keys import period_bounds

__all__ = [
    "METRICS",
    "PERIODS",
    "SCOPES",
    "Budget",
    "BudgetError",
    "Metric",
    "Period",
    "Scope",
    "Subject",
    "limit_in_usd",
    "rate_day",
    "shown_limit",
    "shown_money",
    "shown_rate",
    "window_of",
]

Scope = Literal["key", "team", "user", "feature", "tag"]
Metric = Literal["usd", "requests", "tokens"]
Period = Literal["minute", "day", "week", "month", "total"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
METRICS: tuple[Metric, ...] = get_args(Metric)
PERIODS: tuple[Period, ...] = get_args(Period)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LEDGER_PLACES = Decimal("1e-10")
_DOWN = Context(prec=28, rounding=ROUND_FLOOR)
_ADJECTIVE = {
    "minute": "per-minute",
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "total": "total",
}


class BudgetError(ValueError):
    """A budget that cannot be made or found; the message says why."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Who and what a call is for, as the budgets see it at admission."""

    key_id: str | None = None
    team: str | None = None
    user: str | None = None
    feature: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Budget:
    id: str
    scope: Scope
    subject: str  # the key id, team, user, feature or tag
    metric: Metric
    period: Period
    amount: Decimal  # the limit admission uses: USD for a dollar budget
    label: str = ""  # how to name it to a client (a key's name, say)
    currency: str = "USD"  # the currency the limit was given in (dollar budgets)
    given: Decimal | None = None  # the limit in ``currency``; None: given in USD
    rate: Converted | None = None  # 1 USD in ``currency`` for the current window

    def covers(self, who: Subject) -> bool:
        if self.scope == "tag":
            return self.subject in who.tags
        value = {
            "key": who.key_id,
            "team": who.team,
            "user": who.user,
            "feature": who.feature,
        }[self.scope]
        return value == self.subject

    def describe(self) -> str:
        """``the daily usd budget of user 'alice'`` and the like."""
        name = self.label or self.subject
        what = {"usd": "budget", "requests": "request limit", "tokens": "token limit"}
        return f"the {_ADJECTIVE[self.period]} {what[self.metric]} of {self.scope} {name!r}"


def rate_day(period: Period, now: dt.datetime, created: dt.datetime) -> dt.date:
    """The day whose rate converts a budget's limit: its window's first day, or
    (``total``, one window since 1970) the day the budget was made."""
    if period == "total":
        return created.astimezone(dt.UTC).date()
    return window_of(period, now)[0].astimezone(dt.UTC).date()


def limit_in_usd(
    given: Decimal, code: str, day: dt.date, rates: RateTable
) -> tuple[Decimal, Converted]:
    """A limit given in ``code`` as USD for admission, with the rate used (1 USD
    in ``code``): ``given / rate``, rounded down to the ledger's places. A day
    with no rate is a :class:`~llmtally.currency.NoRateError` naming it."""
    rate = convert(Money(Decimal(1), "USD"), code, day, rates)
    usd = _DOWN.divide(given, rate.rate).quantize(_LEDGER_PLACES, ROUND_FLOOR)
    return usd, rate


def shown_rate(budget: Budget, code: str, now: dt.datetime, rates: RateTable) -> Converted | None:
    """The rate ``budget``'s money is shown at (1 USD in the shown currency): a
    limit given in a currency, at its own; else in ``code`` at the rate of its
    window's first day (``total``: today). None: shown in USD."""
    if budget.metric != "usd":
        return None
    if budget.currency != "USD":
        return budget.rate
    if code == "USD":
        return None
    return convert(Money(Decimal(1), "USD"), code, rate_day(budget.period, now, now), rates)


def shown_money(usd: Decimal, rate: Converted | None) -> Money:
    """A USD amount of a budget at its shown rate (in USD when None)."""
    if rate is None:
        return Money(usd, "USD")
    return Money(ARITHMETIC.multiply(usd, rate.rate), rate.amount.currency)


def shown_limit(budget: Budget, rate: Converted | None) -> Money:
    """The limit as shown: as given when it was given in a currency."""
    if budget.given is not None and rate is not None:
        return Money(budget.given, budget.currency)
    return shown_money(budget.amount, rate)


def window_of(period: Period, now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """The window of ``period`` that holds ``now``: its start and end (None: never ends)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if period == "total":
        return _EPOCH, None
    if period == "minute":
        start = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        return start, start + dt.timedelta(minutes=1)
    if period in ("day", "week", "month"):
        return period_bounds(period, now)
    raise BudgetError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")


def window_key(start: dt.datetime) -> int:
    """A window's start as the counters store it: whole seconds since 1970, UTC."""
    return int((start - _EPOCH).total_seconds())
