"""The SQL behind realised savings: sums and GROUP BYs over ``calls``, never a
Python object per call, so that measuring stays fast on a ledger of millions.

- :func:`daily_mix`: calls per (feature, provider, model, tier, UTC day), what
  change detection reads (from the advisor's day rollup: no scan of ``calls``).
- :func:`totals`: calls, recorded cost and what caching saved, for one scope.
- :func:`usage_groups`: the summed usage of a scope's calls per (provider, model,
  tier, day, time-of-day slot, long-context bucket, audio length, images), the
  grain at which the meter's per-token prices are exactly additive: within one
  group every call has the same price entry (by day), time-of-day window (by
  slot) and long-context cliff (by bucket), so pricing the sum is pricing each
  call and adding.

Only successful calls (2xx) count, as in the advisor's period. The model of a
call is the one that answered (``model_served``, else the one asked for).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, case, func, literal, select

from llmtally.advisor.grouping import NO_FEATURE
from llmtally.analytics.rollup_query import started_bucket
from llmtally.ledger import Store
from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.ledger.schema import calls
from llmtally.usage import ImageUnits, ServiceTier

__all__ = [
    "DayMix",
    "Scope",
    "Totals",
    "UsageGroup",
    "busiest",
    "daily_mix",
    "totals",
    "usage_groups",
]

_MODEL = func.coalesce(calls.c.model_served, calls.c.model_requested)
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Scope:
    """Some calls of one feature in ``[start, end)``: of one provider and model
    when named, at one of ``tiers`` when given."""

    feature: str
    start: dt.datetime
    end: dt.datetime
    provider: str | None = None
    model: str | None = None
    tiers: tuple[str, ...] | None = None

    def where(self) -> list[ColumnElement[bool]]:
        found = [
            calls.c.started_at >= self.start.astimezone(dt.UTC),
            calls.c.started_at < self.end.astimezone(dt.UTC),
            calls.c.status >= 200,
            calls.c.status < 300,
        ]
        if self.feature == NO_FEATURE:
            found.append(calls.c.feature.is_(None))
        else:
            found.append(calls.c.feature == self.feature)
        if self.provider is not None:
            found.append(calls.c.provider == self.provider)
        if self.model is not None:
            found.append(_MODEL == self.model)
        if self.tiers is not None:
            found.append(calls.c.service_tier.in_(self.tiers))
        return found


@dataclass(frozen=True, slots=True)
class DayMix:
    feature: str
    provider: str
    model: str
    tier: str
    day: dt.date
    calls: int


@dataclass(frozen=True, slots=True)
class Totals:
    """``calls``: every successful call; ``priced``: those with a recorded cost,
    whose costs ``cost`` sums; ``saved_cache``: what caching saved on them."""

    calls: int
    priced: int
    cost: Decimal
    saved_cache: Decimal

    @property
    def per_call(self) -> Decimal | None:
        return None if not self.priced else self.cost / self.priced


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """The summed usage of calls that share every price-deciding fact."""

    provider: str
    model: str
    tier: ServiceTier
    day: dt.date
    slot: int
    min_input: int
    audio_seconds: Decimal | None
    images: tuple[ImageUnits, ...]
    calls: int
    counts: dict[str, int]
    cost: Decimal


def _day(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def daily_mix(store: Store, since: dt.datetime, until: dt.datetime) -> list[DayMix]:
    """Successful calls per (feature, provider, model, tier, UTC day) on the days
    that ``[since, until)`` touches, read from the advisor's day rollup
    (``rollup_advice_day``, kept as calls are written): whole days, so a period
    that starts or ends mid-day counts those days' other calls too."""
    table = ADVICE_TABLES["rollup_advice_day"]
    first = int(since.timestamp()) // 86400
    last = (int(until.timestamp()) - 1) // 86400
    keys = (table.c.feature, table.c.provider, table.c.model, table.c.tier, table.c.bucket)
    query = (
        select(*keys, func.sum(table.c.calls))
        .where(table.c.bucket >= first, table.c.bucket <= last)
        .group_by(*keys)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        DayMix(r[0], r[1], r[2], r[3], _EPOCH + dt.timedelta(days=int(r[4])), int(r[5]))
        for r in rows
    ]


