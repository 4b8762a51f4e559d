"""A cap per (feature, provider, model), read from the rollups' token histograms
(``llmtally.advisor.token_hist``), never from the calls: ``trim`` caps history,
``cap_output`` caps output.

- ``group_histograms``: each group's histogram, its cells' merged.
- ``longest``: the average of the calls in a histogram's highest bin, a lower
  bound on the longest value (exact when those calls are alike): a histogram
  keeps no maximum, and this one never overstates how far the tail reaches.
- ``ids_above``: the calls a cap would change, as sample calls to look at; the
  one query on ``calls``, run only for a recommendation that is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, select

from llmtally.advisor.cells import NO_FEATURE, Cell, period_filter
from llmtally.advisor.period import Period
from llmtally.advisor.token_hist import Histogram, merged
from llmtally.ledger.schema import calls

__all__ = ["GroupKey", "group_histograms", "ids_above", "longest"]

GroupKey = tuple[str, str, str]  # feature, provider, model


def group_histograms(
    groups: Mapping[GroupKey, Iterable[Cell]], per_cell: Mapping[int, Histogram]
) -> dict[GroupKey, Histogram]:
    """Per group with any call in ``per_cell``: its cells' histograms merged."""
    found = {}
    for key, cells in groups.items():
        hist = merged(per_cell[cell.id] for cell in cells if cell.id in per_cell)
        if hist:
            found[key] = hist
    return found


def longest(hist: Histogram) -> int:
    """The average of the calls in the highest non-empty bin (whole tokens, rounded
    down); 0 for no calls."""
    top = next((item for item in reversed(hist) if item.calls), None)
    return 0 if top is None else top.tokens // top.calls


def ids_above(
    period: Period, key: GroupKey, value: ColumnElement[Any], cap: int, limit: int
) -> tuple[str, ...]:
    """Up to ``limit`` ids of the period's calls of group ``key`` whose ``value`` is
    above ``cap``, the first in time: the calls a cap would change, to look at.
    The feature is matched as stored (``ix_calls_feature`` finds its calls in time
    order, so the query stops at the ``limit``-th, not after the whole group)."""
    feature, provider, model = key
    stored = calls.c.feature.is_(None) if feature == NO_FEATURE else calls.c.feature == feature
    served = func.coalesce(calls.c.model_served, calls.c.model_requested)
    query = (
        select(calls.c.id)
        .where(
            *period_filter(period.since, period.until),
            stored,
            calls.c.provider == provider,
            served == model,
            value > cap,
        )
        .order_by(calls.c.feature, calls.c.started_at)
        .limit(limit)
    )
    with period.store.engine.connect() as conn:
        return tuple(conn.execute(query).scalars())
