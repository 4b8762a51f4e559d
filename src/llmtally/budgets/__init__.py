"""Budgets and rate limits: what they are, their counters, a request's worst case."""

from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters
from llmtally.budgets.rules import Budget, BudgetError, Subject

__all__ = ["Budget", "BudgetBook", "BudgetCounters", "BudgetError", "Subject"]
