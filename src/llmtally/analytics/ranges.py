"""A time range as the rollups cut it: whole days from the day tables, whole
hours at the edges from the hour tables, the minutes left at either end from
``calls`` itself. Every instant of ``[since, until)`` is in exactly one part.

Buckets are whole hours (or days) since the Unix epoch, UTC, as in
``llmtally.ledger.rollup_tables``; ``None`` as an upper end means "no end".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = ["EPOCH", "Plan", "bucket_start", "check_range", "plan_range"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HOUR = dt.timedelta(hours=1)
_HOURS_PER_DAY = 24

BucketRange = tuple[int, int | None]
TimeRange = tuple[dt.datetime, dt.datetime | None]


@dataclass(frozen=True, slots=True)
class Plan:
    """Where each part of a range is read from."""

    raw: list[TimeRange] = field(default_factory=list)
    hour: list[BucketRange] = field(default_factory=list)
    day: list[BucketRange] = field(default_factory=list)


def check_range(since: dt.datetime, until: dt.datetime | None) -> None:
    """ValueError for a naive moment or an empty range."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. UTC), got {moment}")
    if until is not None and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")


def bucket_start(bucket: int, grain: str) -> dt.datetime:
    """The first instant of an hour or day bucket."""
    hours = bucket * (_HOURS_PER_DAY if grain == "day" else 1)
    return EPOCH + hours * _HOUR


def _hours_floor(moment: dt.datetime) -> int:
    return (moment - EPOCH) // _HOUR


def _hours_ceil(moment: dt.datetime) -> int:
    return -((EPOCH - moment) // _HOUR)


def _split_hours(first: int, last: int | None) -> tuple[list[BucketRange], list[BucketRange]]:
    """Hours ``[first, last)`` as (hour ranges, day ranges)."""
    day0 = -(-first // _HOURS_PER_DAY)
    day1 = None if last is None else last // _HOURS_PER_DAY
    if day1 is not None and day0 >= day1:
        return [(first, last)], []
    hours: list[BucketRange] = []
    if first < day0 * _HOURS_PER_DAY:
        hours.append((first, day0 * _HOURS_PER_DAY))
    if day1 is not None and last is not None and last > day1 * _HOURS_PER_DAY:
        hours.append((day1 * _HOURS_PER_DAY, last))
    return hours, [(day0, day1)]


def plan_range(since: dt.datetime, until: dt.datetime | None, days: bool = True) -> Plan:
    """How to read ``[since, until)``; ``days=False`` keeps to hour buckets
    (for results grouped by hour)."""
    check_range(since, until)
    first = _hours_ceil(since)
    last = None if until is None else _hours_floor(until)
    if last is not None and first >= last:
        return Plan(raw=[(since, until)])
    raw: list[TimeRange] = []
    if since < EPOCH + first * _HOUR:
        raw.append((since, EPOCH + first * _HOUR))
    if until is not None and last is not None and until > EPOCH + last * _HOUR:
        raw.append((EPOCH + last * _HOUR, until))
    if not days:
        return Plan(raw=raw, hour=[(first, last)])
    hours, whole_days = _split_hours(first, last)
    return Plan(raw=raw, hour=hours, day=whole_days)
