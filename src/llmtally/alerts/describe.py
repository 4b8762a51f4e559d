"""Short wording of rules and alerts for tables (``llmtally alerts`` and the
dashboard's Alerts page); an alert's full text is ``findings.alert_text``."""

from __future__ import annotations

from decimal import Decimal

from llmtally.alerts.config import AnomalyRule, ReconcileRule, Rule, SpendRule
from llmtally.alerts.status import RuleStatus
from llmtally.alerts.store import FiredAlert
from llmtally.currency.amount import Money
from llmtally.currency.display import format_money
from llmtally.money import usd

__all__ = [
    "alert_summary",
    "cause_summary",
    "delivery_summary",
    "rule_summary",
    "scope_summary",
    "status_summary",
]

_PER = {"day": "/day", "week": "/week", "month": "/month", "total": " in total"}


def _percent(share: Decimal) -> str:
    return f"{share * 100:.0f}%"


def rule_summary(rule: Rule) -> str:
    """``$10.00/day at 50, 80, 100%; pace``, ``budget ID: $500.00/month at 50,
    80, 100%; pace`` or ``spike > 3x usual, >= $1.00``."""
    if isinstance(rule, SpendRule):
        levels = ", ".join(str(level) for level in rule.thresholds)
        on = "" if rule.budget is None else f"budget {rule.budget}: "
        if rule.period is None or rule.amount_usd is None:
            return f"{on}at {levels}%"
        pace = "; pace" if rule.pace and rule.period != "total" else ""
        return f"{on}{_amount(rule)}{_PER[rule.period]} at {levels}%{pace}"
    if isinstance(rule, ReconcileRule):
        watched = (
            [] if rule.unrecorded_usd is None else [f"unrecorded > {usd(rule.unrecorded_usd)}"]
        )
        watched += ["price drift"] if rule.drift else []
        return f"bills, last {rule.days} days: {'; '.join(watched)}"
    assert isinstance(rule, AnomalyRule)
    return (
        f"spike > {rule.factor.normalize():f}x usual ({rule.baseline_days} days), "
        f">= {usd(rule.floor_usd)}"
    )


def _amount(rule: SpendRule) -> str:
    """The rule's amount: in its budget's currency when the budget was given in one."""
    if rule.amount_usd is None or rule.shown_currency is None or rule.shown_rate is None:
        return usd(rule.amount_usd)
    return format_money(Money(rule.amount_usd * rule.shown_rate, rule.shown_currency))


def scope_summary(rule: Rule) -> str:
    """``feature=chat``, ``all calls``, or ``the budget's`` for a budget rule
    whose budget could not be looked up."""
    if isinstance(rule, SpendRule) and rule.budget is not None and rule.period is None:
        return "the budget's"
    return rule.scope.describe()


def status_summary(status: RuleStatus) -> str:
    """``$8.12 (81%)`` this period, or ``$2.20 last hour, usual $0.20``, or
    why a budget rule is left out."""
    if status.problem is not None:
        return f"not evaluated: {status.problem.split(': ', 1)[-1]}"
    if status.used is not None:
        return f"{usd(status.spend)} ({_percent(status.used)})"
    if isinstance(status.rule, ReconcileRule):
        return "see `llmtally reconcile`"
    return f"{usd(status.spend)} last hour, usual {usd(status.usual)}"


def cause_summary(alert: FiredAlert) -> str | None:
    """``user mallory +$2.00`` for a spike with a cause."""
    if not alert.cause:
        return None
    top = alert.cause["top"]
    value = top["value"] or f"(no {top['dimension']})"
    return f"{top['dimension']} {value} +{usd(Decimal(top['growth_usd']))}"


def alert_summary(alert: FiredAlert, with_cause: bool = True) -> str:
    """``80% of $10.00/day``, ``on pace: $12.00 of $10.00/day``, ``11.0x usual;
    user mallory +$2.00`` (the cause left out with ``with_cause=False``)."""
    per = _PER.get(alert.period, "")
    if alert.kind == "threshold":
        return f"{alert.level}% of {usd(alert.amount)}{per}"
    if alert.kind == "pace":
        return f"on pace: {usd(alert.projected)} of {usd(alert.amount)}{per}"
    if alert.kind == "unrecorded":
        return f"unrecorded {usd(alert.spend)} > {usd(alert.amount)}"
    if alert.kind == "drift":
        model = alert.scope.get("model", "?")
        return f"price drift on {model}: {usd(alert.spend)}"
    usual = alert.baseline or Decimal(0)
    head = f"{alert.spend / usual:.1f}x usual" if usual > 0 else "spike from $0"
    cause = cause_summary(alert) if with_cause else None
    return f"{head}; {cause}" if cause else head


def delivery_summary(alert: FiredAlert) -> str:
    """Each webhook's state (``ops: delivered``), or why nothing was sent."""
    if not alert.notify:
        return "not sent (a higher one was)"
    if not alert.deliveries:
        return "no webhook"
    parts = []
    for d in alert.deliveries:
        state = d.state if d.state != "pending" or not d.attempts else f"retrying ({d.attempts})"
        parts.append(f"{d.webhook}: {state}")
    return ", ".join(parts)
