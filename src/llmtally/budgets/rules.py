"""What a budget is, which calls it covers, and its windows.

A budget limits one metric (dollars, requests or tokens) over a period for
the calls of one scope: a gateway key, a team (a group of keys), a user, a
feature or a tag. Several budgets can cover one call; all must hold. A rate
limit is a budget over one-minute windows (``requests`` or ``tokens``).
Windows are UTC: the calendar minute, day, ISO week (from Monday) or month;
``total`` is one window for all time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

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
    "window_of",
]

Scope = Literal["key", "team", "user", "feature", "tag"]
Metric = Literal["usd", "requests", "tokens"]
Period = Literal["minute", "day", "week", "month", "total"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
METRICS: tuple[Metric, ...] = get_args(Metric)
PERIODS: tuple[Period, ...] = get_args(Period)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
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
    amount: Decimal
    label: str = ""  # how to name it to a client (a key's name, say)

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
