"""A cap per (feature, provider, model), read from the rollups' token histograms
(``rollup_tokens_day``, bins of ``ledger/token_bins.py``), never from the calls:
``trim`` caps history, ``cap_output`` caps output.

- ``group_histograms``: each group's histogram of a metric, summed by the
  database (a few rows per group, however many cells and days).
- ``cells_above``: per cell of the capped groups, the calls above the group's
  cap and their tokens above it (``token_hist.above``'s sums, for a cap at a
  bin edge: every call of a later bin is over it by its tokens minus the cap);
  only the bins above a cap are read, which hold the tail.
- ``longest``: the average of the calls in a histogram's highest bin, a lower
  bound on the longest value (exact when those calls are alike): a histogram
  keeps no maximum, and this one never overstates how far the tail reaches.
- ``ids_above``: the calls a cap would change, as sample calls to look at; the
  one query on ``calls``, run only for a recommendation that is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, select

from llmtally.advisor.cells import KEY_NAMES, NO_FEATURE, day_number, key_of, period_filter
from llmtally.advisor.period import Period
from llmtally.advisor.token_hist import Bin, Histogram
from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.schema import calls
from llmtally.ledger.token_bins import EDGES, bin_of

__all__ = ["GroupKey", "cells_above", "group_histograms", "ids_above", "longest"]

GroupKey = tuple[str, str, str]  # feature, provider, model

_TOKENS = ADVICE_TABLES["rollup_tokens_day"]
_GROUP = (_TOKENS.c.feature, _TOKENS.c.provider, _TOKENS.c.model)
_EDGES = frozenset(EDGES)
_MANY_FEATURES = 500  # above this many, the tail query reads every feature's bins


def _of_period(period: Period, metric: str) -> list[ColumnElement[bool]]:
    return [
        _TOKENS.c.metric == metric,
        _TOKENS.c.bucket >= day_number(period.since),
        _TOKENS.c.bucket < day_number(period.until),
    ]


def group_histograms(period: Period, metric: str) -> dict[GroupKey, Histogram]:
    """Per (feature, provider, model) with calls: the histogram of ``metric``
    (output, reasoning or history) over the period."""
    query = (
        select(*_GROUP, _TOKENS.c.bin, func.sum(_TOKENS.c.calls), func.sum(_TOKENS.c.tokens))
        .where(*_of_period(period, metric))
        .group_by(*_GROUP, _TOKENS.c.bin)
        .order_by(*_GROUP, _TOKENS.c.bin)
    )
    found: dict[GroupKey, list[Bin]] = defaultdict(list)
    with period.store.engine.connect() as conn:
        for feature, provider, model, bin_no, count, tokens in conn.execute(query):
            if count:
                found[(feature, provider, model)].append(Bin(int(bin_no), int(count), int(tokens)))
    return {key: tuple(bins) for key, bins in found.items()}


def cells_above(
    period: Period, metric: str, caps: Mapping[GroupKey, int]
) -> dict[int, tuple[int, int]]:
    """Per cell of a group in ``caps`` (each cap a bin edge): (calls above the
    group's cap, their ``metric`` tokens above it); cells with none are left out."""
    if not caps:
        return {}
    cap_bins = {key: bin_of(cap) for key, cap in caps.items()}
    if any(cap not in _EDGES for cap in caps.values()):
        raise ValueError("a histogram cap must be a bin edge (ledger/token_bins.py EDGES)")
    features = sorted({key[0] for key in caps})
    wanted = [_TOKENS.c.feature.in_(features)] if len(features) <= _MANY_FEATURES else []
    query = select(
        *(_TOKENS.c[name] for name in KEY_NAMES), _TOKENS.c.bin, _TOKENS.c.calls, _TOKENS.c.tokens
    ).where(*_of_period(period, metric), _TOKENS.c.bin > min(cap_bins.values()), *wanted)
    found: dict[int, tuple[int, int]] = {}
    with period.store.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            key = (row["feature"], row["provider"], row["model"])
            if key not in caps or row["bin"] <= cap_bins[key]:
                continue
            cell = period.cell_id(key_of(row))
            count, tokens = found.get(cell, (0, 0))
            found[cell] = (count + row["calls"], tokens + row["tokens"] - row["calls"] * caps[key])
    return {cell: sums for cell, sums in found.items() if sums[0]}


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
