"""Price explainers for reconciliation: why the ledger's dollars differ from the bill
when the provider counted the same tokens.

Order (each sees only what the ones before left, so nothing is counted twice):
1. :func:`explain_tiers`: tokens billed at another service tier (batch, flex,
   priority) than the ledger priced them at;
2. :func:`explain_cache_ttl`: cache writes billed 1h that the ledger priced 5m
   (or back);
3. :func:`explain_drift`: what is left, consistent from a day to the period's
   end, is a rate the catalog lacks;
4. :func:`explain_rounding`: under a cent a day x model.
Classification comes before drift, or a batch discount would read as a price
cut; rounding comes last, as it takes whatever small amount is left.

The compare core calls :func:`explain_prices` with one :class:`DayFigures` per
day x provider x model, after its own unrecorded / not-billed explanations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmtally.reconcile.explain_drift import MIN_DRIFT_DAYS, RATE_TOLERANCE, explain_drift
from llmtally.reconcile.explain_override import ProposedEntry, propose_entry, write_proposal
from llmtally.reconcile.explain_tiers import (
    ROUNDING_LIMIT,
    explain_cache_ttl,
    explain_rounding,
    explain_tiers,
)
from llmtally.reconcile.explain_types import (
    KINDS,
    TOKEN_TOLERANCE,
    DayFigures,
    DriftRates,
    Explained,
    Explanation,
    Tokens,
    line_kind,
)

__all__ = [
    "EXPLAINERS",
    "KINDS",
    "MIN_DRIFT_DAYS",
    "RATE_TOLERANCE",
    "ROUNDING_LIMIT",
    "TOKEN_TOLERANCE",
    "DayFigures",
    "DriftRates",
    "Explained",
    "Explanation",
    "ProposedEntry",
    "Tokens",
    "explain_cache_ttl",
    "explain_drift",
    "explain_prices",
    "explain_rounding",
    "explain_tiers",
    "line_kind",
    "propose_entry",
    "write_proposal",
]

Explainer = Callable[[Sequence[DayFigures]], Explained]
EXPLAINERS: tuple[Explainer, ...] = (
    explain_tiers,
    explain_cache_ttl,
    explain_drift,
    explain_rounding,
)


def explain_prices(rows: Sequence[DayFigures]) -> Explained:
    """Every price explanation, in :data:`EXPLAINERS` order, and what none explained
    (``residual``: the rows with each explained amount applied to the ledger side,
    so ``row.gap`` is what is left)."""
    found: list[Explanation] = []
    left = tuple(rows)
    for explainer in EXPLAINERS:
        step = explainer(left)
        found.extend(step.explanations)
        left = step.residual
    return Explained(tuple(found), left)
