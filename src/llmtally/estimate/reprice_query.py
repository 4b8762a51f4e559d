"""The ledger reads behind re-pricing, summed in SQL.

1. ``source_models``: the models that answered in the range, read from the
   hourly rollup table (a superset at hour grain; no scan of ``calls``).
2. ``grouped``: one scan of ``calls``, summed per (provider, model, service
   tier, group key, prompt-size class, kind): one row per group, whatever the
   row count. The size class counts the thresholds (in source tokens) a call's
   prompt is above, so a long-context cliff of any target is decided per call,
   exactly. The kind sets apart the calls left out (no recorded cost; images,
   audio or characters priced per unit) and those converted one by one (a
   usable stored body, or image/audio input tokens).
3. ``each_call``: those calls one by one, with their bodies.

Money sums are exact on both databases (``Fixed``); token sums are integers.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, false, func, literal_column, not_, or_, select
from sqlalchemy.sql import ColumnElement

from llmtally.analytics.ranges import EPOCH
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.ledger.schema import call_bodies, calls

__all__ = [
    "COUNTS",
    "GROUP_KEYS",
    "KINDS",
    "CallRow",
    "Group",
    "SourceModel",
    "each_call",
    "grouped",
    "source_models",
]

# The recorded counts re-pricing reads: every Usage count but characters
# (calls priced per character are left out, not re-priced).
COUNTS = tuple(name for name in USAGE_COUNTS if name != "characters")
_HOUR = dt.timedelta(hours=1)
_MODEL = func.coalesce(calls.c.model_served, calls.c.model_requested)
GROUP_KEYS: dict[str, ColumnElement[Any]] = {
    "feature": calls.c.feature,
    "model": _MODEL,
    "provider": calls.c.provider,
    "user": calls.c.user_id,
    "key": calls.c.key_id,
}


# Kinds of call: summed here, converted one by one, left out (two reasons).
KINDS = ("grouped", "single", "unpriced", "per_unit")


@dataclass(frozen=True, slots=True)
class SourceModel:
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class Group:
    """Calls of one source model, tier, group key, size class and kind, summed."""

    provider: str
    model: str
    tier: str
    key: str | None
    size_class: int
    kind: str
    calls: int
    actual: Decimal
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call converted on its own (a stored body, or image/audio input)."""

    provider: str
    model: str
    tier: str
    key: str | None
    endpoint: str
    actual: Decimal
    counts: dict[str, int]
    request_body: str | None
    response_body: str | None


def _range(since: dt.datetime, until: dt.datetime | None) -> ColumnElement[bool]:
    start = calls.c.started_at >= since.astimezone(dt.UTC)
    if until is None:
        return start
    return and_(start, calls.c.started_at < until.astimezone(dt.UTC))


def _per_unit() -> ColumnElement[bool]:
    return or_(
        calls.c.images.is_not(None), calls.c.audio_seconds.is_not(None), calls.c.characters > 0
    )


def _body_ok() -> ColumnElement[bool]:
    return and_(
        call_bodies.c.request_body.is_not(None),
        call_bodies.c.response_body.is_not(None),
        call_bodies.c.request_truncated == false(),
        call_bodies.c.response_truncated == false(),
    )


_ZERO: ColumnElement[int] = literal_column("0")
_ONE: ColumnElement[int] = literal_column("1")


def _one_by_one() -> ColumnElement[bool]:
    """A call converted on its own: a usable body (joined), or image/audio input."""
    return or_(
        call_bodies.c.call_id.is_not(None),
        calls.c.input_image_tokens > _ZERO,
        calls.c.input_audio_tokens > _ZERO,
    )


def _joined() -> Any:
    return calls.outerjoin(call_bodies, and_(call_bodies.c.call_id == calls.c.id, _body_ok()))


def source_models(
    conn: Connection, since: dt.datetime, until: dt.datetime | None
) -> list[SourceModel]:
    """Every (provider, model) of the hourly rollups over the hours the range touches."""
    hourly = ROLLUPS["rollup_model_hour"]
    first = (since - EPOCH) // _HOUR
    query = select(hourly.c.provider, hourly.c.model).distinct().where(hourly.c.bucket >= first)
    if until is not None:
        query = query.where(hourly.c.bucket <= (until - EPOCH) // _HOUR)
    return [SourceModel(r.provider, r.model) for r in conn.execute(query)]


def _size_class(thresholds: Sequence[int]) -> ColumnElement[Any]:
    """How many ``thresholds`` a call's prompt is above (literals: one SQL text
    for the SELECT and the GROUP BY, as PostgreSQL requires)."""
    if not thresholds:
        return _ZERO
    steps = [
        case((calls.c.input_tokens > literal_column(str(int(t))), _ONE), else_=_ZERO)
        for t in thresholds
    ]
    return functools.reduce(operator.add, steps)


def grouped(
    conn: Connection,
    since: dt.datetime,
    until: dt.datetime | None,
    by: str,
    thresholds: Sequence[int],
) -> list[Group]:
    """Every call in the range, summed per group (see the module docstring)."""
    key = GROUP_KEYS[by]
    size = _size_class(thresholds)
    sums = [func.coalesce(func.sum(calls.c[name]), _ZERO).label(name) for name in COUNTS]
    kind = case(
        (calls.c.cost_total.is_(None), literal_column("2")),
        (_per_unit(), literal_column("3")),
        (_one_by_one(), _ONE),
        else_=_ZERO,
    )
    query = (
        select(
            calls.c.provider,
            _MODEL.label("model"),
            calls.c.service_tier,
            key.label("key"),
            size.label("size_class"),
            kind.label("kind"),
            func.count().label("calls"),
            func.sum(calls.c.cost_total).label("actual"),
            *sums,
        )
        .select_from(_joined())
        .where(_range(since, until))
        .group_by(calls.c.provider, _MODEL, calls.c.service_tier, key, kind)
    )
    if thresholds:  # a constant is not grouped by (SQL would read it as a column number)
        query = query.group_by(size)
    groups: list[Group] = []
    for r in conn.execute(query):
        counts = {name: int(getattr(r, name)) for name in COUNTS}
        actual = Decimal(0) if r.actual is None else Decimal(r.actual)
        groups.append(
            Group(
                r.provider, r.model, r.service_tier, r.key, int(r.size_class),
                KINDS[int(r.kind)], int(r.calls), actual, counts,
            )
        )  # fmt: skip
    return groups


def each_call(
    conn: Connection, since: dt.datetime, until: dt.datetime | None, by: str
) -> Iterator[CallRow]:
    """The calls :func:`grouped` left out, one by one, with their usable bodies."""
    query = (
        select(
            calls.c.provider,
            _MODEL.label("model"),
            calls.c.service_tier,
            GROUP_KEYS[by].label("key"),
            calls.c.endpoint,
            calls.c.cost_total,
            *[calls.c[name] for name in COUNTS],
            call_bodies.c.request_body,
            call_bodies.c.response_body,
        )
        .select_from(_joined())
        .where(
            _range(since, until),
            calls.c.cost_total.is_not(None),
            not_(_per_unit()),
            _one_by_one(),
        )
        .order_by(calls.c.started_at, calls.c.id)
    )
    for r in conn.execute(query):
        yield CallRow(
            r.provider, r.model, r.service_tier, r.key, r.endpoint, r.cost_total,
            {name: int(getattr(r, name)) for name in COUNTS}, r.request_body, r.response_body,
        )  # fmt: skip
