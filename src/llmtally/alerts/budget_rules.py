"""Alert rules on a budget: ``budget: <id>`` (``llmtally alerts add --budget``)
takes that budget's scope (a key, a team, a user, a feature or a tag), amount
and period, so its 50/80/100% alerts come before the budget refuses calls.

Only dollar budgets over a day, week, month or all time can be watched: a
request or token budget is not spend, and a per-minute one is a rate limit.
A rule is looked up again at every evaluation (budgets are added and removed
while gateways run); spend is what the ledger recorded, never the budget's
reservations.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from llmtally.alerts.config import PERIODS, Rule, Scope, SpendRule
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.rules import Budget
from llmtally.ledger.store import Store

__all__ = ["BudgetRuleError", "check_budget_rules", "on_budget", "with_budgets"]


class BudgetRuleError(ValueError):
    """A rule whose budget is missing or cannot be watched (the message says why)."""


def on_budget(rule: SpendRule, budget: Budget | None) -> SpendRule:
    """``rule`` with ``budget``'s scope, amount and period (it keeps ``budget``,
    so it still says what it watches)."""
    name = f"alert rule {rule.name!r}"
    if budget is None:
        raise BudgetRuleError(f"{name}: no budget {rule.budget!r} (see llmtally budgets list)")
    if budget.metric != "usd":
        raise BudgetRuleError(
            f"{name}: budget {budget.id!r} is {budget.describe()}: alerts watch dollars, "
            "so name a usd budget"
        )
    if budget.period not in PERIODS:
        raise BudgetRuleError(
            f"{name}: budget {budget.id!r} is {budget.describe()} (a rate limit): alerts "
            f"watch a {', '.join(PERIODS[:-1])} or {PERIODS[-1]} budget"
        )
    if budget.currency != "USD" and budget.rate is None:
        raise BudgetRuleError(
            f"{name}: budget {budget.id!r} is in {budget.currency} and its limit has no "
            "exchange rate for its window (see llmtally budgets list)"
        )
    scope = Scope.model_validate({budget.scope: budget.subject})
    amount = Decimal(f"{budget.amount.normalize():f}")  # 1.5, not the ledger's 1.5000000000
    change: dict[str, object] = {"scope": scope, "period": budget.period, "amount_usd": amount}
    if budget.rate is not None and budget.currency != "USD":  # alerts name its currency
        from llmtally.analytics.shown import rate_text  # the rate for reading: 6 digits

        rate = budget.rate
        day = rate.rate_date.isoformat()
        change["shown_currency"], change["shown_rate"] = budget.currency, rate.rate
        change["shown_rate_note"] = f"{rate_text(rate.rate)} per USD ({day}, {rate.source})"
    return rule.model_copy(update=change)


def _budget_ids(rules: Sequence[Rule]) -> set[str]:
    return {r.budget for r in rules if isinstance(r, SpendRule) and r.budget is not None}


def with_budgets(store: Store, rules: Sequence[Rule]) -> tuple[list[Rule], dict[str, str]]:
    """The rules with each budget rule's scope, amount and period filled in from
    the ledger; and, by name, the budget rules that cannot be (with why)."""
    if not _budget_ids(rules):
        return list(rules), {}
    budgets = {budget.id: budget for budget in BudgetBook(store).all()}
    found: list[Rule] = []
    problems: dict[str, str] = {}
    for rule in rules:
        if not isinstance(rule, SpendRule) or rule.budget is None:
            found.append(rule)
            continue
        try:
            found.append(on_budget(rule, budgets.get(rule.budget)))
        except BudgetRuleError as exc:
            problems[rule.name] = str(exc)
    return found, problems


def check_budget_rules(store: Store, rules: Sequence[Rule]) -> list[Rule]:
    """``with_budgets``, raising ``BudgetRuleError`` for the first rule that fails."""
    found, problems = with_budgets(store, rules)
    for problem in problems.values():
        raise BudgetRuleError(problem)
    return found
