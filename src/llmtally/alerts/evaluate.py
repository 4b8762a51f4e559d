"""Evaluating alert rules against the ledger: what should fire now.

- A spend rule's period is the UTC day, ISO week (from Monday) or calendar
  month holding ``now``, or all time (``total``). Every threshold reached is a
  finding; only the highest of them notifies (a jump from 40% to 120% sends the
  100% alert, and records 50% and 80% as reached with it).
- "On pace": once ``pace_min_elapsed`` of the period has passed, spend so far /
  the elapsed share projects the period's spend; above the amount (and before
  the amount is reached) is a finding.
- An anomaly rule compares the last hour ``[now - 1h, now)`` with the same hour
  on each of the previous ``baseline_days`` days (their mean, days without
  spend counted as 0): above ``factor`` times that mean and at least
  ``floor_usd`` is a finding, at most one per rule per UTC hour.
- The cause of a spike: per user, feature, model and prompt fingerprint, each
  value's growth over its usual spend for the hour. The headline is the value
  whose growth most exceeds its usual share of the increase (a model every
  call uses grows with any spike, and so explains nothing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal

from llmtally.alerts.config import AnomalyRule, Period, SpendRule
from llmtally.alerts.findings import Cause, Finding, Growth
from llmtally.alerts.spend import BREAKDOWNS, Breakdown, scope_spend, spend_by
from llmtally.analytics.ranges import EPOCH
from llmtally.ledger.keys import period_bounds
from llmtally.ledger.store import Store

__all__ = [
    "HOUR",
    "anomaly_finding",
    "find_cause",
    "period_window",
    "spend_findings",
    "usual_spend",
]

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
_PLACES = Decimal("1e-10")
_SHARE = Decimal("1e-4")
_ZERO = Decimal(0)


def period_window(period: Period, now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """The period holding ``now``: ``[start, end)``; ``total`` has no end."""
    if period == "total":
        return EPOCH, None
    return period_bounds(period, now)


def _exact(amount: Decimal) -> Decimal:
    return amount.quantize(_PLACES, ROUND_HALF_EVEN)


def spend_findings(store: Store, rule: SpendRule, now: dt.datetime) -> list[Finding]:
    """The thresholds ``rule`` has reached in the current period (highest first),
    and its pace warning when due. A budget rule's alerts name the budget in
    their scope, beside the budget's own scope."""
    period, amount = rule.limit()
    start, end = period_window(period, now)
    spent = scope_spend(store, rule.scope, start, end)
    named = {} if rule.budget is None else {"budget": rule.budget}
    base = Finding(
        rule=rule.name,
        kind="threshold",
        scope=named | rule.scope.items(),
        period=period,
        period_start=None if period == "total" else start,
        period_end=end,
        spend=spent,
        amount=amount,
        webhooks=None if rule.webhooks is None else tuple(rule.webhooks),
        currency=rule.shown_currency or "USD",
        rate=rule.shown_rate,
        rate_note=rule.shown_rate_note,
    )
    crossed = [level for level in rule.thresholds if spent * 100 >= amount * level]
    found = [
        dataclasses.replace(base, level=level, notify=level == crossed[-1])
        for level in reversed(crossed)
    ]
    pace = _pace(rule, spent, start, end, now)
    if pace is not None:
        projected, elapsed = pace
        found.append(dataclasses.replace(base, kind="pace", projected=projected, elapsed=elapsed))
    return found


def _pace(
    rule: SpendRule, spent: Decimal, start: dt.datetime, end: dt.datetime | None, now: dt.datetime
) -> tuple[Decimal, Decimal] | None:
    """(projected spend, elapsed share) when the rule is on pace to overrun."""
    amount = rule.limit()[1]
    if not rule.pace or end is None or spent >= amount or spent <= 0:
        return None
    passed = Decimal(str((now - start).total_seconds()))
    whole = Decimal(str((end - start).total_seconds()))
    elapsed = _exact(passed / whole)
    if elapsed < Decimal(str(rule.pace_min_elapsed)) or elapsed <= 0:
        return None
    projected = _exact(spent / elapsed)
    return (projected, elapsed) if projected > amount else None


