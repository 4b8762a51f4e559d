"""Sample calls for a recommendation's evidence: the first calls of the period at
the place it names (feature, provider, model), read by the ledger's feature index."""

from __future__ import annotations

from sqlalchemy import func, select

from llmtally.advisor.cells import NO_FEATURE, period_filter
from llmtally.advisor.period import Period
from llmtally.ledger.schema import calls

__all__ = ["sample_ids"]


def sample_ids(period: Period, where: dict[str, str], limit: int) -> tuple[str, ...]:
    """Up to ``limit`` ids of the period's calls at ``where``, oldest first."""
    feature = where.get("feature")
    conditions = period_filter(period.since, period.until)
    if feature == NO_FEATURE:
        conditions.append(calls.c.feature.is_(None))
    elif feature is not None:
        conditions.append(calls.c.feature == feature)
    if "provider" in where:
        conditions.append(calls.c.provider == where["provider"])
    if "model" in where:
        model = func.coalesce(calls.c.model_served, calls.c.model_requested)
        conditions.append(model == where["model"])
    # by (feature, started_at): ix_calls_feature reads the feature's calls in time
    # order and the query stops at the limit-th
    query = select(calls.c.id).where(*conditions).order_by(calls.c.feature, calls.c.started_at)
    with period.store.engine.connect() as conn:
        return tuple(conn.execute(query.limit(limit)).scalars())
