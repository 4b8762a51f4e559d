"""The alert evaluator: one pass (``llmtally alerts check``), or a background
thread in ``llmtally serve`` that evaluates every ``interval_s`` and delivers
due webhooks in between.

Rules come from the config file and from the ledger (``llmtally alerts add``);
a ledger rule with the name of a config rule is left out (the config wins, and
the log says so once). A rule on a budget takes the budget's scope, amount and
period at each pass; a config rule whose budget is missing or not in dollars
stops the service from being made (``BudgetRuleError``), a ledger rule whose
budget was removed since is left out, and the log says so once. Any number of
evaluators may run on one ledger: each alert is claimed once
(``AlertStore.claim``), each attempt too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from llmtally.alerts.budget_rules import check_budget_rules, with_budgets
from llmtally.alerts.config import AlertsConfig, AnomalyRule, ReconcileRule, Rule, SpendRule
from llmtally.alerts.deliver import Deliverer, Sent, target_of
from llmtally.alerts.evaluate import anomaly_finding, spend_findings
from llmtally.alerts.findings import Finding
from llmtally.alerts.reconcile_rules import reconcile_findings
from llmtally.alerts.store import AlertStore, FiredAlert
from llmtally.alerts.webhooks import Sender, post_json
from llmtally.catalog import Catalog
from llmtally.ledger.store import Store

__all__ = ["AlertService", "CheckResult", "merged_rules"]

log = logging.getLogger(__name__)
MIN_WAIT_S = 0.05


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class CheckResult:
    fired: list[FiredAlert] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)


def merged_rules(config: AlertsConfig, stored: list[Rule]) -> tuple[list[Rule], list[str]]:
    """The config's rules, then the ledger's whose names the config does not
    use; and the names of the ledger rules left out."""
    names = {rule.name for rule in config.all_rules()}
    kept = [rule for rule in stored if rule.name not in names]
    shadowed = [rule.name for rule in stored if rule.name in names]
    return [*config.all_rules(), *kept], shadowed


class AlertService:
    """Evaluates the rules of ``config`` and the ledger, and delivers the alerts."""

    def __init__(
        self,
        store: Store,
        config: AlertsConfig,
        clock: Callable[[], dt.datetime] = _utc_now,
        sender: Sender = post_json,
        environ: Mapping[str, str] = os.environ,
        catalog: Catalog | None = None,
    ) -> None:
        self.alerts = AlertStore(store)
        self.catalog = catalog  # reconcile rules price with it (default: the configured one)
        self.store, self.config, self.clock, self.environ = store, config, clock, environ
        self.deliverer = Deliverer(self.alerts, config, clock, sender, environ)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        check_budget_rules(store, config.rules)

    def rules(self) -> list[Rule]:
        """Every rule to evaluate now, a budget rule with its budget's limits."""
        merged, shadowed = merged_rules(self.config, self.alerts.rules())
        for name in shadowed:
            self._warn(f"alert rule {name!r} is in the config and the ledger: the config's")
        found, problems = with_budgets(self.store, merged)
        for problem in problems.values():
            self._warn(f"{problem}; the rule is left out")
        return found

    def _catalog(self) -> Catalog:
        if self.catalog is None:
            from llmtally.config import open_catalog

            self.catalog = open_catalog()
        return self.catalog

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    def evaluate(self) -> list[FiredAlert]:
        """Check every rule now; the alerts this call claimed."""
        now = self.clock()
        fired: list[FiredAlert] = []
        for rule in self.rules():
            for alert_id in self._claim(self._findings(rule, now), now):
                found = self.alerts.get(alert_id)
                if found is not None:
                    fired.append(found)
        return fired

    def _findings(self, rule: Rule, now: dt.datetime) -> list[Finding]:
        if isinstance(rule, SpendRule):
            found = spend_findings(self.store, rule, now)
            return [f for f in found if not self.alerts.taken(f.key)]
        if isinstance(rule, ReconcileRule):
            found = reconcile_findings(self.store, self._catalog(), rule, now)
            return [f for f in found if not self.alerts.taken(f.key)]
        assert isinstance(rule, AnomalyRule)
        spike = anomaly_finding(self.store, rule, now, self.alerts.taken)
        return [] if spike is None else [spike]

    def _claim(self, found: list[Finding], now: dt.datetime) -> list[str]:
        if not found:
            return []
        targets = [self._targets(f) for f in found]
        return [i for i in self.alerts.claim(found, targets, now) if i is not None]

    def _targets(self, found: Finding) -> dict[str, str]:
        names = found.webhooks if found.webhooks is not None else tuple(self.config.webhooks)
        return {name: target_of(self.config, name, self.environ) for name in names}

    def check(self) -> CheckResult:
        """One pass: evaluate, then deliver what is due (the alerts just fired too)."""
        fired = self.evaluate()
        return CheckResult(fired, self.deliverer.run_due())

    # -- the background thread ------------------------------------------------

    def start(self) -> AlertService:
        self._thread = threading.Thread(target=self._loop, name="llmtally-alerts", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        next_check = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.config.interval_s
                self._safely(self.evaluate)
            self._safely(self.deliverer.run_due)
            self._stop.wait(self._wait(next_check))

    def _wait(self, next_check: float) -> float:
        wait = next_check - time.monotonic()
        try:
            due = self.alerts.next_due()
        except SQLAlchemyError:
            due = None
        if due is not None:
            wait = min(wait, (due - self.clock()).total_seconds())
        return max(wait, MIN_WAIT_S)

    def _safely(self, step: Callable[[], object]) -> None:
        try:
            step()
        except SQLAlchemyError as exc:  # its text holds SQL and parameters: never logged
            log.warning(
                "alerts: the ledger is not answering (%s); trying again in %.0f s",
                type(exc).__name__,
                self.config.interval_s,
            )
        except Exception:
            log.exception("alerts: evaluation failed")
