"""Where each alert rule stands now, for ``llmtally alerts list`` and the
dashboard: a spend rule's spend in its current period against its amount, an
anomaly rule's last hour against the usual for that hour."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from llmtally.alerts.config import AlertsConfig, AnomalyRule, Rule, SpendRule
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

    @property
    def kind(self) -> str:
        return self.rule.kind


def _status(store: Store, rule: Rule, source: str, now: dt.datetime) -> RuleStatus:
    if isinstance(rule, SpendRule):
        start, end = period_window(rule.period, now)
        spent = scope_spend(store, rule.scope, start, end)
        return RuleStatus(rule, source, spent, spent / rule.amount_usd, None)
    assert isinstance(rule, AnomalyRule)
    spent = scope_spend(store, rule.scope, now - HOUR, now)
    return RuleStatus(rule, source, spent, None, usual_spend(store, rule, now))


def rule_statuses(store: Store, config: AlertsConfig, now: dt.datetime) -> list[RuleStatus]:
    """Every rule (the config's, then the ledger's not shadowed by one), with its spend now."""
    rules, _ = merged_rules(config, AlertStore(store).rules())
    names = {rule.name for rule in config.all_rules()}
    return [
        _status(store, rule, "config" if rule.name in names else "ledger", now) for rule in rules
    ]