def totals(store: Store, scope: Scope) -> Totals:
    priced = calls.c.cost_total.isnot(None)
    query = select(
        func.count(),
        func.count(calls.c.cost_total),
        func.sum(calls.c.cost_total),
        func.sum(case((priced, calls.c.saved_cache), else_=None)),
    ).where(*scope.where())
    with store.engine.connect() as conn:
        n, n_priced, cost, saved = conn.execute(query).one()
    return Totals(int(n), int(n_priced), cost or Decimal(0), saved or Decimal(0))


def busiest(store: Store, scope: Scope) -> tuple[str, str] | None:
    """The (provider, model) that answered most of the scope's calls."""
    model = _MODEL.label("model")
    query = (
        select(calls.c.provider, model, func.count().label("n"))
        .where(*scope.where())
        .group_by(calls.c.provider, model)
        .order_by(func.count().desc(), calls.c.provider, model)
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else (row[0], row[1])


def _time_of_day(dialect: str) -> ColumnElement[Any]:
    """The call's UTC time of day as ``HH:MM:SS`` text, in SQL."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", calls.c.started_at), "HH24:MI:SS")
    return func.substr(calls.c.started_at, 12, 8)  # SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff'


def _slot(dialect: str, boundaries: Sequence[dt.time]) -> ColumnElement[Any]:
    """How many of the sorted ``boundaries`` the call's time of day is at or past."""
    if not boundaries:
        return literal(0)
    moment = _time_of_day(dialect)
    whens = [(moment < f"{edge:%H:%M:%S}", n) for n, edge in enumerate(boundaries)]
    return case(*whens, else_=len(boundaries))


def _bucket(thresholds: Sequence[int]) -> ColumnElement[Any]:
    """How many of the sorted long-context ``thresholds`` the prompt is above."""
    if not thresholds:
        return literal(0)
    whens = [(calls.c.input_tokens <= above, n) for n, above in enumerate(thresholds)]
    return case(*whens, else_=len(thresholds))


def _images(text: str | None, n: int) -> tuple[ImageUnits, ...]:
    items = json.loads(text or "[]")
    return tuple(ImageUnits(i["n"] * n, i["size"], i.get("quality", "standard")) for i in items)


def usage_groups(
    store: Store, scope: Scope, boundaries: Sequence[dt.time], thresholds: Sequence[int]
) -> list[UsageGroup]:
    """The scope's priced calls summed per price-deciding facts (see the module)."""
    day = started_bucket(store.dialect, False).label("day")
    slot = _slot(store.dialect, boundaries).label("slot")
    bucket = _bucket(thresholds).label("bucket")
    model = _MODEL.label("model")
    keys = (
        calls.c.provider,
        model,
        calls.c.service_tier,
        day,
        slot,
        bucket,
        calls.c.audio_seconds,
        calls.c.images,
    )
    sums = [func.sum(calls.c[name]).label(name) for name in USAGE_COUNTS]
    query = (
        select(
            *keys,
            func.min(calls.c.input_tokens),
            func.count(),
            func.sum(calls.c.cost_total),
            *sums,
        )
        .where(and_(*scope.where(), calls.c.cost_total.isnot(None)))
        .group_by(*keys)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    found = []
    for row in rows:
        n = int(row[9])
        found.append(
            UsageGroup(
                provider=row[0],
                model=row[1],
                tier=cast("ServiceTier", row[2]),
                day=_day(row[3]),
                slot=int(row[4]),
                min_input=int(row[8]),
                audio_seconds=row[6],
                images=_images(row[7], n),
                calls=n,
                counts={name: int(row[11 + i]) for i, name in enumerate(USAGE_COUNTS)},
                cost=row[10],
            )
        )
    return found
