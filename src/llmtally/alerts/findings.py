"""What an alert says: a ``Finding`` (a rule's condition met, with its numbers
and cause), its deduplication key and its text.

One home for the wording: the webhook's Slack-compatible ``text``, the CLI and
the dashboard all show :func:`alert_text`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from llmtally.currency.amount import Money
from llmtally.currency.display import format_money
from llmtally.money import usd

__all__ = ["Cause", "Finding", "Growth", "Kind", "alert_text", "dedup_key"]

Kind = Literal["threshold", "pace", "anomaly", "unrecorded", "drift"]
_PERIOD_WORDS = {"day": "daily", "week": "weekly", "month": "monthly", "total": "total"}


@dataclass(frozen=True, slots=True)
class Growth:
    """One user, feature, model or fingerprint: the last hour against its usual."""

    dimension: str  # user | feature | model | fingerprint
    value: str  # '' when the calls have none
    spend: Decimal
    baseline: Decimal  # mean of the same hour on the baseline days
    share: Decimal  # of the whole increase, 0..1 (rounded to 4 places)

    @property
    def growth(self) -> Decimal:
        return self.spend - self.baseline

    @property
    def shown(self) -> str:
        return self.value or f"(no {self.dimension})"


@dataclass(frozen=True, slots=True)
class Cause:
    """What grew most: the headline (the single value that explains the largest
    part of the increase) and the top grower of each dimension."""

    top: Growth
    by_dimension: tuple[Growth, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's condition, met now."""

    rule: str
    kind: Kind
    scope: dict[str, str]
    period: str  # day | week | month | total | hour (anomalies)
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    spend: Decimal
    amount: Decimal | None = None  # the rule's amount (threshold, pace)
    level: int | None = None  # the threshold, percent
    projected: Decimal | None = None  # pace: spend / elapsed share of the period
    elapsed: Decimal | None = None  # pace: the share of the period passed, 0..1
    baseline: Decimal | None = None  # anomaly: the usual spend for the hour
    factor: Decimal | None = None  # anomaly: the rule's factor
    cause: Cause | None = None
    webhooks: tuple[str, ...] | None = None  # None: every webhook
    notify: bool = True  # False: a lower threshold reached with a higher one
    currency: str = "USD"  # a budget given in another currency: its money in it
    rate: Decimal | None = None  # 1 USD in ``currency`` (the budget's window rate)
    rate_note: str | None = None  # ``7.2 CNY per USD (2026-12-01, source)``

    @property
    def key(self) -> str:
        return dedup_key(self)


def dedup_key(found: Finding) -> str:
    """One alert per rule, kind, threshold, amount and period: the ledger's
    unique key (a second evaluator or a restart finds it taken)."""
    start = found.period_start.isoformat() if found.period_start else "all"
    level = "" if found.level is None else str(found.level)
    amount = "" if found.amount is None else f"{found.amount.normalize():f}"
    parts = [found.rule, found.kind, level, amount, found.period, start]
    if found.kind == "drift":  # one rule finds drift on several models: one alert each
        parts.append(_scope_text(found.scope))
    return "|".join(parts)


def _scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "all calls"


def _period_text(found: Finding) -> str:
    if found.period == "total" or found.period_start is None:
        return "in total"
    return f"since {found.period_start.strftime('%Y-%m-%d %H:%M')} UTC"


def _money(found: Finding, amount: Decimal | None) -> str:
    """A USD amount of ``found`` as it is shown: in the budget's currency when it has one."""
    if amount is None or found.rate is None:
        return usd(amount)
    return format_money(Money(amount * found.rate, found.currency))


def _rate_text(found: Finding) -> str:
    if found.rate is None or found.rate_note is None:
        return ""
    return f" ({found.currency} at {found.rate_note}; admission counts USD)"


def alert_text(found: Finding) -> str:
    """One paragraph a person reads in Slack or a terminal."""
    head = f"llmtally alert {found.rule!r} ({_scope_text(found.scope)}): "
    words = _PERIOD_WORDS.get(found.period, found.period)
    budget = f"{_money(found, found.amount)} {words} amount"
    if found.kind == "threshold":
        return (
            f"{head}{found.level}% of the {budget} reached: "
            f"{_money(found, found.spend)} spent {_period_text(found)}{_rate_text(found)}."
        )
    if found.kind == "pace":
        elapsed = f"{(found.elapsed or Decimal(0)) * 100:.0f}%"
        return (
            f"{head}on pace to overrun the {budget}: {_money(found, found.spend)} spent in "
            f"{elapsed} of the {found.period} projects {_money(found, found.projected)}"
            f"{_rate_text(found)}."
        )
    if found.kind in ("unrecorded", "drift"):
        return _reconcile_text(found)
    return _anomaly_text(head, found)


def _reconcile_text(found: Finding) -> str:
    head = f"llmtally alert {found.rule!r}: "
    if found.kind == "unrecorded":
        return (
            f"{head}{usd(found.spend)} of usage the providers report was recorded by no "
            f"capture path (above {usd(found.amount)}); see `llmtally reconcile`."
        )
    since = found.period_start.strftime("%Y-%m-%d") if found.period_start else "?"
    return (
        f"{head}the bill for {_scope_text(found.scope)} implies a price the catalog lacks "
        f"since {since} ({usd(found.spend)} so far); `llmtally reconcile --apply` "
        "writes the dated price."
    )


def _anomaly_text(head: str, found: Finding) -> str:
    usual = found.baseline or Decimal(0)
    if usual > 0:
        against = f"{found.spend / usual:.1f}x the usual {usd(usual)} for this hour"
    else:
        against = "where this hour usually costs nothing"
    text = (
        f"{head}spend spike: {usd(found.spend)} in the last hour, {against} "
        "(the same hour on the previous days)."
    )
    if found.cause is not None:
        top = found.cause.top
        text += (
            f" Grew most: {top.dimension} {top.shown} "
            f"+{usd(top.growth)} ({top.share * 100:.0f}% of the increase)."
        )
    return text