def _hour_windows(now: dt.datetime, days: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The same hour as ``[now - 1h, now)`` on each of the previous ``days`` days."""
    return [(now - HOUR - k * DAY, now - k * DAY) for k in range(1, days + 1)]


def usual_spend(store: Store, rule: AnomalyRule, now: dt.datetime) -> Decimal:
    """The mean spend of the same hour as ``[now - 1h, now)`` on the baseline days."""
    windows = _hour_windows(now, rule.baseline_days)
    spent = sum((scope_spend(store, rule.scope, a, b) for a, b in windows), _ZERO)
    return _exact(spent / len(windows))


def anomaly_finding(
    store: Store, rule: AnomalyRule, now: dt.datetime, taken: Callable[[str], bool]
) -> Finding | None:
    """The spike ``rule`` sees in the last hour, with its cause; None when there
    is none, or when this UTC hour's alert is ``taken`` already."""
    current = scope_spend(store, rule.scope, now - HOUR, now)
    if current <= 0 or current < rule.floor_usd:
        return None
    usual = usual_spend(store, rule, now)
    if current <= rule.factor * usual:
        return None
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    found = Finding(
        rule=rule.name,
        kind="anomaly",
        scope=rule.scope.items(),
        period="hour",
        period_start=hour,
        period_end=hour + HOUR,
        spend=current,
        baseline=usual,
        factor=rule.factor,
        webhooks=None if rule.webhooks is None else tuple(rule.webhooks),
    )
    if taken(found.key):
        return None
    return dataclasses.replace(found, cause=find_cause(store, rule, now))


def _breakdown(
    store: Store, rule: AnomalyRule, dimension: Breakdown, now: dt.datetime
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(spend per value in the last hour, mean spend per value in the same hour before)."""
    current = spend_by(store, rule.scope, dimension, now - HOUR, now)
    windows = _hour_windows(now, rule.baseline_days)
    usual: dict[str, Decimal] = {}
    for since, until in windows:
        for value, amount in spend_by(store, rule.scope, dimension, since, until).items():
            usual[value] = usual.get(value, _ZERO) + amount
    return current, {value: _exact(amount / len(windows)) for value, amount in usual.items()}


def find_cause(store: Store, rule: AnomalyRule, now: dt.datetime) -> Cause | None:
    """What grew most in the last hour, against the usual for the hour."""
    tops: list[tuple[tuple[Decimal, bool, int], Growth]] = []
    for index, dimension in enumerate(BREAKDOWNS):
        current, usual = _breakdown(store, rule, dimension, now)
        increase = sum(current.values(), _ZERO) - sum(usual.values(), _ZERO)
        if increase <= 0:
            return None
        picked = _top(dimension, current, usual, increase)
        if picked is not None:
            excess, growth = picked
            tops.append(((excess, growth.value != "", -index), growth))
    if not tops:
        return None
    headline = max(tops, key=lambda item: item[0])[1]
    return Cause(headline, tuple(growth for _, growth in tops))


def _top(
    dimension: str, current: dict[str, Decimal], usual: dict[str, Decimal], increase: Decimal
) -> tuple[Decimal, Growth] | None:
    """The value of one dimension whose growth most exceeds its usual share of
    ``increase`` (ties: the larger growth, a named value, the first name)."""
    usual_total = sum(usual.values(), _ZERO)
    best: tuple[tuple[Decimal, Decimal, bool, str], Growth] | None = None
    for value in sorted(set(current) | set(usual), reverse=True):
        now_spend, before = current.get(value, _ZERO), usual.get(value, _ZERO)
        growth = now_spend - before
        usual_share = before / usual_total if usual_total > 0 else _ZERO
        excess = growth - usual_share * increase
        share = min(max(growth / increase, _ZERO), Decimal(1)).quantize(_SHARE)
        item = Growth(dimension, value, now_spend, before, share)
        rank = (excess, growth, value != "", value)
        if best is None or rank[:3] >= best[0][:3]:
            best = (rank, item)
    if best is None:
        return None
    return _exact(best[0][0]), best[1]
