"""Repeated requests per cell, as the ledger sums them when calls are written
(``rollup_repeat_day``, ``ledger/advice_repeat.py``: a response cache keeping
entries one hour), and a few of them to show.

``repeat_cells``: per cell of the period, the calls the cache would answer (their
summed usage) and the identical requests sent after their window ended.
``repeat_sample``: the first answered calls of a (feature, provider, model), found
among its first calls of the period in time order (the feature index reads them
and stops), with whether their stored bodies ask for temperature 0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from llmtally.advisor.cells import KEY_NAMES, NO_FEATURE, day_number, key_of, period_filter
from llmtally.advisor.period import Period
from llmtally.ledger.advice_tables import ADVICE_TABLES, REPEAT_WINDOW_S
from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.ledger.schema import call_bodies, calls
from llmtally.usage import Usage

__all__ = ["RepeatCell", "RepeatSample", "repeat_cells", "repeat_sample"]

_REPEATS = ADVICE_TABLES["rollup_repeat_day"]
_SCAN = 300  # calls of a group read for its sample (its first, in time order)


@dataclass(frozen=True, slots=True)
class RepeatCell:
    cell: int
    repeats: int  # calls a response cache would answer
    late: int  # identical requests sent after their window ended
    usage: Usage  # the answered calls' usage


@dataclass(frozen=True, slots=True)
class RepeatSample:
    call_ids: tuple[str, ...]
    temperature_zero: bool  # every sampled repeat's stored body asks for temperature 0


def repeat_cells(period: Period) -> list[RepeatCell]:
    """Per cell with repeats or late repeats in the period."""
    r = _REPEATS.c
    query = select(_REPEATS).where(
        r.bucket >= day_number(period.since),
        r.bucket < day_number(period.until),
        (r.repeats > 0) | (r.late > 0),
    )
    with period.store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    found = []
    for row in rows:
        counts: dict[str, Any] = {name: int(row[name]) for name in USAGE_COUNTS}
        cell = period.cell_id(key_of({name: row[name] for name in KEY_NAMES}))
        found.append(RepeatCell(cell, int(row["repeats"]), int(row["late"]), Usage(**counts)))
    return found


def _temperature_zero(text: str | None) -> bool:
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("temperature") == 0


def repeat_sample(period: Period, key: tuple[str, str, str], limit: int) -> RepeatSample:
    """Up to ``limit`` answered calls among the group's first calls of the period."""
    feature, provider, model = key
    stored = calls.c.feature.is_(None) if feature == NO_FEATURE else calls.c.feature == feature
    query = (
        select(calls.c.id, calls.c.started_at, calls.c.request_sha256, call_bodies.c.request_body)
        .outerjoin(call_bodies, call_bodies.c.call_id == calls.c.id)
        .where(
            *period_filter(period.since, period.until),
            stored,
            calls.c.provider == provider,
            func.coalesce(calls.c.model_served, calls.c.model_requested) == model,
        )
        .order_by(calls.c.feature, calls.c.started_at)
        .limit(_SCAN)
    )
    with period.store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    window = dt.timedelta(seconds=REPEAT_WINDOW_S)
    opened: dict[str, dt.datetime] = {}
    ids, zero = [], True
    for row in rows:
        text = row["request_body"]
        digest = row["request_sha256"] or (
            hashlib.sha256(text.encode()).hexdigest() if text else None
        )
        if digest is None:
            continue
        started, first = row["started_at"], opened.get(digest)
        if first is not None and started - first < window:
            ids.append(row["id"])
            zero = zero and _temperature_zero(text)
        else:
            opened[digest] = started
        if len(ids) == limit:
            break
    return RepeatSample(tuple(ids), bool(ids) and zero)
