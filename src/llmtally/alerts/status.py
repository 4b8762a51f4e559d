"""Where each alert rule stands now, for ``llmtally alerts list`` and the
dashboard: a spend rule's spend in its current period against its amount, an
anomaly rule's last hour against the usual for that hour. A rule on a budget
that cannot be looked up (removed, or not in dollars) is listed with why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from llmtally.alerts.budget_rules import with_budgets
from llmtally.alerts.config import AlertsConfig, AnomalyRule, ReconcileRule, Rule, SpendRule
from llmtally.alerts.evaluate import HOUR, period_window, usual_spend
from llmtally.alerts.service import merged_rules
from llmtally.alerts.spend import scope_spend
from llmtally.alerts.store import AlertStore
from llmtally.ledger.store import Store

__all__ = ["RuleStatus", "rule_statuses"]


@dataclass(frozen=True, slots=True)
class RuleStatus:
    rule: Rule
    source: str  # config | ledger
    spend: Decimal  # in the current period (spend rules) or the last hour (anomalies)
    used: Decimal | None  # spend / amount (spend rules)
    usual: Decimal | None  # the usual spend for the last hour (anomalies)
    problem: str | None = None  # why a budget rule is not evaluated

    @property
    def kind(self) -> str:
        return self.rule.kind


def _status(store: Store, rule: Rule, source: str, now: dt.datetime) -> RuleStatus:
    if isinstance(rule, SpendRule):
        period, amount = rule.limit()
        start, end = period_window(period, now)
        spent = scope_spend(store, rule.scope, start, end)
        return RuleStatus(rule, source, spent, spent / amount, None)
    if isinstance(rule, ReconcileRule):  # shown by `llmtally reconcile`, not priced here
        return RuleStatus(rule, source, Decimal(0), None, None)
    assert isinstance(rule, AnomalyRule)
    spent = scope_spend(store, rule.scope, now - HOUR, now)
    return RuleStatus(rule, source, spent, None, usual_spend(store, rule, now))


def rule_statuses(store: Store, config: AlertsConfig, now: dt.datetime) -> list[RuleStatus]:
    """Every rule (the config's, then the ledger's not shadowed by one), with its spend now."""
    merged, _ = merged_rules(config, AlertStore(store).rules())
    names = {rule.name for rule in config.all_rules()}
    resolved, problems = with_budgets(store, merged)
    found = {rule.name: rule for rule in resolved}
    statuses = []
    for rule in merged:
        source = "config" if rule.name in names else "ledger"
        if rule.name in problems:
            statuses.append(RuleStatus(rule, source, Decimal(0), None, None, problems[rule.name]))
        else:
            statuses.append(_status(store, found[rule.name], source, now))
    return statuses
