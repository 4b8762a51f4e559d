"""llmtally's cost beside the cost the calls' producers reported themselves.

A call recorded from an OTel span that carried a cost, or imported from another
tool's history, has ``source_cost``: what that producer said it cost. This
report groups those calls as ``llmtally report`` groups spend and shows both
figures and the difference, so that a producer's pricing mistake (cache writes
counted twice, an old price) is visible.

Read from ``calls`` (the rollups do not sum ``source_cost``) through the
partial index ``ix_calls_source_cost``: only the calls with a reported cost are
read, and a ledger of gateway calls alone (none has one) answers at once.
The comparison covers calls that have both figures; calls with a reported cost
that llmtally could not price are counted apart (``unpriced``) with their
reported sum, never compared with an unknown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select

from llmtally.analytics.ranges import check_range
from llmtally.analytics.report import GROUPS, GroupBy
from llmtally.analytics.report import _key as group_key
from llmtally.analytics.rollup_query import started_in
from llmtally.ledger.schema import calls

if TYPE_CHECKING:
    from llmtally.ledger.store import Store

__all__ = ["SourceCostRow", "source_cost_report", "source_cost_total"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SourceCostRow:
    """One group's calls that carry a reported cost.

    ``calls``, ``cost_total`` (llmtally's) and ``source_cost`` (the producers')
    cover the calls priced by both; ``unpriced`` calls had a reported cost
    (``unpriced_source_cost`` in all) but no llmtally price."""

    key: str | None
    calls: int
    cost_total: Decimal
    source_cost: Decimal
    unpriced: int = 0
    unpriced_source_cost: Decimal = _ZERO

    @property
    def difference(self) -> Decimal:
        """llmtally's cost minus the producers': positive when they reported less."""
        return self.cost_total - self.source_cost

    def __add__(self, other: SourceCostRow) -> SourceCostRow:
        return replace(
            self,
            calls=self.calls + other.calls,
            cost_total=self.cost_total + other.cost_total,
            source_cost=self.source_cost + other.source_cost,
            unpriced=self.unpriced + other.unpriced,
            unpriced_source_cost=self.unpriced_source_cost + other.unpriced_source_cost,
        )


def _sums() -> list[Any]:
    priced = calls.c.cost_total.is_not(None)
    return [
        func.coalesce(func.sum(case((priced, 1), else_=0)), 0).label("calls"),
        func.sum(calls.c.cost_total).label("cost_total"),
        func.sum(case((priced, calls.c.source_cost))).label("source_cost"),
        func.coalesce(func.sum(case((priced, 0), else_=1)), 0).label("unpriced"),
        # the THEN value gives CASE (and SUM) the Fixed type that reads the sum back exactly
        func.sum(case((calls.c.cost_total.is_(None), calls.c.source_cost))).label(
            "unpriced_source"
        ),
    ]


def _row(key: str | None, found: Any) -> SourceCostRow:
    return SourceCostRow(
        key=key,
        calls=int(found.calls),
        cost_total=found.cost_total or _ZERO,
        source_cost=found.source_cost or _ZERO,
        unpriced=int(found.unpriced),
        unpriced_source_cost=found.unpriced_source or _ZERO,
    )


def _merge(rows: Sequence[SourceCostRow]) -> list[SourceCostRow]:
    merged: dict[str | None, SourceCostRow] = {}
    for row in rows:
        found = merged.get(row.key)
        merged[row.key] = row if found is None else found + row
    return list(merged.values())


def _regroup(by: str, rows: list[SourceCostRow]) -> list[SourceCostRow]:
    """Tag rows keyed by the stored JSON list -> one row per tag; days -> weeks."""
    if by == "tag":
        split = []
        for row in rows:
            tags: list[str | None] = list(json.loads(row.key)) if row.key else []
            split += [replace(row, key=tag) for tag in dict.fromkeys(tags or [None])]
        return _merge(split)
    if by == "week":
        weeks = []
        for row in rows:
            day = dt.date.fromisoformat(str(row.key))
            weeks.append(replace(row, key=(day - dt.timedelta(days=day.weekday())).isoformat()))
        return _merge(weeks)
    return rows


def _order(row: SourceCostRow) -> tuple[Decimal, int, bool, str]:
    return (-abs(row.difference), -row.calls, row.key is None, row.key or "")


def source_cost_report(
    store: Store, since: dt.datetime, by: GroupBy, until: dt.datetime | None = None
) -> list[SourceCostRow]:
    """Per ``by`` group, the calls in ``[since, until)`` with a reported cost,
    the largest difference first; empty when no call in the range has one."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUPS)}")
    check_range(since, until)
    span = [(since.astimezone(dt.UTC), until and until.astimezone(dt.UTC))]
    with store.engine.connect() as conn:
        key = group_key("day" if by == "week" else by, conn.dialect.name).label("key")
        query = (
            select(key, *_sums())
            .where(calls.c.source_cost.is_not(None), started_in(span))
            .group_by(key)
        )
        rows = [_row(found.key, found) for found in conn.execute(query)]
    return sorted(_regroup(by, rows), key=_order)


def source_cost_total(
    store: Store, since: dt.datetime, until: dt.datetime | None = None
) -> SourceCostRow | None:
    """Every call in ``[since, until)`` with a reported cost as one row keyed
    ``"total"``; None when there is none."""
    check_range(since, until)
    span = [(since.astimezone(dt.UTC), until and until.astimezone(dt.UTC))]
    query = select(*_sums()).where(calls.c.source_cost.is_not(None), started_in(span))
    with store.engine.connect() as conn:
        found = conn.execute(query).one()
    total = _row("total", found)
    return total if total.calls or total.unpriced else None
